"""The paper's ablation components: mask losses and their decoders, MLP mask heads, Res5 (C4) heads,
Faster R-CNN mode."""
import math

import pytest
import torch

from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.config import instantiate
from maskrcnn_ext.layers.pooler_variants import ROIPool
from maskrcnn_ext.layers.poolers import MultiLevelROIPooler, build_pooler
from maskrcnn_ext.modeling.backbone import ResNetBottomUp, build_res5_head
from maskrcnn_ext.modeling.meta_arch import GeneralizedRCNN
from maskrcnn_ext.modeling.proposal_generator import RPN
from maskrcnn_ext.modeling.roi_heads import (
    BoxTrainStep,
    FastRCNNOutputLayers,
    MaskRCNNConvUpsampleHead,
    MaskRCNNMLPHead,
    Res5ROIHeads,
    SigmoidMaskLoss,
    SoftmaxMaskLoss,
    StandardROIHeads,
    mask_decoder_for,
    sigmoid_mask_probs,
    softmax_mask_probs,
)
from maskrcnn_ext.modeling.roi_heads.res5_roi_heads import pooling_settings
from maskrcnn_ext.registry import MASK_LOSS_REGISTRY, registered_names
from modeling_toys import build_tiny_model, synthetic_input


def test_softmax_mask_loss_hand_computed():
    # One RoI of class 0, two pixels; logits (ln 2, 0) plus the fixed background 0 -> softmax (1/2, 1/4, 1/4).
    logits = torch.tensor([[[[math.log(2.0), math.log(2.0)]], [[0.0, 0.0]]]])  # (R=1, K=2, 1, 2)
    targets = torch.tensor([[[1.0, 0.0]]])  # pixel 0 is the object, pixel 1 background
    loss = SoftmaxMaskLoss()(logits, torch.tensor([0]), targets)
    assert loss.item() == pytest.approx((math.log(2.0) + math.log(4.0)) / 2)
    # Argmax decoding: class 0 against its best rival (logit 0): sigmoid(ln 2) = 2/3, though p = 1/2.
    probs = softmax_mask_probs(logits, torch.tensor([0]))
    torch.testing.assert_close(probs, torch.tensor([[[2 / 3, 2 / 3]]]))


def test_softmax_mask_probs_pass_one_half_exactly_where_the_class_wins_the_argmax():
    torch.manual_seed(0)
    logits, classes = torch.randn(6, 3, 5, 5) * 3, torch.tensor([0, 1, 2, 0, 1, 2])
    with_background = torch.cat([logits, torch.zeros(6, 1, 5, 5)], dim=1)
    wins = with_background.argmax(dim=1) == classes.view(-1, 1, 1)
    probs = softmax_mask_probs(logits, classes)
    assert torch.equal(probs > 0.5, wins)
    softmax_p = with_background.softmax(dim=1)[torch.arange(6), classes]
    assert (wins & (softmax_p < 0.5)).any()  # pixels a softmax threshold would have dropped


def test_softmax_couples_classes_and_sigmoid_does_not():
    logits = torch.zeros(1, 3, 2, 2, requires_grad=True)
    targets = torch.ones(1, 2, 2)
    classes = torch.tensor([1])
    SoftmaxMaskLoss()(logits, classes, targets).backward()
    assert (logits.grad[0, 0] > 0).all() and (logits.grad[0, 2] > 0).all()  # the other classes are pushed down
    logits.grad = None
    SigmoidMaskLoss()(logits, classes, targets).backward()
    assert logits.grad[0, 0].abs().sum() == 0 and logits.grad[0, 2].abs().sum() == 0
    raised = torch.zeros(1, 3, 2, 2)
    raised[0, 0] = 3.0  # a competing class's logit lowers this class's softmax probability only
    assert (softmax_mask_probs(raised, classes) < 1 / 3).all()
    assert torch.allclose(sigmoid_mask_probs(raised, classes), torch.full((1, 2, 2), 0.5))


def test_single_channel_softmax_is_the_sigmoid():
    torch.manual_seed(0)
    logits, targets = torch.randn(5, 1, 4, 4), (torch.rand(5, 4, 4) > 0.5).float()
    classes = torch.tensor([0, 2, 1, 3, 0])  # ignored by a class-agnostic head
    torch.testing.assert_close(SoftmaxMaskLoss()(logits, classes, targets),
                               SigmoidMaskLoss()(logits, classes, targets))
    torch.testing.assert_close(softmax_mask_probs(logits, classes), sigmoid_mask_probs(logits, classes))


