"""Detectron2 model-zoo weights, converted, compute in the toolkit what they compute in Detectron2.

The references were made by Detectron2 itself (../shared/fixtures/detectron2/README.md): narrow
R-50-FPN and R-50-C4 Mask R-CNNs, their zoo-format .pkl files, and per image the network input, the
backbone features, the RPN proposals, the detections, the mask probabilities and the pasted masks.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_util

from maskrcnn_ext.checkpoint import load_model_weights
from maskrcnn_ext.checkpoint.detectron2 import convert_detectron2_model
from maskrcnn_ext.checkpoint.pickle_io import load_array_pickle

from detectron2_fixtures import C4_DIR, FPN_DIR, build, narrow_c4_config, narrow_fpn_config, requires_fixtures, rgb_inputs

pytestmark = requires_fixtures

FEATURE_RTOL = 1e-4  # of the largest reference magnitude: float32 rounding over ~50 layers
BOX_ATOL = 0.01  # px
SCORE_ATOL = 1e-4
MASK_PROB_ATOL = 1e-4
MASK_UNION_AGREEMENT = 0.99


def run_model(folder, model_cfg):
    """Convert the fixture's .pkl, load it into ``model_cfg``, run the stored inputs."""
    reference = np.load(folder / "reference.npz", allow_pickle=False)
    info = json.loads((folder / "reference.json").read_text())
    conversion = convert_detectron2_model(load_array_pickle(folder / "model_final.pkl")["model"])
    model = build(model_cfg)
    report = load_model_weights(model, conversion.state)
    report.require_complete("the Detectron2 comparison")
    assert not report.unexpected
    inputs = rgb_inputs(reference, info)
    with torch.no_grad():
        images = model.preprocess_image(inputs)
        features = model.backbone(images.tensors)
        proposals, _ = model.proposal_generator(images, features)
        raw = [d["instances"] for d in model.inference(inputs, do_postprocess=False)]
        final = [d["instances"] for d in model.inference(inputs)]
    return {"reference": reference, "info": info, "images": images, "features": features,
            "proposals": proposals, "raw": raw, "final": final}


@pytest.fixture(scope="module", params=["FPN", "C4"])
def outputs(request):
    folder, cfg = {"FPN": (FPN_DIR, narrow_fpn_config), "C4": (C4_DIR, narrow_c4_config)}[request.param]
    return run_model(folder, cfg())


def max_feature_error(outputs) -> dict[str, float]:
    """Per feature map, the largest difference relative to the largest reference magnitude."""
    reference = outputs["reference"]
    errors = {}
    for name, value in outputs["features"].items():
        key = f"img0_feature_{name}"
        if key in reference.files:
            ref = reference[key]
            assert value[0].shape == ref.shape, name
            errors[name] = float(np.abs(value[0].numpy() - ref).max() / np.abs(ref).max())
    return errors


def test_padded_batch_and_features_match(outputs):
    assert list(outputs["images"].tensors.shape[-2:]) == outputs["reference"]["padded_batch_hw"].tolist()
    errors = max_feature_error(outputs)
    assert errors and max(errors.values()) < FEATURE_RTOL, errors


def test_proposals_match(outputs):
    """The same proposals in the same order, except neighbours whose logits tie to float rounding."""
    reference = outputs["reference"]
    for i, proposals in enumerate(outputs["proposals"]):
        ref = reference[f"img{i}_proposals"]
        mine = proposals.numpy()
        assert mine.shape == ref.shape
        differs = np.nonzero(np.abs(mine - ref).max(axis=1) > BOX_ATOL)[0]
        assert len(differs) <= 0.01 * len(ref), f"image {i}: {len(differs)} proposals differ"
        for row in differs:  # a swapped near-tie: the box is still there, next to its place
            nearby = mine[max(row - 2, 0): row + 3]
            assert np.abs(nearby - ref[row]).max(axis=1).min() <= BOX_ATOL, f"image {i} proposal {row}"


def test_detections_match(outputs):
    reference = outputs["reference"]
    for i, (raw, final) in enumerate(zip(outputs["raw"], outputs["final"])):
        assert len(final["boxes"]) == outputs["info"]["images"][i]["detections"] == len(reference[f"img{i}_scores"])
        np.testing.assert_array_equal(final["classes"].numpy(), reference[f"img{i}_classes"])
        np.testing.assert_allclose(raw["boxes"].numpy(), reference[f"img{i}_boxes_input_size"], rtol=0, atol=BOX_ATOL)
        np.testing.assert_allclose(final["boxes"].numpy(), reference[f"img{i}_boxes"], rtol=0, atol=BOX_ATOL)
        np.testing.assert_allclose(final["scores"].numpy(), reference[f"img{i}_scores"], rtol=0, atol=SCORE_ATOL)
        np.testing.assert_allclose(raw["mask_probs"].numpy(), reference[f"img{i}_mask_probs"], rtol=0,
                                   atol=MASK_PROB_ATOL)


def test_pasted_masks_match(outputs):
    for i, final in enumerate(outputs["final"]):
        rles = outputs["info"]["images"][i]["masks_rle"]
        ref = np.stack([mask_util.decode({"size": r["size"], "counts": r["counts"].encode()}) for r in rles]).astype(bool)
        mine = final["masks"].numpy()
        assert mine.shape == ref.shape
        union = (mine | ref).sum(axis=(1, 2))
        agree = (mine & ref).sum(axis=(1, 2))
        assert agree.sum() >= MASK_UNION_AGREEMENT * union.sum(), f"image {i}: {agree.sum() / union.sum():.4f}"
        # Each mask alone (masks of a few pixels excepted, where one border pixel is a percent).
        big = union >= 400
        assert (agree[big] >= MASK_UNION_AGREEMENT * union[big]).all(), (agree[big] / union[big]).min()
