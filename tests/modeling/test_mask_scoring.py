"""Mask Scoring R-CNN: MaskIoU targets, head, loss and scores, and the ROI heads that host it."""
import pytest
import torch

from maskrcnn_ext.checkpoint import load_model_weights
from maskrcnn_ext.modeling.roi_heads import MaskIoUHead, MaskScoringRes5ROIHeads, MaskScoringROIHeads
from maskrcnn_ext.modeling.roi_heads.maskiou_head import fraction_inside_boxes, maskiou_targets
from modeling_toys import build_tiny_model, synthetic_input
from test_ablation_heads import build_tiny_c4


def test_fraction_inside_counts_pixel_centres_in_the_box():
    masks = torch.zeros(2, 10, 10, dtype=torch.bool)
    masks[0, 2:6, 2:8] = True  # 4 rows x 6 columns = 24 pixels
    boxes = torch.tensor([[0.0, 0.0, 5.0, 10.0],   # columns 0-4 hold 3 of its 6 columns -> 1/2
                          [0.0, 0.0, 10.0, 10.0],  # the whole instance
                          [2.4, 2.0, 5.6, 4.0],    # centres 2.5..5.5 and 2.5, 3.5: columns 2-5, rows 2-3 -> 8/24
                          [0.0, 0.0, 4.0, 4.0]])   # instance 1 is empty: nothing lies outside -> 1
    inside = fraction_inside_boxes(masks, torch.tensor([0, 0, 0, 1]), boxes)
    torch.testing.assert_close(inside, torch.tensor([0.5, 1.0, 1 / 3, 1.0]))


def test_maskiou_target_counts_the_whole_instance_not_only_the_part_in_the_roi():
    # 4x4 RoI grid. The RoI holds half of the instance (its left half is the RoI's left half);
    # the prediction covers exactly that visible part.
    gt_roi = torch.zeros(1, 4, 4)
    gt_roi[0, :, :2] = 1
    probs = torch.where(gt_roi > 0, 0.9, 0.1)
    # Inside-the-RoI IoU would be 8 / 8 = 1; against the whole instance (16 cells) it is 8 / 16.
    torch.testing.assert_close(maskiou_targets(probs, gt_roi, torch.tensor([0.5])), torch.tensor([0.5]))
    torch.testing.assert_close(maskiou_targets(probs, gt_roi, torch.tensor([1.0])), torch.tensor([1.0]))


def test_maskiou_target_binarises_at_one_half():
    gt_roi = torch.zeros(1, 2, 2)
    gt_roi[0, 0] = 1  # 2 cells
    probs = torch.tensor([[[0.5, 0.51], [0.9, 0.2]]])  # 0.5 is logit 0: not foreground
    # predicted {(0,1), (1,0)}, ground truth {(0,0), (0,1)}: intersection 1, union 3
    torch.testing.assert_close(maskiou_targets(probs, gt_roi, torch.ones(1)), torch.tensor([1 / 3]))
    assert maskiou_targets(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2), torch.ones(1)).item() == 0.0