def test_each_loss_names_the_decoder_that_matches_it():
    assert mask_decoder_for(SigmoidMaskLoss()) is sigmoid_mask_probs
    assert mask_decoder_for(SoftmaxMaskLoss()) is softmax_mask_probs
    # Still listed by `maskrcnn-ext list`, though configs pass the objects themselves.
    assert {"SigmoidMaskLoss", "SoftmaxMaskLoss"} <= set(registered_names(MASK_LOSS_REGISTRY))


@pytest.mark.parametrize("not_a_loss", ["SoftmaxMaskLoss", SoftmaxMaskLoss, torch.nn.functional.mse_loss])
def test_a_mask_loss_without_its_decoder_is_refused(not_a_loss):
    # A registry name (what configs passed before), the class instead of an instance, a bare function:
    # none says how its masks are decoded, so none can be paired with a decoding by mistake.
    with pytest.raises(TypeError, match=r"names its inference decoder.*mask_loss=L\(SoftmaxMaskLoss\)\(\)"):
        mask_decoder_for(not_a_loss)
    with pytest.raises(TypeError, match="decoder"):
        StandardROIHeads(num_classes=2, box_in_features=("res4",), box_pooler=torch.nn.Identity(),
                         box_head=torch.nn.Identity(), box_predictor=FastRCNNOutputLayers(input_dim=4, num_classes=2),
                         mask_loss=not_a_loss)


def test_heads_decode_masks_as_their_loss_trained_them():
    torch.manual_seed(0)
    model = build_tiny_model().eval()
    heads = model.roi_heads
    assert heads.mask_loss_fn == SigmoidMaskLoss() and heads.mask_decoder is sigmoid_mask_probs
    image = [synthetic_input()]
    with torch.no_grad():
        sigmoid_out = model.inference(image, do_postprocess=False)[0]["instances"]
        # The decoder is looked up from the loss on every use: replacing the loss cannot leave a stale one.
        heads.mask_loss_fn = SoftmaxMaskLoss()
        assert heads.mask_decoder is softmax_mask_probs
        softmax_out = model.inference(image, do_postprocess=False)[0]["instances"]
        features = model.backbone(model.preprocess_image(image).tensors)
        logits = heads.mask_head(heads.mask_features(features, [softmax_out["boxes"]]))
    assert len(softmax_out["boxes"]) > 0 and torch.equal(softmax_out["boxes"], sigmoid_out["boxes"])
    assert not torch.allclose(softmax_out["mask_probs"], sigmoid_out["mask_probs"])
    torch.testing.assert_close(softmax_out["mask_probs"], softmax_mask_probs(logits, softmax_out["classes"]))
    torch.testing.assert_close(sigmoid_out["mask_probs"], sigmoid_mask_probs(logits, sigmoid_out["classes"]))


def test_a_config_chooses_the_mask_loss_by_import_path():
    heads = instantiate(L(StandardROIHeads)(
        num_classes=2, box_in_features=["res4"], box_pooler=L(torch.nn.Identity)(), box_head=L(torch.nn.Identity)(),
        box_predictor=L(FastRCNNOutputLayers)(input_dim=4, num_classes=2), mask_loss=L(SoftmaxMaskLoss)()))
    assert heads.mask_loss_fn == SoftmaxMaskLoss() and heads.mask_decoder is softmax_mask_probs


def test_mask_losses_are_zero_without_rois():
    empty = torch.zeros(0, 3, 28, 28, requires_grad=True)
    for loss in (SigmoidMaskLoss(), SoftmaxMaskLoss()):
        value = loss(empty, torch.zeros(0, dtype=torch.int64), torch.zeros(0, 28, 28))
        assert value.item() == 0 and value.requires_grad


def test_mlp_mask_head_shapes_and_parameter_count():
    head = MaskRCNNMLPHead(in_channels=4, pooler_resolution=14, num_classes=3, fc_dims=(16, 8), mask_size=28)
    assert head(torch.zeros(5, 4, 14, 14)).shape == (5, 3, 28, 28)
    expected = (4 * 14 * 14 + 1) * 16 + (16 + 1) * 8 + (8 + 1) * 3 * 28 * 28
    assert sum(p.numel() for p in head.parameters()) == expected
    agnostic = MaskRCNNMLPHead(in_channels=4, pooler_resolution=14, num_classes=3, fc_dims=(16,), cls_agnostic=True)
    assert agnostic(torch.zeros(2, 4, 14, 14)).shape == (2, 1, 28, 28)


