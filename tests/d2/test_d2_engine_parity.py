"""Same component, same numbers: the mask heads and the MaskIoU head as the toolkit's own engine runs
them and as the bridge hosts them in detectron2, given the same weights and inputs (float64)."""
import pytest

pytest.importorskip("detectron2")

import torch
from d2_helpers import box_masks
from detectron2 import model_zoo
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_roi_heads
from detectron2.modeling.roi_heads.mask_head import build_mask_head
from detectron2.structures import BitMasks, Boxes, Instances
from parity_helpers import NUM_CLASSES, engine_heads, engine_positives

from maskrcnn_ext.d2 import (
    MaskRCNNConvUpsampleSoftmaxHead,
    MaskRCNNMLPHead,
    MaskScoringROIHeads,
    add_maskrcnn_ext_config,
)
from maskrcnn_ext.modeling import roi_heads as engine
from maskrcnn_ext.modeling.roi_heads import MaskIoUHead, SigmoidMaskLoss, SoftmaxMaskLoss

SIZE = (40, 50)
CHANNELS = 8
EXACT = dict(rtol=1e-12, atol=1e-12)
LOSSES = {"MaskRCNNConvUpsampleHead": SigmoidMaskLoss(), "MaskRCNNConvUpsampleSoftmaxHead": SoftmaxMaskLoss()}


def shapes() -> torch.Tensor:
    """Three non-rectangular instances of a 40x50 image: a disk, an L and a triangle."""
    y, x = torch.meshgrid(torch.arange(SIZE[0]), torch.arange(SIZE[1]), indexing="ij")
    disk = (x - 15) ** 2 + (y - 12) ** 2 <= 64
    ell = ((x >= 22) & (x < 30) & (y >= 14) & (y < 38)) | ((x >= 22) & (x < 46) & (y >= 30) & (y < 38))
    triangle = (y >= 4) & (y < 30) & (x >= 30) & (x - 30 <= y - 4)
    return torch.stack([disk, ell, triangle])


def foreground() -> list[Instances]:
    """Foreground proposals of three images, as ``label_and_sample_proposals`` leaves them: one
    proposal cuts off part of the disk, one covers the L, two the triangle; the last image has none."""
    masks = shapes()

    def image(boxes, gt_index, classes):
        index = torch.tensor(gt_index)
        return Instances(SIZE, proposal_boxes=Boxes(torch.tensor(boxes)), gt_index=index,
                         gt_classes=torch.tensor(classes), gt_masks=BitMasks(masks[index]))

    empty = Instances(SIZE, proposal_boxes=Boxes(torch.zeros(0, 4)), gt_classes=torch.zeros(0, dtype=torch.int64))
    return [image([[5.5, 3.0, 25.0, 21.5], [10.0, 5.0, 20.0, 18.0], [20.0, 13.0, 47.0, 39.0]], [0, 0, 1], [1, 1, 2]),
            image([[29.0, 3.0, 50.0, 31.0], [33.0, 10.0, 45.0, 26.0]], [2, 2], [0, 0]), empty]


def detections() -> tuple[list[Instances], list[dict]]:
    boxes = [torch.tensor([[5.0, 3.0, 25.0, 21.0], [20.0, 13.0, 47.0, 39.0]]), torch.tensor([[29.0, 3.0, 50.0, 31.0]])]
    classes, scores = [torch.tensor([1, 2]), torch.tensor([0])], [torch.tensor([0.9, 0.4]), torch.tensor([0.7])]
    ours = [Instances(SIZE, pred_boxes=Boxes(b), pred_classes=c, scores=s) for b, c, s in zip(boxes, classes, scores)]
    return ours, [{"boxes": b, "classes": c, "scores": s} for b, c, s in zip(boxes, classes, scores)]


