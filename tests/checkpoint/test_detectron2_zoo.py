"""Detectron2 model-zoo weights, converted, compute in the toolkit what they compute in Detectron2.

The references were made by Detectron2 itself (../shared/fixtures/detectron2/README.md): narrow
R-50-FPN and R-50-C4 Mask R-CNNs, their zoo-format .pkl files, and per image the network input, the
backbone features, the RPN proposals, the detections, the mask probabilities and the pasted masks.
"""
from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_util

from detectron2_fixtures import (
    C4_DIR,
    FPN_DIR,
    assert_same_proposals,
    narrow_c4_config,
    narrow_fpn_config,
    requires_fixtures,
    run_model,
)

pytestmark = requires_fixtures

FEATURE_RTOL = 1e-4  # of the largest reference magnitude: float32 rounding over ~50 layers
BOX_ATOL = 0.01  # px
SCORE_ATOL = 1e-4
MASK_PROB_ATOL = 1e-4
MASK_UNION_AGREEMENT = 0.99


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
        assert_same_proposals(proposals.numpy(), reference[f"img{i}_proposals"], atol=BOX_ATOL, label=f"image {i}")


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