def test_fcn_head_deconv_width():
    head = MaskRCNNConvUpsampleHead(in_channels=64, num_classes=3, conv_dims=(), deconv_dim=8)
    assert head.deconv.out_channels == 8 and head(torch.zeros(2, 64, 7, 7)).shape == (2, 3, 14, 14)


def build_tiny_c4(num_classes: int = 3) -> GeneralizedRCNN:
    """R-18-C4 at width 8: res4 has 32 channels, the res5 head 64."""
    def pooler():
        return build_pooler(output_size=14, strides=(16,), sampling_ratio=2)

    return GeneralizedRCNN(
        backbone=ResNetBottomUp(arch="resnet18", norm="BN", freeze_at=0, out_features=("res4",), width=8),
        proposal_generator=RPN(in_features=("res4",), in_channels=32, anchor_sizes=((16, 32, 64),),
                               pre_nms_topk_train=200, post_nms_topk_train=50, pre_nms_topk_test=100,
                               post_nms_topk_test=20),
        roi_heads=Res5ROIHeads(
            num_classes=num_classes, box_in_features=("res4",), batch_size_per_image=16, box_pooler=pooler(),
            box_head=build_res5_head(arch="resnet18", norm="BN", width=8),
            box_predictor=FastRCNNOutputLayers(input_dim=64, num_classes=num_classes),
            mask_in_features=("res4",), mask_pooler=pooler(),
            mask_head=MaskRCNNConvUpsampleHead(in_channels=64, num_classes=num_classes, conv_dims=(), deconv_dim=16)),
        size_divisibility=16)


def test_res5_heads_share_res5_between_branches():
    torch.manual_seed(0)
    model = build_tiny_c4()
    heads = model.roi_heads
    features = model.backbone(torch.zeros(1, 3, 64, 96))
    boxes = [torch.tensor([[0.0, 0.0, 32.0, 32.0], [10.0, 20.0, 60.0, 50.0]])]
    assert heads.box_features(features, boxes).shape == (2, 64)
    assert heads.mask_features(features, boxes).shape == (2, 64, 7, 7)
    losses = model([synthetic_input(), synthetic_input(48, 64)])
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask"}
    # res5 is the mask branch's trunk too: the mask loss alone must reach it.
    losses["loss_mask"].backward()
    assert heads.box_head[0].conv1.weight.grad.abs().sum() > 0
    assert heads.box_predictor.cls_score.weight.grad is None


def test_res5_mask_branch_reuses_the_box_pass_rows_in_training():
    model = build_tiny_c4()
    model.roi_heads.box_head.eval()  # running statistics: res5 gives each RoI the same output in any batch
    batch = [synthetic_input(), synthetic_input(48, 64)]
    losses = []
    for reuse in (True, False):
        model.roi_heads.mask_from_box_features = reuse
        torch.manual_seed(0)  # the same proposals sampled both times
        losses.append(model(batch)["loss_mask"])
    torch.testing.assert_close(losses[0], losses[1])


def test_res5_mask_reuse_needs_matching_poolers():
    torch.manual_seed(0)
    heads = build_tiny_c4().roi_heads
    kwargs = dict(num_classes=3, box_in_features=("res4",), box_head=heads.box_head,
                  box_predictor=heads.box_predictor, mask_in_features=("res4",), mask_head=heads.mask_head)
    box_pooler = heads.box_pooler
    # RoIPool built directly: the test does not depend on how configs spell a pooler op.
    for other in (MultiLevelROIPooler(level_ops=[ROIPool(output_size=14, spatial_scale=1 / 16)]),
                  build_pooler(output_size=14, strides=(16,), sampling_ratio=0),
                  build_pooler(output_size=14, strides=(16,), sampling_ratio=2, aligned=False)):
        with pytest.raises(ValueError, match="same operation"):
            Res5ROIHeads(box_pooler=box_pooler, mask_pooler=other, **kwargs)
        assert not Res5ROIHeads(box_pooler=box_pooler, mask_pooler=other, mask_from_box_features=False,
                                **kwargs).mask_from_box_features
    # A separately built pooler with the same settings is the same operation (and its train/eval flag
    # changes nothing it computes).
    same = build_pooler(output_size=14, strides=(16,), sampling_ratio=2).eval()
    assert same is not box_pooler and pooling_settings(same) == pooling_settings(box_pooler)
    assert Res5ROIHeads(box_pooler=box_pooler, mask_pooler=same, **kwargs).mask_from_box_features
    with pytest.raises(ValueError, match="same maps"):
        Res5ROIHeads(box_pooler=box_pooler, mask_pooler=same, **dict(kwargs, mask_in_features=("res3",)))


