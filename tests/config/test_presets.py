"""The small-object preset changes its group of values together and the model still trains."""
from pathlib import Path

import pytest
import torch

from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.config.presets import small_object_preset

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / "configs/Shapes/mask_rcnn_R_18_FPN_tiny.py")


def test_small_object_preset_changes_anchors_proposals_detections_and_mask_size():
    cfg = LazyConfig.load(TINY)
    rpn = cfg.model.proposal_generator
    before = {k: rpn[k] for k in ("pre_nms_topk_train", "post_nms_topk_test")}
    anchors = [[s // 2 for s in level] for level in rpn.anchor_sizes]
    small_object_preset(cfg.model, cfg.dataloader, detections_per_image=150, mask_size=56)
    assert rpn.anchor_sizes == anchors
    assert rpn.pre_nms_topk_train == 2 * before["pre_nms_topk_train"]
    assert rpn.post_nms_topk_test == 2 * before["post_nms_topk_test"]
    assert cfg.model.roi_heads.box_predictor.test_topk_per_image == 150
    assert cfg.dataloader.evaluator.max_dets_per_image == 150
    model = instantiate(cfg.model).eval()
    image = {"image": torch.randint(0, 255, (3, 64, 96), dtype=torch.uint8), "height": 64, "width": 96}
    with torch.no_grad():
        detections = model.inference([image], do_postprocess=False)[0]["instances"]
    assert detections["mask_probs"].shape[1:] == (56, 56)


def test_odd_mask_size_is_refused():
    cfg = LazyConfig.load(TINY)
    with pytest.raises(ValueError, match="even"):
        small_object_preset(cfg.model, cfg.dataloader, mask_size=55)


def test_preset_resizes_an_mlp_mask_head_and_refuses_c4_heads():
    mlp = LazyConfig.load(str(REPO / "projects/MaskRCNN-Ablations/configs/shapes/e_mlp_2fc.py"))
    small_object_preset(mlp.model, mlp.dataloader, mask_size=56)
    assert (mlp.model.roi_heads.mask_head.pooler_resolution, mlp.model.roi_heads.mask_head.mask_size) == (28, 56)
    c4 = LazyConfig.load(str(REPO / "projects/MaskRCNN-Ablations/configs/shapes/a_R_50_C4.py"))
    with pytest.raises(ValueError, match="FPN-style"):
        small_object_preset(c4.model, c4.dataloader)
