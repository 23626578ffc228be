"""MaskScoringRes5ROIHeads: Mask Scoring R-CNN on detectron2's C4 heads, from yacs and LazyConfig; the
MaskIoU head reads res5's RoI features as the engine's C4 mask-scoring heads do, with the same losses."""
import pytest

pytest.importorskip("detectron2")

import torch
from d2_helpers import ground_truth
from detectron2 import model_zoo
from detectron2.config import LazyCall as L
from detectron2.config import instantiate
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_roi_heads
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from parity_helpers import NUM_CLASSES, engine_heads, engine_positives

from maskrcnn_ext.d2 import ExtROIPooler, MaskScoringRes5ROIHeads, add_maskrcnn_ext_config
from maskrcnn_ext.modeling.roi_heads import MaskIoUHead

SIZE = (128, 128)
RES4 = {"res4": ShapeSpec(channels=16, stride=16)}  # res5: 16 -> 32 channels, bottleneck 16


def c4_heads(name: str = "MaskScoringRes5ROIHeads", **pooler) -> MaskScoringRes5ROIHeads:
    """Narrow C4 heads from detectron2's own yacs config plus the bridge's keys."""
    cfg = add_maskrcnn_ext_config(model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_C4_1x.yaml"))
    cfg.MODEL.ROI_HEADS.NAME = name
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = NUM_CLASSES
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 32
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 4
    cfg.MODEL.RESNETS.WIDTH_PER_GROUP = 2
    cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = 8
    cfg.MODEL.ROI_MASKIOU_HEAD.CONV_DIMS = [8, 8]
    cfg.MODEL.ROI_MASKIOU_HEAD.FC_DIMS = [16]
    for key, value in pooler.items():
        cfg.MODEL.ROI_BOX_HEAD[key] = value
    torch.manual_seed(0)
    return build_roi_heads(cfg, RES4)


def features(dtype=torch.float32) -> dict[str, torch.Tensor]:
    return {"res4": torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(0)).to(dtype)}


def proposals(count: int = 40) -> Instances:
    generator = torch.Generator().manual_seed(1)
    xy = torch.rand(count, 2, generator=generator) * 90
    wh = 8 + torch.rand(count, 2, generator=generator) * 40
    return Instances(SIZE, proposal_boxes=Boxes(torch.cat([xy, xy + wh], dim=1)), objectness_logits=torch.zeros(count))


def targets() -> Instances:
    return ground_truth([[10, 10, 50, 40], [60, 70, 110, 120]], [0, 2], SIZE, "bitmask")


def test_yacs_builds_a_maskiou_head_for_res5_features():
    heads = c4_heads()
    assert isinstance(heads, MaskScoringRes5ROIHeads)
    head = heads.maskiou_head
    # res5's 32 channels plus the mask; its 7x7 output halved again by the last conv.
    assert head.convs[0].in_channels == 33 and head.fcs[1].in_features == 8 * 4 * 4
    assert head.predictor.out_features == NUM_CLASSES
    assert isinstance(c4_heads(POOLER_TYPE="ROIAlignV2Max", POOLER_SAMPLING_RATIO=2).pooler, ExtROIPooler)


def test_yacs_without_masks_is_refused():
    cfg = add_maskrcnn_ext_config(model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_C4_1x.yaml"))
    cfg.MODEL.ROI_HEADS.NAME = "MaskScoringRes5ROIHeads"
    cfg.MODEL.MASK_ON = False
    with pytest.raises(ValueError, match="MASK_ON"):
        build_roi_heads(cfg, RES4)


def test_lazy_config_builds_with_detectron2s_c4_model():
    model = model_zoo.get_config("common/models/mask_rcnn_c4.py").model
    heads = model.roi_heads
    heads._target_ = MaskScoringRes5ROIHeads
    heads.num_classes = NUM_CLASSES
    heads.res5.update(in_channels=16, bottleneck_channels=16, out_channels=32)
    heads.mask_head.conv_dims = [8]
    heads.maskiou_head = L(MaskIoUHead)(in_channels="${..res5.out_channels}", pooler_resolution=7,
                                        num_classes="${..num_classes}", conv_dims=[8], fc_dims=[16])
    built = instantiate(heads)
    assert isinstance(built, MaskScoringRes5ROIHeads) and built.maskiou_head.convs[0].in_channels == 33
    built.train()
    with EventStorage(0):
        _, losses = built(None, features(), [proposals()], [targets()])
    assert "loss_maskiou" in losses and all(torch.isfinite(v) for v in losses.values())


def test_one_training_step_gives_finite_losses_that_train_the_maskiou_head_and_res5():
    heads = c4_heads().train()
    with EventStorage(0):
        _, losses = heads(None, features(), [proposals()], [targets()])
    assert set(losses) == {"loss_cls", "loss_box_reg", "loss_mask", "loss_maskiou"}
    assert all(torch.isfinite(v) for v in losses.values()) and losses["loss_maskiou"] > 0
    losses["loss_maskiou"].backward()
    assert heads.maskiou_head.predictor.weight.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in heads.res5.parameters())


