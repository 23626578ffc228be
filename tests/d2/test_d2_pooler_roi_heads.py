"""yacs POOLER_TYPE keys selecting ExtROIPooler's types through ExtPoolerROIHeads / ExtPoolerRes5ROIHeads
(and the mask-scoring heads built on them); detectron2's own types stay detectron2's ROIPooler."""
import pytest

pytest.importorskip("detectron2")

import torch
from detectron2 import model_zoo
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_roi_heads
from detectron2.modeling.poolers import ROIPooler
from detectron2.structures import Boxes, Instances

from maskrcnn_ext.d2 import ExtPoolerRes5ROIHeads, ExtPoolerROIHeads, ExtROIPooler, add_maskrcnn_ext_config

FPN_SHAPES = {f"p{k}": ShapeSpec(channels=8, stride=2 ** k) for k in range(2, 7)}
SCALES = [1 / 4, 1 / 8, 1 / 16, 1 / 32]
BOXES = [Boxes(torch.tensor([[10.0, 10.0, 40.0, 50.0], [20.0, 30.0, 170.0, 180.0], [3.0, 3.0, 253.0, 250.0]]))]


def fpn_cfg(name: str = "ExtPoolerROIHeads", yaml: str = "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml"):
    cfg = add_maskrcnn_ext_config(model_zoo.get_config(yaml))
    cfg.MODEL.ROI_HEADS.NAME = name
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 3
    cfg.MODEL.ROI_BOX_HEAD.FC_DIM = 16
    cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = 8
    cfg.MODEL.ROI_MASK_HEAD.NUM_CONV = 1
    cfg.MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS = (8,)
    cfg.MODEL.ROI_MASKIOU_HEAD.CONV_DIMS = [8]
    cfg.MODEL.ROI_MASKIOU_HEAD.FC_DIMS = [16]
    return cfg


def set_pooler(cfg, head: str, pooler_type: str, sampling_ratio: int = 2) -> None:
    cfg.MODEL[head].POOLER_TYPE = pooler_type
    cfg.MODEL[head].POOLER_SAMPLING_RATIO = sampling_ratio


