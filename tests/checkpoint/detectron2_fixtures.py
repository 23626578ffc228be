"""Shared helpers for the Detectron2 converter tests: the fixture folder, and the shipped
configs/Pretrained configs narrowed to the fixtures' widths (../shared/fixtures/detectron2/README.md)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

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