def random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def bridge_heads(mask_head: str, cls_agnostic: bool = False) -> MaskScoringROIHeads:
    """The bridge's FPN mask-scoring heads from detectron2's yacs config, narrow."""
    cfg = add_maskrcnn_ext_config(model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml"))
    cfg.MODEL.ROI_HEADS.NAME = "MaskScoringROIHeads"
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = NUM_CLASSES
    cfg.MODEL.ROI_BOX_HEAD.FC_DIM = 16
    cfg.MODEL.ROI_MASK_HEAD.NAME = mask_head
    cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = CHANNELS
    cfg.MODEL.ROI_MASK_HEAD.NUM_CONV = 1
    cfg.MODEL.ROI_MASK_HEAD.CLS_AGNOSTIC_MASK = cls_agnostic
    cfg.MODEL.ROI_MASKIOU_HEAD.CONV_DIMS = [8, 8]
    cfg.MODEL.ROI_MASKIOU_HEAD.FC_DIMS = [16]
    torch.manual_seed(0)
    heads = build_roi_heads(cfg, {f"p{k}": ShapeSpec(channels=CHANNELS, stride=2 ** k) for k in range(2, 7)})
    return heads.double()


def engine_maskiou_head_like(heads: MaskScoringROIHeads) -> MaskIoUHead:
    """A fresh engine MaskIoU head of the same sizes, loaded with the bridge head's weights."""
    torch.manual_seed(1)
    head = MaskIoUHead(in_channels=CHANNELS, pooler_resolution=14, num_classes=NUM_CLASSES, conv_dims=(8, 8),
                       fc_dims=(16,)).double()
    head.load_state_dict(heads.maskiou_head.state_dict())  # strict: the same names and shapes
    return head


def test_maskiou_head_same_weights_same_outputs():
    heads = bridge_heads("MaskRCNNConvUpsampleHead")
    head = engine_maskiou_head_like(heads)
    x, probs = random(4, CHANNELS, 14, 14, seed=0), random(4, 28, 28, seed=1).sigmoid()
    torch.testing.assert_close(heads.maskiou_head(x, probs), head(x, probs), **EXACT)


@pytest.mark.parametrize("cls_agnostic", [False, True], ids=["per-class", "agnostic"])
@pytest.mark.parametrize("mask_head", sorted(LOSSES))
def test_mask_scoring_losses_equal_the_engines(mask_head, cls_agnostic):
    heads = bridge_heads(mask_head, cls_agnostic).train()
    engine_rois = engine_heads(mask_head=torch.nn.Identity(), maskiou_head=engine_maskiou_head_like(heads),
                               mask_loss=LOSSES[mask_head]).double()
    instances = foreground()
    num_masks = 1 if cls_agnostic else NUM_CLASSES
    ours_x, theirs_x = (random(5, CHANNELS, 14, 14, seed=2).requires_grad_() for _ in range(2))
    logits = 2 * random(5, num_masks, 28, 28, seed=3)
    ours = heads.mask_scoring_losses(ours_x, logits, instances)
    positives, targets = engine_positives(instances, 28)
    theirs = engine_rois.mask_losses(theirs_x, logits, positives, targets)
    assert set(ours) == set(theirs) == {"loss_mask", "loss_maskiou"}
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], **EXACT)
    assert ours["loss_maskiou"] > 0
    ours["loss_maskiou"].backward()
    theirs["loss_maskiou"].backward()
    torch.testing.assert_close(ours_x.grad, theirs_x.grad, **EXACT)


@pytest.mark.parametrize("mask_head", sorted(LOSSES))
def test_mask_scoring_inference_equals_the_engines(mask_head):
    heads = bridge_heads(mask_head).eval()
    torch.nn.init.constant_(heads.maskiou_head.predictor.bias, 0.6)
    engine_rois = engine_heads(mask_head=torch.nn.Identity(), maskiou_head=engine_maskiou_head_like(heads),
                               mask_loss=LOSSES[mask_head]).double()
    x, logits = random(3, CHANNELS, 14, 14, seed=4), random(3, NUM_CLASSES, 28, 28, seed=5)
    ours, theirs = detections()
    with torch.no_grad():
        ours = heads.mask_scoring_inference(x, logits, ours)
        theirs = engine_rois.mask_inference(x, logits, theirs)
    for inst, d in zip(ours, theirs):
        torch.testing.assert_close(inst.pred_masks[:, 0], d["mask_probs"], **EXACT)
        torch.testing.assert_close(inst.mask_scores, d["mask_scores"], **EXACT)
        assert (inst.mask_scores < inst.scores).all()