def test_training_feeds_the_foreground_res5_rows_and_matches_the_engines_losses():
    heads = c4_heads().double().train()
    seen = {}
    heads.res5.register_forward_hook(lambda module, args, out: seen.setdefault("res5", out))
    heads.maskiou_head.register_forward_pre_hook(lambda module, args: seen.setdefault("maskiou", args))
    torch.manual_seed(3)
    with EventStorage(0):
        _, losses = heads(None, features(torch.float64), [proposals()], [targets()])
    torch.manual_seed(3)  # the same sample again, to see what the heads trained on
    with EventStorage(0):
        (sampled,) = heads.label_and_sample_proposals([proposals()], [targets()])
    is_foreground = sampled.gt_classes < NUM_CLASSES
    roi_features, mask_probs = seen["maskiou"]
    assert len(roi_features) == int(is_foreground.sum()) >= 2
    assert torch.equal(roi_features, seen["res5"][is_foreground])  # the box pass's res5 rows, 32 x 7 x 7
    assert mask_probs.shape == (len(roi_features), 14, 14)

    maskiou = MaskIoUHead(in_channels=32, pooler_resolution=7, num_classes=NUM_CLASSES, conv_dims=(8, 8),
                          fc_dims=(16,)).double()
    maskiou.load_state_dict(heads.maskiou_head.state_dict())
    engine = engine_heads(mask_head=torch.nn.Identity(), maskiou_head=maskiou, channels=32).double()
    positives, gt = engine_positives([sampled[is_foreground]], 14)
    expected = engine.mask_losses(roi_features, heads.mask_head.layers(roi_features), positives, gt)
    for name in ("loss_mask", "loss_maskiou"):
        torch.testing.assert_close(losses[name], expected[name], rtol=1e-12, atol=1e-12)


def test_inference_adds_mask_scores_and_keeps_detectron2s_boxes_scores_and_masks():
    heads = c4_heads().eval()
    torch.nn.init.constant_(heads.maskiou_head.predictor.bias, 0.5)
    plain = c4_heads("Res5ROIHeads").eval()
    plain.load_state_dict({k: v for k, v in heads.state_dict().items() if not k.startswith("maskiou_head.")})
    feats = features()
    with torch.no_grad():
        (inst,), _ = heads(None, feats, [proposals()])
        (base,), _ = plain(None, feats, [proposals()])
        res5 = heads.res5(heads.pooler([feats["res4"]], [inst.pred_boxes]))
        predicted = heads.maskiou_head(res5, inst.pred_masks[:, 0])
    assert len(inst) > 0 and inst.pred_masks.shape == (len(inst), 1, 14, 14)
    assert torch.equal(inst.pred_boxes.tensor, base.pred_boxes.tensor) and torch.equal(inst.scores, base.scores)
    torch.testing.assert_close(inst.pred_masks, base.pred_masks)
    expected = inst.scores * predicted[torch.arange(len(inst)), inst.pred_classes].clamp(0, 1)
    torch.testing.assert_close(inst.mask_scores, expected)
    assert (inst.mask_scores < inst.scores).all() and (inst.mask_scores > 0.3 * inst.scores).all()


def test_no_detections_give_empty_mask_scores():
    heads = c4_heads().eval()
    empty = Instances(SIZE, proposal_boxes=Boxes(torch.zeros(0, 4)), objectness_logits=torch.zeros(0))
    with torch.no_grad():
        (inst,), _ = heads(None, features(), [empty])
    assert len(inst) == 0 and inst.mask_scores.shape == (0,) and inst.pred_masks.shape == (0, 1, 14, 14)