def test_box_train_step_rows_index_each_images_sampled_rois():
    step = BoxTrainStep(losses={}, roi_features=torch.arange(7.0).view(7, 1), rois_per_image=(3, 4))
    rows = step.rows([torch.tensor([2, 0]), torch.tensor([3])])
    assert rows.flatten().tolist() == [2.0, 0.0, 6.0]
    assert step.rows([torch.zeros(0, dtype=torch.int64)] * 2).shape == (0, 1)


def _recording(heads, monkeypatch):
    """Record the box step each training forward returns and what the mask step receives."""
    seen = {}
    box_train, mask_train = type(heads)._forward_box_train, type(heads).mask_train_features

    def forward_box_train(self, features, sampled):
        seen["box_step"] = box_train(self, features, sampled)
        return seen["box_step"]

    def mask_train_features(self, features, positives, keep, box_step):
        seen.update(received=box_step, keep=keep, positives=positives)
        seen["mask_input"] = mask_train(self, features, positives, keep, box_step)
        return seen["mask_input"]

    monkeypatch.setattr(type(heads), "_forward_box_train", forward_box_train)
    monkeypatch.setattr(type(heads), "mask_train_features", mask_train_features)
    return seen


def _tensor_attributes(module):
    return [k for m in module.modules() for k, v in vars(m).items() if isinstance(v, torch.Tensor)]


def test_res5_mask_step_receives_the_box_steps_res5_features(monkeypatch):
    torch.manual_seed(0)
    model = build_tiny_c4()
    seen = _recording(model.roi_heads, monkeypatch)
    model([synthetic_input(), synthetic_input(48, 64)])
    step = seen["box_step"]
    assert seen["received"] is step  # handed over as an argument, not through an attribute
    assert step.roi_features.shape[1:] == (64, 7, 7) and step.roi_features.shape[0] == sum(step.rois_per_image)
    assert sum(len(p["boxes"]) for p in seen["positives"]) == len(seen["mask_input"]) > 0
    # The mask head's input is exactly the positives' rows of the box pass's res5 output.
    assert torch.equal(seen["mask_input"], step.rows(seen["keep"]))
    # No tensor is left on the heads between the two steps or after them.
    assert not _tensor_attributes(model.roi_heads)


def test_standard_heads_pass_their_box_step_and_pool_the_mask_rois(monkeypatch):
    torch.manual_seed(0)
    model = build_tiny_model()
    seen = _recording(model.roi_heads, monkeypatch)
    features = model.backbone(model.preprocess_image([synthetic_input()]).tensors)
    model([synthetic_input()])
    step = seen["box_step"]
    assert seen["received"] is step and step.roi_features.shape == (sum(step.rois_per_image), 64)
    assert set(step.losses) == {"loss_cls", "loss_box_reg"}
    expected = model.roi_heads.mask_features(features, [p["boxes"] for p in seen["positives"]])
    torch.testing.assert_close(seen["mask_input"], expected)


def test_res5_heads_inference_masks_are_14x14():
    torch.manual_seed(0)
    model = build_tiny_c4().eval()
    detections = model.inference([synthetic_input()], do_postprocess=False)[0]["instances"]
    assert detections["mask_probs"].shape[1:] == (14, 14)
    out = model([synthetic_input()])[0]["instances"]
    assert out["masks"].shape[1:] == (64, 96)


def test_faster_rcnn_mode_has_no_mask_outputs():
    torch.manual_seed(0)
    model = build_tiny_model(mask=False)
    assert "loss_mask" not in model([synthetic_input()])
    out = model.eval()([synthetic_input()])[0]["instances"]
    assert "masks" not in out and torch.equal(out["mask_scores"], out["scores"])


@pytest.mark.parametrize("builder", [build_tiny_model, build_tiny_c4])
def test_inference_without_proposals_returns_empty_detections(builder):
    # An image whose proposals were all filtered out (e.g. a diverged RPN) must not crash inference.
    torch.manual_seed(0)
    model = builder().eval()
    features = model.backbone(torch.zeros(1, 3, 64, 96))
    detections, _ = model.roi_heads(features, [torch.zeros(0, 4)], [(64, 96)])
    assert detections[0]["boxes"].shape == (0, 4) and detections[0]["mask_probs"].shape[0] == 0