@pytest.mark.parametrize("side,mask_side", [(14, 28), (7, 14)])
def test_maskiou_head_shapes(side, mask_side):
    head = MaskIoUHead(in_channels=6, pooler_resolution=side, num_classes=3, conv_dims=(8, 8), fc_dims=(16, 16))
    assert head(torch.randn(5, 6, side, side), torch.rand(5, mask_side, mask_side)).shape == (5, 3)
    assert head.fcs[1].in_features == 8 * ((side + 1) // 2) ** 2


def test_maskiou_loss_trains_the_features_but_not_the_mask():
    torch.manual_seed(0)
    head = MaskIoUHead(in_channels=4, pooler_resolution=14, num_classes=3, conv_dims=(8,), fc_dims=(16,))
    features = torch.randn(2, 4, 14, 14, requires_grad=True)
    logits = torch.randn(2, 28, 28, requires_grad=True)
    predicted = head(features, logits.sigmoid())
    head.loss(predicted, torch.tensor([0, 2]), torch.tensor([0.3, 0.8])).backward()
    assert logits.grad is None
    assert features.grad.abs().sum() > 0


def test_maskiou_loss_uses_the_ground_truth_class_only_and_its_weight():
    head = MaskIoUHead(in_channels=1, pooler_resolution=2, num_classes=3, conv_dims=(1,), fc_dims=(), loss_weight=0.5)
    predicted = torch.tensor([[0.9, 0.0, 5.0], [7.0, 0.2, 0.4]])
    loss = head.loss(predicted, torch.tensor([0, 1]), torch.tensor([0.5, 0.6]))
    assert loss.item() == pytest.approx(0.5 * ((0.9 - 0.5) ** 2 + (0.2 - 0.6) ** 2) / 2)
    assert head.loss(torch.zeros(0, 3), torch.zeros(0, dtype=torch.int64), torch.zeros(0)).item() == 0


def test_mask_scores_are_box_scores_times_the_clamped_predicted_iou():
    head = MaskIoUHead(in_channels=1, pooler_resolution=2, num_classes=2, conv_dims=(1,), fc_dims=())
    predicted = torch.tensor([[0.5, 0.9], [1.4, 0.0], [-0.2, 0.3]])
    scores = torch.tensor([0.8, 0.6, 0.9])
    torch.testing.assert_close(head.predict(predicted, torch.tensor([0, 0, 0]), scores), torch.tensor([0.4, 0.6, 0.0]))


def test_mask_scoring_heads_train_and_rescore_masks_but_not_boxes():
    torch.manual_seed(0)
    model = build_tiny_model(mask_scoring=True)
    losses = model([synthetic_input(), synthetic_input(48, 64)])
    assert {"loss_mask", "loss_maskiou"} <= set(losses) and losses["loss_maskiou"] > 0
    baseline = build_tiny_model().eval()
    model.eval()
    baseline.load_state_dict(model.state_dict(), strict=False)
    out = model([synthetic_input()])[0]["instances"]
    base_out = baseline([synthetic_input()])[0]["instances"]
    torch.testing.assert_close(out["scores"], base_out["scores"])
    assert len(out["scores"]) > 0 and (out["mask_scores"] <= out["scores"]).all()
    assert not torch.equal(out["mask_scores"], out["scores"])


def test_mask_scoring_on_c4_reads_res5_features():
    torch.manual_seed(0)
    c4 = build_tiny_c4()
    heads = c4.roi_heads
    c4.roi_heads = MaskScoringRes5ROIHeads(
        num_classes=3, box_in_features=("res4",), batch_size_per_image=16, box_pooler=heads.box_pooler,
        box_head=heads.box_head, box_predictor=heads.box_predictor, mask_in_features=("res4",),
        mask_pooler=heads.mask_pooler, mask_head=heads.mask_head,
        maskiou_head=MaskIoUHead(in_channels=64, pooler_resolution=7, num_classes=3, conv_dims=(8,), fc_dims=(16,)))
    assert "loss_maskiou" in c4([synthetic_input(), synthetic_input(48, 64)])
    out = c4.eval()([synthetic_input()])[0]["instances"]
    assert out["mask_scores"].shape == out["scores"].shape


def test_mask_scoring_without_a_mask_branch_says_what_to_do():
    baseline = build_tiny_model(mask=False).roi_heads
    with pytest.raises(ValueError, match="needs a mask branch"):
        MaskScoringROIHeads(num_classes=3, box_in_features=baseline.box_in_features, box_pooler=baseline.box_pooler,
                            box_head=baseline.box_head, box_predictor=baseline.box_predictor,
                            maskiou_head=MaskIoUHead(in_channels=16, pooler_resolution=14, num_classes=3))


def test_mask_rcnn_checkpoint_starts_a_fresh_maskiou_head():
    torch.manual_seed(0)
    report = load_model_weights(build_tiny_model(mask_scoring=True), build_tiny_model().state_dict())
    assert report.fresh_modules == ["roi_heads.maskiou_head"]
    assert "initialised fresh (none of their tensors in the checkpoint) 1: roi_heads.maskiou_head" in report.summary()
    assert not report.unexpected and not report.shape_mismatch


def test_checkpoint_with_another_maskiou_class_count_is_refused():
    source = build_tiny_model(num_classes=5, mask_scoring=True).state_dict()
    with pytest.raises(ValueError, match="predicts 5 classes but this model's has 3.*num_classes=5"):
        load_model_weights(build_tiny_model(mask_scoring=True), source)
    with pytest.raises(ValueError, match="predicts 5 classes"):
        build_tiny_model(mask_scoring=True).load_state_dict(source)


def test_checkpoint_with_other_maskiou_widths_is_refused():
    source = build_tiny_model(mask_scoring=True).state_dict()
    source["roi_heads.maskiou_head.fcs.1.weight"] = torch.zeros(7, 8 * 7 * 7)
    with pytest.raises(ValueError, match="fcs.1.weight of shape .7, 392.*conv_dims, fc_dims"):
        load_model_weights(build_tiny_model(mask_scoring=True), source)
