"""The keypoint branch: targets, loss, decoding, head and the ROI heads in every branch combination."""
import math

import pytest
import torch

from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.config import instantiate
from maskrcnn_ext.layers.poolers import build_pooler
from maskrcnn_ext.modeling.meta_arch import detector_postprocess
from maskrcnn_ext.modeling.roi_heads import (
    FastRCNNConvFCHead,
    FastRCNNOutputLayers,
    KeypointROIHeads,
    KRCNNConvDeconvUpsampleHead,
    MaskRCNNConvUpsampleHead,
    StandardROIHeads,
    decode_keypoints,
    keypoint_loss,
    keypoint_targets,
)
from maskrcnn_ext.registry import KEYPOINT_HEAD_REGISTRY, ROI_HEADS_REGISTRY, registered_names

BOX = torch.tensor([[10.0, 20.0, 30.0, 60.0]])  # 4x4 grid: bins 5 px wide and 10 px high


def _targets(points):
    return keypoint_targets(torch.tensor([points]), BOX, 4)


def test_keypoint_targets_hand_computed_bins_borders_and_outside():
    index, valid = _targets([
        [12.5, 25.0, 2],   # bin (0, 0)
        [27.0, 55.0, 2],   # bin (y 3, x 3)
        [10.0, 20.0, 2],   # on the top-left corner: bin (0, 0)
        [30.0, 60.0, 1],   # on the bottom-right corner: the last bin; occluded (v=1) is trained
        [30.0, 41.0, 2],   # on the right border, y bin 2: 2 * 4 + 3
        [31.0, 40.0, 2],   # right of the RoI
        [29.0, 19.9, 2],   # above the RoI
        [15.0, 30.0, 0],   # not labelled
    ])
    assert valid.tolist() == [[True, True, True, True, True, False, False, False]]
    assert index.tolist() == [[0, 15, 0, 15, 11, 0, 0, 0]]


def test_keypoint_targets_without_visible_keypoints_are_all_invalid():
    index, valid = _targets([[12.0, 25.0, 0], [50.0, 25.0, 2]])
    assert not valid.any() and index.tolist() == [[0, 0]]


def test_keypoint_loss_is_the_mean_cross_entropy_over_valid_keypoints():
    logits = torch.zeros(1, 3, 4, 4)
    logits[0, 0].view(-1)[5] = 2.0  # the target bin of keypoint 0 gets logit 2
    index = torch.tensor([[5, 7, 0]])
    valid = torch.tensor([[True, True, False]])
    ce0 = -2.0 + math.log(math.exp(2.0) + 15)
    ce1 = math.log(16.0)
    assert keypoint_loss(logits, index, valid).item() == pytest.approx((ce0 + ce1) / 2, rel=1e-6)
    # Detectron's constant normaliser: the sum divided by a fixed count.
    assert keypoint_loss(logits, index, valid, normalizer=8.0).item() == pytest.approx((ce0 + ce1) / 8, rel=1e-6)


