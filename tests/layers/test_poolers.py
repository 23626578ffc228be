import pytest
import torch
from torchvision.ops import roi_align

from maskrcnn_ext.layers.poolers import ROIAlign, assign_boxes_to_levels, boxes_to_rois, build_pooler
from maskrcnn_ext.registry import POOLER_REGISTRY, build_from_registry
from pooler_helpers import ramp


@pytest.mark.parametrize("aligned, expected", [
    (True, [[2.5, 4.5], [10.5, 12.5]]),   # samples at indices 0,1 | 2,3 -> bin means 0.5 / 2.5
    (False, [[5.0, 7.0], [13.0, 15.0]]),  # no half-pixel shift: indices 0.5,1.5 | 2.5,3.5
])
def test_roi_align_hand_computed(aligned, expected):
    op = ROIAlign(output_size=2, spatial_scale=1.0, sampling_ratio=2, aligned=aligned)
    out = op(ramp(), torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0]]))
    assert out.shape == (1, 1, 2, 2)
    torch.testing.assert_close(out[0, 0], torch.tensor(expected))


def test_roi_align_spatial_scale_halves_coordinates():
    op = ROIAlign(output_size=2, spatial_scale=0.5, sampling_ratio=2, aligned=True)
    out = op(ramp(), torch.tensor([[0.0, 0.0, 0.0, 8.0, 8.0]]))
    torch.testing.assert_close(out[0, 0], torch.tensor([[2.5, 4.5], [10.5, 12.5]]))


def test_level_assignment():
    sides = torch.tensor([224.0, 112.0, 56.0, 448.0, 10.0, 2000.0, 223.0])
    boxes = torch.stack([torch.zeros(7), torch.zeros(7), sides, sides], dim=1)
    levels = assign_boxes_to_levels(boxes, min_level=2, max_level=5)
    # 224 -> P4, halving the side drops one level; clamped to [P2, P5]; 223 is just below P4.
    assert levels.tolist() == [2, 1, 0, 3, 0, 3, 1]


def test_boxes_to_rois_batch_index():
    rois = boxes_to_rois([torch.ones(2, 4), torch.zeros(1, 4)])
    assert rois[:, 0].tolist() == [0, 0, 1]
    assert rois.shape == (3, 5)


def test_multilevel_pooler_uses_matching_level():
    torch.manual_seed(0)
    pooler = build_pooler(output_size=7, strides=(4, 8), sampling_ratio=2, canonical_level=3,
                          canonical_box_size=112)
    features = [torch.randn(2, 3, 32, 32), torch.randn(2, 3, 16, 16)]
    small = torch.tensor([[0.0, 0.0, 50.0, 50.0]])     # below canonical -> finest level (stride 4)
    large = torch.tensor([[4.0, 4.0, 124.0, 124.0]])   # canonical size -> stride 8
    out = pooler(features, [small, large])
    assert out.shape == (2, 3, 7, 7)
    expect_small = roi_align(features[0], [small], 7, 1 / 4, 2, True)
    expect_large = roi_align(features[1][1:], [large], 7, 1 / 8, 2, True)
    torch.testing.assert_close(out[0:1], expect_small)
    torch.testing.assert_close(out[1:2], expect_large)
    # Channels-last maps (channels-last inference) give the same values, in their own layout.
    with torch.no_grad():
        nhwc = pooler([f.contiguous(memory_format=torch.channels_last) for f in features], [small, large])
    assert nhwc.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous(
        memory_format=torch.channels_last)
    torch.testing.assert_close(nhwc, out)


def test_pooler_rejects_level_count_mismatch():
    pooler = build_pooler(output_size=7, strides=(4, 8))
    with pytest.raises(ValueError, match="2 levels but got 1"):
        pooler([torch.zeros(1, 1, 8, 8)], [torch.zeros(1, 4)])


def test_unknown_pooler_lists_registered_names():
    with pytest.raises(KeyError, match="ROIAlign"):
        build_from_registry(POOLER_REGISTRY, "ROIAlgn", output_size=7, spatial_scale=1.0)


def test_pooler_op_is_an_import_path_or_a_class():
    from maskrcnn_ext.layers import ROIPool

    by_path = build_pooler(op="maskrcnn_ext.layers.ROIPool", output_size=7, strides=(4, 8))
    by_class = build_pooler(op=ROIPool, output_size=7, strides=(4, 8))
    assert [type(op) for op in by_path.level_ops] == [type(op) for op in by_class.level_ops] == [ROIPool, ROIPool]
    assert [op.spatial_scale for op in by_path.level_ops] == [0.25, 0.125]
    with pytest.raises(ValueError, match="op='maskrcnn_ext.layers.ROIPool'"):
        build_pooler(op="ROIPool", output_size=7, strides=(4,))
    with pytest.raises(ImportError, match="maskrcnn_ext.layers.NoSuchPooler"):
        build_pooler(op="maskrcnn_ext.layers.NoSuchPooler", output_size=7, strides=(4,))
