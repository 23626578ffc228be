import pytest
import torch
from torchvision.ops import roi_align

from maskrcnn_ext.layers.pooler_variants import ROIPool, ROIWarp, bin_samples
from maskrcnn_ext.layers.poolers import ROIAlign, build_pooler
from maskrcnn_ext.registry import POOLER_REGISTRY, build_from_registry
from pooler_helpers import ramp


@pytest.mark.parametrize("aligned", [True, False])
def test_averaged_samples_are_torchvision_roi_align(aligned):
    g = torch.Generator().manual_seed(0)
    features = torch.randn(2, 3, 20, 24, generator=g)
    corner = torch.rand(30, 2, generator=g) * 110 - 10
    rois = torch.cat([torch.randint(0, 2, (30, 1), generator=g).float(), corner,
                      corner + torch.rand(30, 2, generator=g) * 60 + 0.5], dim=1)
    samples = bin_samples(features, rois, output_size=5, spatial_scale=0.25, sampling_ratio=2, aligned=aligned)
    assert samples.shape == (30, 3, 5, 5, 4)
    torch.testing.assert_close(samples.mean(-1), roi_align(features, rois, 5, 0.25, 2, aligned))


def test_max_roi_align_hand_computed():
    # Aligned samples at x, y in {0, 1} | {2, 3}: the max of x + 4y over a bin is at its last sample.
    op = ROIAlign(output_size=2, spatial_scale=1.0, sampling_ratio=2, aggregate="max")
    out = op(ramp(), torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0]]))
    torch.testing.assert_close(out[0, 0], torch.tensor([[5.0, 7.0], [13.0, 15.0]]))


@pytest.mark.parametrize("aggregate, expected", [
    ("avg", [[5.0, 7.0], [13.0, 15.0]]),   # samples at 0.5, 1.5 | 2.5, 3.5 on each axis
    ("max", [[7.5, 9.5], [15.5, 17.5]]),
])
def test_roi_warp_rounds_the_roi_then_samples(aggregate, expected):
    op = ROIWarp(output_size=2, spatial_scale=1.0, sampling_ratio=2, aggregate=aggregate)
    # (0.3, 0.4, 3.6, 3.7) rounds to (0, 0, 4, 4) on the feature grid
    out = op(ramp(), torch.tensor([[0.0, 0.3, 0.4, 3.6, 3.7]]))
    torch.testing.assert_close(out[0, 0], torch.tensor(expected))


def test_roi_pool_hand_computed():
    # Corners (0, 0)-(3, 3) cover cells 0..3: bins {0, 1} and {2, 3}; max at each bin's last cell.
    out = ROIPool(output_size=2, spatial_scale=1.0)(ramp(), torch.tensor([[0.0, 0.0, 0.0, 3.0, 3.0]]))
    torch.testing.assert_close(out[0, 0], torch.tensor([[5.0, 7.0], [13.0, 15.0]]))


@pytest.mark.parametrize("shift", [0.25, 0.5, 0.75])
def test_roi_align_is_translation_equivariant_where_quantizing_poolers_are_not(shift):
    # On f(x, y) = x a box moved right by a sub-pixel shift must read values larger by exactly the shift.
    features = ramp(16, 16, slope_y=0.0)  # f = x
    box = torch.tensor([[0.0, 3.0, 3.0, 11.0, 11.0]])
    moved = box + torch.tensor([[0.0, shift, 0.0, shift, 0.0]])
    poolers = {
        "align_avg": ROIAlign(output_size=4, spatial_scale=1.0, sampling_ratio=2),
        "align_max": ROIAlign(output_size=4, spatial_scale=1.0, sampling_ratio=2, aggregate="max"),
        "pool": ROIPool(output_size=4, spatial_scale=1.0),
        "warp": ROIWarp(output_size=4, spatial_scale=1.0),
    }
    change = {name: op(features, moved) - op(features, box) for name, op in poolers.items()}
    torch.testing.assert_close(change["align_avg"], torch.full_like(change["align_avg"], shift))
    torch.testing.assert_close(change["align_max"], torch.full_like(change["align_max"], shift))
    for name in ("pool", "warp"):  # rounding moves them by 0 or 1 cell, never by the shift
        assert set(change[name].unique().tolist()) <= {0.0, 1.0}


def test_variants_are_registered_and_differentiable():
    features = torch.randn(1, 2, 12, 12, requires_grad=True)
    rois = torch.tensor([[0.0, 2.0, 3.0, 30.0, 40.0]])
    for name, extra in [("ROIPool", {}), ("ROIWarp", {"aggregate": "avg"}),
                        ("ROIAlign", {"sampling_ratio": 2, "aggregate": "max"})]:
        op = build_from_registry(POOLER_REGISTRY, name, output_size=3, spatial_scale=0.25, **extra)
        out = op(features, rois)
        assert out.shape == (1, 2, 3, 3)
        (grad,) = torch.autograd.grad(out.sum(), features)
        assert grad.abs().sum() > 0


def test_multilevel_pooler_builds_any_variant_by_name():
    pooler = build_pooler(op="maskrcnn_ext.layers.ROIWarp", output_size=7, strides=(4, 8), sampling_ratio=2, aggregate="avg")
    features = [torch.randn(2, 3, 16, 16), torch.randn(2, 3, 8, 8)]
    out = pooler(features, [torch.tensor([[4.0, 4.0, 20.0, 20.0]]), torch.tensor([[0.0, 0.0, 60.0, 60.0]])])
    assert out.shape == (2, 3, 7, 7)
    assert [type(op).__name__ for op in pooler.level_ops] == ["ROIWarp", "ROIWarp"]


def test_bad_aggregation_settings_are_refused():
    with pytest.raises(ValueError, match="aggregate must be one of"):
        ROIWarp(output_size=7, spatial_scale=0.25, aggregate="median")
    with pytest.raises(ValueError, match="needs sampling_ratio > 0"):
        ROIAlign(output_size=7, spatial_scale=0.25, sampling_ratio=0, aggregate="max")


@pytest.mark.parametrize("op", [ROIPool(output_size=2, spatial_scale=1.0),
                                ROIWarp(output_size=2, spatial_scale=1.0, aggregate="avg"),
                                ROIAlign(output_size=2, spatial_scale=1.0, sampling_ratio=2, aggregate="max")])
def test_zero_rois_give_an_empty_output(op):
    # Inference on an image with no detections pools zero RoIs.
    out = op(torch.rand(1, 3, 8, 8), torch.zeros(0, 5))
    assert out.shape == (0, 3, 2, 2)