def pyramid() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(1, 8, 256 // s, 256 // s, generator=generator) for s in (4, 8, 16, 32)]


@pytest.mark.parametrize("name", ["ExtPoolerROIHeads", "MaskScoringROIHeads"])
def test_yacs_pooler_types_select_ext_poolers_that_pool_as_built_directly(name):
    cfg = fpn_cfg(name)
    set_pooler(cfg, "ROI_BOX_HEAD", "ROIWarp")
    set_pooler(cfg, "ROI_MASK_HEAD", "ROIAlignV2Max", 3)
    heads = build_roi_heads(cfg, FPN_SHAPES)
    assert isinstance(heads, ExtPoolerROIHeads)
    x = pyramid()
    for pooler, (size, ratio, kind) in ((heads.box_pooler, (7, 2, "ROIWarp")),
                                        (heads.mask_pooler, (14, 3, "ROIAlignV2Max"))):
        assert isinstance(pooler, ExtROIPooler) and pooler.pooler_type == kind
        assert (pooler.min_level, pooler.max_level, pooler.canonical_level) == (2, 5, 4)
        torch.testing.assert_close(pooler(x, BOXES), ExtROIPooler(size, SCALES, ratio, kind)(x, BOXES), rtol=0, atol=0)


def test_detectron2s_own_types_build_exactly_detectron2s_heads():
    cfg = fpn_cfg()
    set_pooler(cfg, "ROI_MASK_HEAD", "ROIAlign", 0)
    torch.manual_seed(0)
    ours = build_roi_heads(cfg, FPN_SHAPES)
    cfg.MODEL.ROI_HEADS.NAME = "StandardROIHeads"
    torch.manual_seed(0)
    theirs = build_roi_heads(cfg, FPN_SHAPES)
    assert type(ours.box_pooler) is ROIPooler and type(ours.mask_pooler) is ROIPooler
    assert repr(ours).split("\n", 1)[1] == repr(theirs).split("\n", 1)[1]  # all but the class name
    for (name, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert torch.equal(a, b), name


def test_keypoint_pooler_type():
    cfg = fpn_cfg(yaml="COCO-Keypoints/keypoint_rcnn_R_50_FPN_1x.yaml")
    set_pooler(cfg, "ROI_KEYPOINT_HEAD", "ROIAlignMax")
    heads = build_roi_heads(cfg, FPN_SHAPES)
    assert isinstance(heads.keypoint_pooler, ExtROIPooler) and heads.keypoint_pooler.pooler_type == "ROIAlignMax"
    assert type(heads.box_pooler) is ROIPooler


def test_c4_pooler_type_selects_a_single_level_ext_pooler():
    cfg = add_maskrcnn_ext_config(model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_C4_1x.yaml"))
    cfg.MODEL.ROI_HEADS.NAME = "ExtPoolerRes5ROIHeads"
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 4
    cfg.MODEL.RESNETS.WIDTH_PER_GROUP = 2
    set_pooler(cfg, "ROI_BOX_HEAD", "ROIWarpAvg")
    heads = build_roi_heads(cfg, {"res4": ShapeSpec(channels=16, stride=16)})
    assert isinstance(heads, ExtPoolerRes5ROIHeads) and isinstance(heads.pooler, ExtROIPooler)
    x = [torch.randn(1, 16, 16, 16, generator=torch.Generator().manual_seed(0))]
    torch.testing.assert_close(heads.pooler(x, BOXES), ExtROIPooler(14, [1 / 16], 2, "ROIWarpAvg")(x, BOXES),
                               rtol=0, atol=0)


def test_c4_mlp_mask_head_from_yacs_is_sized_for_res5s_output():
    # detectron2 tells a C4 mask head the pooler's side (14), but it receives res5's 7x7 output.
    cfg = add_maskrcnn_ext_config(model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_C4_1x.yaml"))
    cfg.MODEL.ROI_HEADS.NAME = "ExtPoolerRes5ROIHeads"
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 3
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 4
    cfg.MODEL.RESNETS.WIDTH_PER_GROUP = 2
    cfg.MODEL.ROI_MASK_HEAD.NAME = "MaskRCNNMLPHead"
    cfg.MODEL.ROI_MASK_HEAD.MLP_FC_DIMS = [16]
    heads = build_roi_heads(cfg, {"res4": ShapeSpec(channels=16, stride=16)}).eval()
    assert heads.mask_head.mlp.fcs[1].in_features == 32 * 7 * 7
    detections = Instances((64, 64), pred_boxes=Boxes(torch.tensor([[0.0, 0.0, 30.0, 30.0]])),
                           pred_classes=torch.tensor([1]), scores=torch.tensor([0.5]))
    with torch.no_grad():
        (inst,) = heads.forward_with_given_boxes({"res4": torch.randn(1, 16, 4, 4)}, [detections])
    assert inst.pred_masks.shape == (1, 1, 28, 28)


def test_unknown_types_and_adaptive_sampling_for_fixed_grid_types_are_named():
    cfg = fpn_cfg()
    set_pooler(cfg, "ROI_BOX_HEAD", "ROIAlignMean")
    with pytest.raises(ValueError, match=r"Unknown MODEL.ROI_BOX_HEAD.POOLER_TYPE 'ROIAlignMean'.*'ROIWarp'"):
        build_roi_heads(cfg, FPN_SHAPES)
    for pooler_type in ("ROIWarp", "ROIWarpAvg", "ROIAlignMax", "ROIAlignV2Max"):
        cfg = fpn_cfg()
        set_pooler(cfg, "ROI_MASK_HEAD", pooler_type, 0)
        with pytest.raises(ValueError, match=r"needs MODEL.ROI_MASK_HEAD.POOLER_SAMPLING_RATIO > 0"):
            build_roi_heads(cfg, FPN_SHAPES)
    # A branch that is off is not checked (detectron2 does not check it either).
    cfg.MODEL.MASK_ON = False
    assert build_roi_heads(cfg, FPN_SHAPES).mask_on is False
