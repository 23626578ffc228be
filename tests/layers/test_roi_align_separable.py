import pytest
import torch
from torchvision.ops import roi_align

from maskrcnn_ext.layers.poolers import ROIAlign
from maskrcnn_ext.layers.roi_align_separable import roi_align_channels_last, roi_align_separable


def random_rois(n, *, max_side, generator):
    """RoIs over a 2-image batch of 352x288 px images, some hanging over or lying outside the edges."""
    corner = torch.rand(n, 2, generator=generator) * 400 - 40
    size = torch.rand(n, 2, generator=generator) * max_side + 0.3
    index = torch.randint(0, 2, (n, 1), generator=generator).float()
    return torch.cat([index, corner, corner + size], dim=1)


@pytest.mark.parametrize("output_size, sampling_ratio, aligned", [
    (7, 2, True), (14, 2, True), (7, 0, True), (7, 2, False), (5, 3, False), (7, 0, False),
])
@pytest.mark.parametrize("max_side", [24.0, 160.0])
def test_matches_torchvision_values_and_gradients(output_size, sampling_ratio, aligned, max_side):
    g = torch.Generator().manual_seed(0)
    features = torch.randn(2, 3, 72, 88, generator=g, dtype=torch.float64, requires_grad=True)
    rois = random_rois(40, max_side=max_side, generator=g).double()
    args = (output_size, 0.25, sampling_ratio, aligned)
    expected = roi_align(features, rois, *args)
    out = roi_align_separable(features, rois, *args)
    torch.testing.assert_close(out, expected)
    upstream = torch.randn(expected.shape, generator=g, dtype=torch.float64)
    (grad_expected,) = torch.autograd.grad(expected, features, upstream)
    (grad,) = torch.autograd.grad(out, features, upstream)
    torch.testing.assert_close(grad, grad_expected)


def test_gradient_of_one_bin_hand_computed():
    # One 1x1 bin over [0, 3) px, aligned (shifted by -0.5): its 2x2 samples sit at 0.25 and 1.75 on
    # each axis, i.e. 0.75/0.25 of cells 0/1 and 0.25/0.75 of cells 1/2; averaged: (3/8, 1/4, 3/8).
    features = torch.zeros(1, 1, 4, 4, requires_grad=True)
    out = roi_align_separable(features, torch.tensor([[0.0, 0.0, 0.0, 3.0, 3.0]]), 1, 1.0, 2, True)
    (grad,) = torch.autograd.grad(out.sum(), features)
    axis = torch.tensor([0.375, 0.25, 0.375, 0.0])
    torch.testing.assert_close(grad[0, 0], axis[:, None] * axis[None, :])


def test_no_rois_gives_empty_output_and_zero_gradient():
    features = torch.randn(1, 4, 8, 8, requires_grad=True)
    out = roi_align_separable(features, torch.zeros(0, 5), 7, 0.25, 2, True)
    assert out.shape == (0, 4, 7, 7)
    (grad,) = torch.autograd.grad(out.sum(), features)
    assert grad.shape == features.shape and not grad.any()


def test_roi_align_module_chooses_implementation():
    features = torch.randn(1, 2, 16, 16, requires_grad=True)
    rois = torch.tensor([[0.0, 3.0, 4.0, 40.0, 30.0]])
    grads = {}
    for impl in ("auto", "separable", "torchvision"):
        op = ROIAlign(output_size=7, spatial_scale=0.25, sampling_ratio=2, impl=impl)
        grads[impl] = torch.autograd.grad(op(features, rois).square().sum(), features)[0]
    torch.testing.assert_close(grads["separable"], grads["torchvision"])
    auto = ROIAlign(output_size=7, spatial_scale=0.25)
    nhwc = features.detach().contiguous(memory_format=torch.channels_last)
    assert auto._op(features) is roi_align_separable
    assert auto._op(features.half()) is roi_align
    assert auto._op(features.detach()) is roi_align  # inference on an NCHW map
    assert auto._op(nhwc) is roi_align_channels_last  # channels-last inference
    assert ROIAlign(output_size=7, spatial_scale=0.25, impl="torchvision")._op(nhwc) is roi_align
    with torch.no_grad():
        assert auto._op(features) is roi_align
    with pytest.raises(ValueError, match="impl must be one of"):
        ROIAlign(output_size=7, spatial_scale=0.25, impl="cuda")


