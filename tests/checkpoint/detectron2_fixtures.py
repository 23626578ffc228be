"""Shared helpers for the Detectron2 converter tests: the fixture folder, the shipped
configs/Pretrained configs narrowed to the fixtures' widths (../shared/fixtures/detectron2/README.md),
and the converted fixture models run on the stored inputs (also by tests/d2, against a live Detectron2)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from maskrcnn_ext.checkpoint import load_model_weights
from maskrcnn_ext.checkpoint.detectron2 import convert_detectron2_model
from maskrcnn_ext.checkpoint.pickle_io import load_array_pickle
from maskrcnn_ext.config import LazyConfig, instantiate

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO.parent / "shared" / "fixtures" / "detectron2"
FPN_DIR = FIXTURES / "mask_rcnn_R_50_FPN_narrow"
C4_DIR = FIXTURES / "mask_rcnn_R_50_C4_narrow"
MSRA_DIR = FIXTURES / "msra_R_50_narrow"

# The fixtures' narrowing: stem 16 (res2 out 64 ... res5 out 512), FPN 64, box fc 256, mask 64, 3 classes.
STEM, FPN_CHANNELS, BOX_FC, MASK_DIM, NUM_CLASSES = 16, 64, 256, 64, 3

requires_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"no Detectron2 fixtures at {FIXTURES}")


def narrow_fpn_config():
    """configs/Pretrained/mask_rcnn_R_50_FPN_detectron2.py at the fixture's widths (lazy model config)."""
    model = LazyConfig.load(str(REPO / "configs/Pretrained/mask_rcnn_R_50_FPN_detectron2.py")).model
    model.backbone.bottom_up.width = STEM
    model.backbone.out_channels = FPN_CHANNELS
    model.roi_heads.box_head.fc_dims = [BOX_FC, BOX_FC]
    model.roi_heads.mask_head.conv_dims = [MASK_DIM] * 4
    model.roi_heads.num_classes = NUM_CLASSES
    return model


def narrow_c4_config():
    """configs/Pretrained/mask_rcnn_R_50_C4_detectron2.py at the fixture's widths (lazy model config)."""
    model = LazyConfig.load(str(REPO / "configs/Pretrained/mask_rcnn_R_50_C4_detectron2.py")).model
    model.backbone.width = STEM
    model.proposal_generator.in_channels = STEM * 16  # res4
    model.roi_heads.box_predictor.input_dim = STEM * 32  # res5
    model.roi_heads.mask_head.deconv_dim = MASK_DIM
    model.roi_heads.num_classes = NUM_CLASSES
    return model


def build(model_cfg, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    torch.manual_seed(0)
    return instantiate(model_cfg).to(dtype).eval()


def rgb_inputs(reference: np.lib.npyio.NpzFile, info: dict) -> list[dict]:
    """The stored network inputs (BGR uint8) as the toolkit's RGB model inputs with original sizes."""
    return [{"image": torch.from_numpy(reference[f"img{i}_input_chw"][::-1].copy()),
             "height": image["height"], "width": image["width"], "image_id": i}
            for i, image in enumerate(info["images"])]


def run_model(folder: Path, model_cfg, images: Sequence[int] | None = None) -> dict:
    """Convert the fixture's .pkl, load it into ``model_cfg``, run the stored inputs.

    Args:
        folder: a fixture model folder (``FPN_DIR``, ``C4_DIR``).
        model_cfg: the toolkit's lazy model config matching it (``narrow_fpn_config()``...).
        images: indices of the stored images to run as one batch; None: all of them.

    Returns:
        ``reference`` (the npz) and ``info`` (the JSON); ``images`` (the padded batch), ``features``
        (name -> (B, C, H, W)), ``proposals`` (per image (P, 4), input coordinates), ``raw`` (per image
        detections at the input size, with ``mask_probs``) and ``final`` (at the original size).
    """
    reference = np.load(folder / "reference.npz", allow_pickle=False)
    info = json.loads((folder / "reference.json").read_text())
    conversion = convert_detectron2_model(load_array_pickle(folder / "model_final.pkl")["model"])
    model = build(model_cfg)
    report = load_model_weights(model, conversion.state)
    report.require_complete("the Detectron2 comparison")
    assert not report.unexpected
    inputs = rgb_inputs(reference, info)
    inputs = inputs if images is None else [inputs[i] for i in images]
    with torch.no_grad():
        batch = model.preprocess_image(inputs)
        features = model.backbone(batch.tensors)
        proposals, _ = model.proposal_generator(batch, features)
        raw = [d["instances"] for d in model.inference(inputs, do_postprocess=False)]
        final = [d["instances"] for d in model.inference(inputs)]
    return {"reference": reference, "info": info, "images": batch, "features": features,
            "proposals": proposals, "raw": raw, "final": final}


def assert_same_proposals(mine: np.ndarray, ref: np.ndarray, *, atol: float, label: str = "") -> None:
    """The same (P, 4) proposals in the same order, except neighbours whose logits tie to float
    rounding: at most 1% of rows may differ, and each such box must sit within two places of its own."""
    assert mine.shape == ref.shape, label
    differs = np.nonzero(np.abs(mine - ref).max(axis=1) > atol)[0]
    assert len(differs) <= 0.01 * len(ref), f"{label}: {len(differs)} proposals differ"
    for row in differs:  # a swapped near-tie: the box is still there, next to its place
        nearby = mine[max(row - 2, 0): row + 3]
        assert np.abs(nearby - ref[row]).max(axis=1).min() <= atol, f"{label} proposal {row}"