def test_keypoint_loss_without_valid_keypoints_is_zero_with_a_graph():
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    loss = keypoint_loss(logits, torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None and not logits.grad.any()


def test_decode_puts_the_keypoint_at_its_bin_centre_with_the_softmax_score():
    logits = torch.zeros(1, 2, 4, 4)
    logits[0, 0, 2, 1] = 10.0  # bin y 2, x 1
    logits[0, 1, 0, 3] = 10.0  # bin y 0, x 3
    out = decode_keypoints(logits, BOX)
    score = math.exp(10.0) / (math.exp(10.0) + 15)
    assert out.shape == (1, 2, 3)
    torch.testing.assert_close(out[0], torch.tensor([[10 + 1.5 * 5, 20 + 2.5 * 10, score],
                                                     [10 + 3.5 * 5, 20 + 0.5 * 10, score]]))


def test_decoding_a_target_heatmap_returns_a_point_of_the_same_bin():
    points = torch.tensor([[[12.5, 25.0, 2], [30.0, 60.0, 2], [22.2, 47.9, 2]]])
    index, _ = keypoint_targets(points, BOX, 8)
    logits = torch.nn.functional.one_hot(index, 64).float().view(1, 3, 8, 8) * 20
    decoded = decode_keypoints(logits, BOX)
    again, valid = keypoint_targets(torch.cat([decoded[..., :2], points[..., 2:]], dim=-1), BOX, 8)
    assert valid.all() and torch.equal(again, index)
    # bin centres: x bins are 2.5 px, y bins 5 px wide
    torch.testing.assert_close(decoded[0, :, :2], torch.tensor([[13.75, 27.5], [28.75, 57.5], [21.25, 47.5]]))


def test_head_is_56x56_from_14x14_and_configurable():
    head = KRCNNConvDeconvUpsampleHead(in_channels=8, num_keypoints=5, conv_dims=(16,) * 3)
    assert head(torch.randn(2, 8, 14, 14)).shape == (2, 5, 56, 56)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in head.convs) == 3
    plain = KRCNNConvDeconvUpsampleHead(in_channels=8, num_keypoints=5, conv_dims=(), up_scale=1)
    assert plain(torch.randn(1, 8, 7, 7)).shape == (1, 5, 14, 14)


def test_keypoint_components_are_registered_and_build_from_a_lazy_config():
    assert "KRCNNConvDeconvUpsampleHead" in registered_names(KEYPOINT_HEAD_REGISTRY)
    assert "KeypointROIHeads" in registered_names(ROI_HEADS_REGISTRY)
    head = instantiate(L(KRCNNConvDeconvUpsampleHead)(in_channels=4, num_keypoints=3, conv_dims=[8, 8]))
    assert head(torch.randn(1, 4, 14, 14)).shape == (1, 3, 56, 56)


# --- the ROI heads ------------------------------------------------------------------------------------
LEVELS = ("p2", "p3")
K = 3


def _heads(mask: bool, keypoint: bool, keypoint_pool_op: str = "maskrcnn_ext.layers.ROIAlign"):
    torch.manual_seed(0)
    common = dict(num_classes=2, box_in_features=LEVELS, batch_size_per_image=16,
                  box_pooler=build_pooler(output_size=7, strides=(4, 8), sampling_ratio=2),
                  box_head=FastRCNNConvFCHead(in_channels=4, pooler_resolution=7, fc_dims=(16,)),
                  box_predictor=FastRCNNOutputLayers(input_dim=16, num_classes=2, test_score_thresh=0.0))
    if mask:
        common.update(mask_in_features=LEVELS, mask_pooler=build_pooler(output_size=14, strides=(4, 8)),
                      mask_head=MaskRCNNConvUpsampleHead(in_channels=4, num_classes=2, conv_dims=(4,)))
    if not keypoint:
        return StandardROIHeads(**common)
    return KeypointROIHeads(keypoint_in_features=LEVELS,
                            keypoint_pooler=build_pooler(op=keypoint_pool_op, output_size=7, strides=(4, 8)),
                            keypoint_head=KRCNNConvDeconvUpsampleHead(in_channels=4, num_keypoints=K, conv_dims=(4,)),
                            **common)


def _features():
    g = torch.Generator().manual_seed(1)
    return {"p2": torch.randn(1, 4, 16, 16, generator=g), "p3": torch.randn(1, 4, 8, 8, generator=g)}


def _target(empty: bool = False):
    boxes = torch.tensor([[4.0, 4.0, 40.0, 36.0]])
    masks = torch.zeros(1, 64, 64, dtype=torch.bool)
    masks[0, 4:36, 4:40] = True
    keypoints = torch.tensor([[[10.0, 10.0, 2], [35.0, 30.0, 2], [0.0, 0.0, 0]]])
    if empty:
        boxes, masks, keypoints = boxes[:0], masks[:0], keypoints[:0]
    return {"boxes": boxes, "classes": torch.ones(len(boxes), dtype=torch.long), "masks": masks,
            "keypoints": keypoints}