def fcn_weights_to_engine(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """detectron2's FCN mask head names (``mask_fcn{k}``) -> the engine's (``convs.{2(k-1)}``; a ReLU between)."""
    renamed = {}
    for name, value in state.items():
        if name.startswith("mask_fcn"):
            layer, param = name[len("mask_fcn"):].split(".")
            name = f"convs.{2 * (int(layer) - 1)}.{param}"
        renamed[name] = value
    return renamed


def bridge_and_engine_mask_heads(kind: str, num_masks: int):
    """``(bridge head, engine head, mask loss)`` with the same weights, in float64."""
    torch.manual_seed(0)
    shape = ShapeSpec(channels=CHANNELS, height=7, width=7)
    if kind == "softmax FCN":
        ours = MaskRCNNConvUpsampleSoftmaxHead(input_shape=shape, num_classes=num_masks, conv_dims=[8, 8, 8])
        theirs = engine.MaskRCNNConvUpsampleHead(in_channels=CHANNELS, num_classes=num_masks, conv_dims=(8, 8))
        theirs.load_state_dict(fcn_weights_to_engine(ours.state_dict()))
        torch.nn.init.normal_(ours.predictor.weight, std=0.5)  # logits of a few units, not ~0
        theirs.predictor.load_state_dict(ours.predictor.state_dict())
        return ours.double(), theirs.double(), SoftmaxMaskLoss()
    loss = SoftmaxMaskLoss() if kind == "softmax MLP" else SigmoidMaskLoss()
    ours = MaskRCNNMLPHead(input_shape=shape, num_classes=num_masks, fc_dims=[32], mask_size=14, mask_loss=loss)
    theirs = engine.MaskRCNNMLPHead(in_channels=CHANNELS, pooler_resolution=7, num_classes=num_masks, fc_dims=(32,),
                                    mask_size=14)
    torch.nn.init.normal_(ours.mlp.predictor.weight, std=0.3)
    theirs.load_state_dict(ours.mlp.state_dict())
    return ours.double(), theirs.double(), loss


@pytest.mark.parametrize("num_masks", [NUM_CLASSES, 1], ids=["per-class", "agnostic"])
@pytest.mark.parametrize("kind", ["sigmoid MLP", "softmax MLP", "softmax FCN"])
def test_mask_heads_same_weights_same_logits_losses_and_masks(kind, num_masks):
    ours, theirs, loss = bridge_and_engine_mask_heads(kind, num_masks)
    x = random(5, CHANNELS, 7, 7, seed=6)
    logits = theirs(x)
    assert logits.shape == (5, num_masks, 14, 14) and logits.abs().max() > 1
    torch.testing.assert_close(ours.layers(x), logits, **EXACT)

    instances = foreground()
    positives, targets = engine_positives(instances, 14)
    expected = engine_heads(mask_head=theirs, mask_loss=loss).mask_losses(x, logits, positives, targets)
    torch.testing.assert_close(ours.train()(x, instances)["loss_mask"], expected["loss_mask"], **EXACT)

    dets, engine_dets = detections()
    ours.eval()
    with torch.no_grad():
        ours(x[:3], dets)
        expected = engine_heads(mask_head=theirs, mask_loss=loss).mask_inference(x[:3], theirs(x[:3]), engine_dets)
    for inst, d in zip(dets, expected):
        torch.testing.assert_close(inst.pred_masks[:, 0], d["mask_probs"], **EXACT)


def test_yacs_class_agnostic_masks_for_every_mask_head():
    cfg = add_maskrcnn_ext_config(model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml"))
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = NUM_CLASSES
    cfg.MODEL.ROI_MASK_HEAD.CLS_AGNOSTIC_MASK = True
    cfg.MODEL.ROI_MASK_HEAD.MLP_FC_DIMS = [16]
    shape = ShapeSpec(channels=CHANNELS, height=14, width=14)
    x = random(2, CHANNELS, 14, 14, seed=7).float()
    for name in ("MaskRCNNConvUpsampleHead", "MaskRCNNConvUpsampleSoftmaxHead", "MaskRCNNMLPHead"):
        cfg.MODEL.ROI_MASK_HEAD.NAME = name
        head = build_mask_head(cfg, shape).eval()
        with torch.no_grad():
            logits = head.layers(x)
            (inst,) = head(x, [Instances(SIZE, pred_boxes=Boxes(torch.zeros(2, 4)), pred_classes=torch.tensor([2, 0]))])
        assert logits.shape == (2, 1, 28, 28), name
        # One mask whatever the class; with one channel the softmax loss decodes as the sigmoid.
        torch.testing.assert_close(inst.pred_masks, logits.sigmoid())


def test_mask_targets_of_detectron2_and_the_engine_agree_on_bit_and_polygon_masks():
    """The bridge crops targets with detectron2's ``crop_and_resize``, the engine with its own RoIAlign:
    the same {0, 1} targets for rectangles, whichever mask format detectron2 holds them in."""
    boxes = torch.tensor([[4.0, 4.0, 32.0, 22.0], [18.5, 8.0, 47.0, 38.0], [0.0, 0.0, 12.0, 12.0]])
    rects = [[5, 5, 30, 20], [20, 10, 45, 35], [0, 0, 10, 10]]
    engine_crop = engine.mask_head.mask_targets([{"boxes": boxes, "gt_index": torch.arange(3)}],
                                                [box_masks(rects, SIZE, "bitmask").tensor], 28)
    for fmt in ("bitmask", "polygon"):
        ours = box_masks(rects, SIZE, fmt).crop_and_resize(boxes, 28).float()
        assert torch.equal(ours, engine_crop), fmt
