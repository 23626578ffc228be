"""The bridge's mask heads follow detectron2's BaseMaskRCNNHead contract with the toolkit's mask losses."""
import math

import pytest

pytest.importorskip("detectron2")

import torch
from d2_helpers import box_masks
from detectron2.config import get_cfg
from detectron2.layers import ShapeSpec
from detectron2.modeling.roi_heads.mask_head import MaskRCNNConvUpsampleHead, build_mask_head, mask_rcnn_loss
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from maskrcnn_ext.d2 import MaskRCNNConvUpsampleSoftmaxHead, MaskRCNNMLPHead, add_maskrcnn_ext_config
from maskrcnn_ext.modeling.roi_heads import SoftmaxMaskLoss, softmax_mask_probs

SIZE = (40, 50)
SHAPE = ShapeSpec(channels=8, height=7, width=7)


def foreground(mask_format: str = "bitmask") -> list[Instances]:
    """Two images' foreground proposals: three in the first, none in the second (which has no ground
    truth, so detectron2 sets no gt_masks on it)."""
    first = Instances(SIZE, proposal_boxes=Boxes(torch.tensor([[4.0, 4.0, 32.0, 22.0], [18.0, 8.0, 47.0, 38.0],
                                                               [0.0, 0.0, 12.0, 12.0]])),
                      gt_classes=torch.tensor([0, 2, 1]),
                      gt_masks=box_masks([[5, 5, 30, 20], [20, 10, 45, 35], [0, 0, 10, 10]], SIZE, mask_format))
    second = Instances(SIZE, proposal_boxes=Boxes(torch.zeros(0, 4)), gt_classes=torch.zeros(0, dtype=torch.int64))
    return [first, second]


def detections() -> list[Instances]:
    first = Instances(SIZE, pred_boxes=Boxes(torch.tensor([[4.0, 4.0, 32.0, 22.0], [0.0, 0.0, 12.0, 12.0]])),
                      pred_classes=torch.tensor([2, 0]))
    second = Instances(SIZE, pred_boxes=Boxes(torch.zeros(0, 4)), pred_classes=torch.zeros(0, dtype=torch.int64))
    return [first, second]


