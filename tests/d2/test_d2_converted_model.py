"""A Detectron2 checkpoint computes the same numbers in Detectron2 and, converted, in the toolkit.

Both models are built from the same fixture (../shared/fixtures/detectron2/README.md): Detectron2's
from the fixture's ``config.yaml`` through ``get_cfg`` / ``build_model``, with ``model_final.pkl``
loaded by its own ``DetectionCheckpointer`` (the path a zoo download takes); the toolkit's from the
same file through its converter and the narrowed ``configs/Pretrained`` config
(``tests/checkpoint/test_detectron2_zoo.py`` compares the toolkit with the fixture's stored outputs;
here Detectron2 runs live, on the same stored network input). Both run in float32: Detectron2's
inference does not run in float64 (its NMS casts boxes to float32).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("detectron2")

import torch  # noqa: E402
from detectron2.checkpoint import DetectionCheckpointer  # noqa: E402
from detectron2.config import get_cfg  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402

# The fixture helpers live beside the converter tests, which pytest puts on the path only for that folder.
CHECKPOINT_TESTS = str(Path(__file__).resolve().parents[1] / "checkpoint")
if CHECKPOINT_TESTS not in sys.path:
    sys.path.insert(0, CHECKPOINT_TESTS)
from detectron2_fixtures import (  # noqa: E402
    C4_DIR,
    FPN_DIR,
    assert_same_proposals,
    narrow_c4_config,
    narrow_fpn_config,
    requires_fixtures,
    run_model,
)

pytestmark = requires_fixtures

FEATURE_RTOL = 1e-4  # of the largest magnitude of the map: float32 rounding over ~50 layers
BOX_ATOL = 0.01  # px
SCORE_ATOL = 1e-4
MASK_PROB_ATOL = 1e-4

# (fixture, toolkit config, stored images run as one batch). C4 runs 1000 proposals per image through
# res5, seconds each on one thread, so it gets one image.
CASES = {"FPN": (FPN_DIR, narrow_fpn_config, (0, 1, 2)), "C4": (C4_DIR, narrow_c4_config, (0,))}


def run_detectron2(folder: Path, images: tuple[int, ...]) -> dict:
    """Detectron2's model of ``folder/config.yaml`` with ``model_final.pkl``, on the stored inputs.

    Returns ``features`` (name -> (B, C, H, W)), ``proposals`` (per image (P, 4)), ``raw`` (per image
    Instances at the input size, with ``pred_masks`` (N, 1, 28, 28) probabilities) and ``final`` (per
    image Instances at the original size).
    """
    cfg = get_cfg()
    cfg.merge_from_file(str(folder / "config.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg).eval()
    DetectionCheckpointer(model).load(str(folder / "model_final.pkl"))
    reference = np.load(folder / "reference.npz", allow_pickle=False)
    info = json.loads((folder / "reference.json").read_text())
    # Detectron2 takes the stored BGR input as it is; the toolkit's model gets it as RGB (run_model).
    inputs = [{"image": torch.from_numpy(reference[f"img{i}_input_chw"]), "height": info["images"][i]["height"],
               "width": info["images"][i]["width"]} for i in images]
    with torch.no_grad():
        batch = model.preprocess_image(inputs)
        features = model.backbone(batch.tensor)
        proposals, _ = model.proposal_generator(batch, features)
        raw = model.inference(inputs, do_postprocess=False)
        final = [d["instances"] for d in model.inference(inputs)]
    return {"features": features, "proposals": [p.proposal_boxes.tensor for p in proposals], "raw": raw,
            "final": final}


@pytest.fixture(scope="module", params=list(CASES))
def both(request):
    folder, config, images = CASES[request.param]
    return run_detectron2(folder, images), run_model(folder, config(), images)


def test_backbone_features_match(both):
    theirs, ours = both
    assert set(ours["features"]) == set(theirs["features"])
    for name, ref in theirs["features"].items():
        assert ours["features"][name].shape == ref.shape, name
        error = float((ours["features"][name] - ref).abs().max() / ref.abs().max())
        assert error < FEATURE_RTOL, (name, error)


def test_proposals_match(both):
    theirs, ours = both
    for i, (mine, ref) in enumerate(zip(ours["proposals"], theirs["proposals"], strict=True)):
        assert_same_proposals(mine.numpy(), ref.numpy(), atol=BOX_ATOL, label=f"image {i}")


def test_detections_and_mask_probabilities_match(both):
    theirs, ours = both
    pairs = zip(ours["raw"], ours["final"], theirs["raw"], theirs["final"], strict=True)
    for i, (raw, final, ref_raw, ref_final) in enumerate(pairs):
        assert len(final["boxes"]) == len(ref_final) > 0, f"image {i}"
        np.testing.assert_array_equal(final["classes"].numpy(), ref_final.pred_classes.numpy())
        np.testing.assert_allclose(raw["boxes"].numpy(), ref_raw.pred_boxes.tensor.numpy(), rtol=0, atol=BOX_ATOL)
        np.testing.assert_allclose(final["boxes"].numpy(), ref_final.pred_boxes.tensor.numpy(), rtol=0,
                                   atol=BOX_ATOL)
        np.testing.assert_allclose(final["scores"].numpy(), ref_final.scores.numpy(), rtol=0, atol=SCORE_ATOL)
        np.testing.assert_allclose(raw["mask_probs"].numpy(), ref_raw.pred_masks[:, 0].numpy(), rtol=0,
                                   atol=MASK_PROB_ATOL)