@pytest.mark.parametrize("mask,keypoint", [(False, False), (True, False), (False, True), (True, True)])
def test_roi_heads_run_every_branch_combination(mask, keypoint):
    heads = _heads(mask, keypoint)
    proposals = [torch.tensor([[4.0, 4.0, 40.0, 36.0], [6.0, 5.0, 38.0, 34.0], [40.0, 40.0, 60.0, 60.0]])]
    _, losses = heads.train()(_features(), proposals, [(64, 64)], [_target()])
    expected = {"loss_cls", "loss_box_reg"} | ({"loss_mask"} if mask else set()) | (
        {"loss_keypoint"} if keypoint else set())
    assert set(losses) == expected
    if keypoint:
        assert losses["loss_keypoint"].item() > 0
    detections, _ = heads.eval()(_features(), proposals, [(64, 64)])
    d = detections[0]
    assert ("mask_probs" in d) == mask and ("keypoints" in d) == keypoint
    if keypoint:
        assert d["keypoints"].shape == (len(d["boxes"]), K, 3) and len(d["boxes"]) > 0
        boxes = d["boxes"]
        inside = ((d["keypoints"][..., 0] >= boxes[:, None, 0]) & (d["keypoints"][..., 0] <= boxes[:, None, 2]))
        assert inside.all()  # decoded points lie in their boxes


def test_an_image_without_ground_truth_trains_with_a_zero_keypoint_loss():
    heads = _heads(mask=True, keypoint=True)
    proposals = [torch.tensor([[4.0, 4.0, 40.0, 36.0], [40.0, 40.0, 60.0, 60.0]])]
    _, losses = heads.train()(_features(), proposals, [(64, 64)], [_target(empty=True)])
    assert losses["loss_keypoint"].item() == 0.0
    sum(losses.values()).backward()  # every branch keeps a graph, as data parallel needs
    assert heads.keypoint_head.deconv.weight.grad is not None
    detections, _ = heads.eval()(_features(), [proposals[0][:0]], [(64, 64)])
    assert detections[0]["keypoints"].shape == (0, K, 3)


def test_keypoint_pooler_is_any_registered_pooler():
    heads = _heads(mask=False, keypoint=True, keypoint_pool_op="maskrcnn_ext.layers.ROIPool")
    _, losses = heads.train()(_features(), [torch.tensor([[4.0, 4.0, 40.0, 36.0]])], [(64, 64)], [_target()])
    assert torch.isfinite(losses["loss_keypoint"])


def test_keypoint_loss_decreases_when_training_the_branch():
    heads = _heads(mask=False, keypoint=True)
    optimizer = torch.optim.SGD(heads.parameters(), lr=0.05, momentum=0.9)
    proposals = [torch.tensor([[4.0, 4.0, 40.0, 36.0], [6.0, 5.0, 38.0, 34.0]])]
    values = []
    for _ in range(30):
        _, losses = heads.train()(_features(), proposals, [(64, 64)], [_target()])
        optimizer.zero_grad()
        losses["loss_keypoint"].backward()
        optimizer.step()
        values.append(losses["loss_keypoint"].item())
    assert values[-1] < 0.5 * values[0]


def test_detector_postprocess_rescales_keypoints_and_keeps_scores():
    detections = {"boxes": torch.tensor([[10.0, 10.0, 40.0, 30.0]]), "scores": torch.tensor([0.9]),
                  "classes": torch.tensor([0]), "keypoints": torch.tensor([[[20.0, 15.0, 0.7], [40.0, 30.0, 0.2]]])}
    out = detector_postprocess(detections, (50, 100), (100, 300))
    torch.testing.assert_close(out["keypoints"], torch.tensor([[[60.0, 30.0, 0.7], [120.0, 60.0, 0.2]]]))