@pytest.mark.parametrize("output_size, sampling_ratio, aligned", [(7, 2, True), (14, 0, True), (5, 3, False)])
@pytest.mark.parametrize("max_side", [24.0, 160.0])
def test_channels_last_forward_matches_torchvision(output_size, sampling_ratio, aligned, max_side):
    g = torch.Generator().manual_seed(1)
    features = torch.randn(2, 5, 72, 88, generator=g, dtype=torch.float64)
    rois = random_rois(60, max_side=max_side, generator=g).double()
    rois[:3, 3:] = rois[:3, 1:3]  # empty boxes
    args = (output_size, 0.25, sampling_ratio, aligned)
    out = roi_align_channels_last(features.contiguous(memory_format=torch.channels_last), rois, *args)
    torch.testing.assert_close(out, roi_align(features, rois, *args))
    assert roi_align_channels_last(features, rois[:0], *args).shape == (0, 5, output_size, output_size)


def test_channels_last_forward_of_one_bin_hand_computed():
    # The 1x1 bin of the gradient test above averages cells with weights (3/8, 1/4, 3/8) per axis.
    features = torch.arange(16.0).reshape(1, 1, 4, 4).contiguous(memory_format=torch.channels_last)
    out = roi_align_channels_last(features, torch.tensor([[0.0, 0.0, 0.0, 3.0, 3.0]]), 1, 1.0, 2, True)
    axis = torch.tensor([0.375, 0.25, 0.375, 0.0])
    torch.testing.assert_close(out[0, 0, 0, 0], (axis[:, None] * axis[None, :] * features[0, 0]).sum())


def test_a_bfloat16_channels_last_map_is_pooled_in_bfloat16_at_full_precision_positions():
    g = torch.Generator().manual_seed(3)
    # RoIs far from the origin, where bfloat16 coordinates would be off by whole pixels.
    rois = random_rois(30, max_side=60.0, generator=g)
    rois[:, 1:] += torch.tensor([600.0, 500.0, 600.0, 500.0])
    op = ROIAlign(output_size=7, spatial_scale=0.25, sampling_ratio=2)
    features = torch.randn(2, 16, 200, 184, generator=g)
    expected = roi_align(features, rois, 7, 0.25, 2, True)
    reduced = features.bfloat16().contiguous(memory_format=torch.channels_last)
    assert op._op(reduced) is roi_align_channels_last
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = op(reduced, rois)
    assert out.dtype == torch.bfloat16
    # The map's own rounding (2^-9 relative) and bfloat16 products; misplaced samples would differ by O(1).
    torch.testing.assert_close(out.float(), expected, atol=0.03, rtol=0.02)
    assert op._op(reduced.requires_grad_()) is roi_align  # training: torchvision's kernel, in float32


def test_channels_last_path_under_autocast_and_for_ambiguous_layouts():
    g = torch.Generator().manual_seed(2)
    rois = random_rois(20, max_side=80.0, generator=g)
    op = ROIAlign(output_size=7, spatial_scale=0.25, sampling_ratio=2)
    features = torch.randn(2, 8, 72, 88, generator=g)
    expected = roi_align(features, rois, 7, 0.25, 2, True)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = op(features.contiguous(memory_format=torch.channels_last), rois)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)
    one_channel = torch.randn(2, 1, 72, 88, generator=g)  # NCHW and channels-last at once
    assert op._op(one_channel) is roi_align