def roi_features(count: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(count, 8, 7, 7, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("mask_format", ["bitmask", "polygon"])
def test_mlp_head_trains_with_the_same_sigmoid_loss_as_detectron2(mask_format):
    torch.manual_seed(0)
    head = MaskRCNNMLPHead(input_shape=SHAPE, num_classes=3, fc_dims=[32], mask_size=14, loss_weight=2.0)
    x, instances = roi_features(3), foreground(mask_format)
    losses = head.train()(x, instances)
    with EventStorage(0):  # detectron2's loss logs its mask accuracy
        expected = mask_rcnn_loss(head.layers(x), instances)
    assert set(losses) == {"loss_mask"}
    torch.testing.assert_close(losses["loss_mask"], 2.0 * expected)
    losses["loss_mask"].backward()
    assert head.mlp.predictor.weight.grad.abs().sum() > 0


def test_mlp_head_predicts_the_mask_of_each_detections_class():
    torch.manual_seed(0)
    head = MaskRCNNMLPHead(input_shape=SHAPE, num_classes=3, fc_dims=[32], mask_size=14).eval()
    x = roi_features(2, seed=1)
    with torch.no_grad():
        first, second = head(x, detections())
        logits = head.layers(x)
    assert first.pred_masks.shape == (2, 1, 14, 14) and second.pred_masks.shape == (0, 1, 14, 14)
    torch.testing.assert_close(first.pred_masks[:, 0], logits[[0, 1], [2, 0]].sigmoid())


def test_softmax_head_is_detectron2s_fcn_head_trained_and_decoded_with_the_multinomial_loss():
    torch.manual_seed(0)
    head = MaskRCNNConvUpsampleSoftmaxHead(input_shape=SHAPE, num_classes=3, conv_dims=[8, 8])
    assert isinstance(head, MaskRCNNConvUpsampleHead) and head.mask_loss_fn.__class__ is SoftmaxMaskLoss
    x, instances = roi_features(3), foreground()
    loss = head.train()(x, instances)["loss_mask"]
    targets = instances[0].gt_masks.crop_and_resize(instances[0].proposal_boxes.tensor, 14).float()
    torch.testing.assert_close(loss, SoftmaxMaskLoss()(head.layers(x), instances[0].gt_classes, targets))
    # All-zero logits tie the K = 3 classes and the background on every pixel: the loss is log(K + 1).
    torch.nn.init.zeros_(head.predictor.weight)
    torch.nn.init.zeros_(head.predictor.bias)
    assert head(x, instances)["loss_mask"].item() == pytest.approx(math.log(4))

    head.eval()
    x = roi_features(2, seed=1)
    with torch.no_grad():
        first, _ = head(x, detections())
        expected = softmax_mask_probs(head.layers(x), torch.tensor([2, 0]))
    torch.testing.assert_close(first.pred_masks[:, 0], expected)


def test_mlp_head_can_train_with_the_softmax_loss():
    torch.manual_seed(0)
    head = MaskRCNNMLPHead(input_shape=SHAPE, num_classes=3, fc_dims=[32], mask_size=14,
                           mask_loss=SoftmaxMaskLoss())
    x, instances = roi_features(3), foreground()
    targets = instances[0].gt_masks.crop_and_resize(instances[0].proposal_boxes.tensor, 14).float()
    torch.testing.assert_close(head.train()(x, instances)["loss_mask"],
                               SoftmaxMaskLoss()(head.layers(x), instances[0].gt_classes, targets))
    # ... and decodes as the softmax loss trained it.
    head.eval()
    x = roi_features(2, seed=1)
    with torch.no_grad():
        first, _ = head(x, detections())
        expected = softmax_mask_probs(head.layers(x), torch.tensor([2, 0]))
    torch.testing.assert_close(first.pred_masks[:, 0], expected)


def test_mlp_head_refuses_a_loss_that_names_no_decoder():
    with pytest.raises(TypeError, match="decoder"):
        MaskRCNNMLPHead(input_shape=SHAPE, num_classes=3, fc_dims=[32], mask_size=14, mask_loss="SoftmaxMaskLoss")


def test_no_foreground_proposals_give_a_zero_loss_that_keeps_the_graph():
    head = MaskRCNNConvUpsampleSoftmaxHead(input_shape=SHAPE, num_classes=3, conv_dims=[8]).train()
    empty = [foreground()[1]]
    loss = head(roi_features(0), empty)["loss_mask"]
    assert loss.item() == 0.0 and loss.requires_grad


def test_mlp_head_builds_from_a_yacs_config():
    cfg = add_maskrcnn_ext_config(get_cfg())
    cfg.MODEL.ROI_MASK_HEAD.NAME = "MaskRCNNMLPHead"
    cfg.MODEL.ROI_MASK_HEAD.MLP_FC_DIMS = [64]
    cfg.MODEL.ROI_MASK_HEAD.MLP_MASK_SIZE = 14
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 5
    head = build_mask_head(cfg, SHAPE)
    assert isinstance(head, MaskRCNNMLPHead)
    assert head.layers(roi_features(2)).shape == (2, 5, 14, 14)
    cfg.MODEL.ROI_MASK_HEAD.CLS_AGNOSTIC_MASK = True
    assert build_mask_head(cfg, SHAPE).layers(roi_features(2)).shape == (2, 1, 14, 14)
    # yacs names the loss by its registry name; the head holds the object.
    assert head.mask_loss_fn.__class__.__name__ == "SigmoidMaskLoss"
    cfg.MODEL.ROI_MASK_HEAD.MLP_LOSS_TYPE = "SoftmaxMaskLoss"
    assert build_mask_head(cfg, SHAPE).mask_loss_fn == SoftmaxMaskLoss()
    plain = get_cfg()
    plain.MODEL.ROI_MASK_HEAD.NAME = "MaskRCNNMLPHead"
    with pytest.raises(KeyError, match="add_maskrcnn_ext_config"):
        build_mask_head(plain, SHAPE)
