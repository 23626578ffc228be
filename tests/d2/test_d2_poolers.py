"""ExtROIPooler: detectron2's ROIPooler interface with the toolkit's pooling operators."""
import pytest

pytest.importorskip("detectron2")

import torch
from detectron2.modeling.poolers import ROIPooler, assign_boxes_to_levels
from detectron2.structures import Boxes

from maskrcnn_ext.d2 import ExtROIPooler
from maskrcnn_ext.layers.poolers import build_pooler

SCALES = (1 / 4, 1 / 8, 1 / 16, 1 / 32)
# Sizes (sqrt of area) of about 34, 150, 250 and 505 px: one box on each FPN level.
BOXES = [Boxes(torch.tensor([[10.0, 10.0, 40.0, 50.0], [20.0, 30.0, 170.0, 180.0], [3.0, 3.0, 253.0, 250.0],
                             [-100.0, -90.0, 400.0, 420.0]])),
         Boxes(torch.tensor([[50.5, 60.2, 90.7, 200.1], [5.0, 5.0, 130.0, 140.0]]))]


def pyramid(requires_grad: bool = False) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(2, 4, 256 // s, 256 // s, generator=generator).requires_grad_(requires_grad)
            for s in (4, 8, 16, 32)]


def test_the_boxes_reach_every_level():
    assert set(assign_boxes_to_levels(BOXES, 2, 5, 224, 4).tolist()) == {0, 1, 2, 3}


@pytest.mark.parametrize("pooler_type, sampling_ratio", [("ROIAlignV2", 0), ("ROIAlignV2", 2), ("ROIAlign", 2),
                                                         ("ROIPool", 0)])
def test_same_output_and_gradients_as_detectron2_where_the_types_coincide(pooler_type, sampling_ratio):
    ours, theirs = pyramid(requires_grad=True), pyramid(requires_grad=True)
    out = ExtROIPooler(7, SCALES, sampling_ratio, pooler_type)(ours, BOXES)
    expected = ROIPooler(7, SCALES, sampling_ratio, pooler_type)(theirs, BOXES)
    assert out.shape == (6, 4, 7, 7)
    torch.testing.assert_close(out, expected)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("pooler_type, op", [
    ("ROIWarp", dict(op="maskrcnn_ext.layers.ROIWarp", aggregate="max")),
    ("ROIWarpAvg", dict(op="maskrcnn_ext.layers.ROIWarp", aggregate="avg")),
    ("ROIAlignMax", dict(op="maskrcnn_ext.layers.ROIAlign", aligned=False, aggregate="max")),
    ("ROIAlignV2Max", dict(op="maskrcnn_ext.layers.ROIAlign", aligned=True, aggregate="max")),
])
def test_variants_equal_the_toolkits_own_multi_level_pooler(pooler_type, op):
    features = pyramid()
    engine = build_pooler(output_size=14, strides=(4, 8, 16, 32), sampling_ratio=2, **op)
    torch.testing.assert_close(ExtROIPooler(14, SCALES, 2, pooler_type)(features, BOXES),
                               engine(features, [b.tensor for b in BOXES]))


def test_max_aggregation_takes_the_largest_of_the_samples_the_average_uses():
    features = pyramid()
    average = ExtROIPooler(7, SCALES, 2, "ROIAlignV2")(features, BOXES)
    maximum = ExtROIPooler(7, SCALES, 2, "ROIAlignV2Max")(features, BOXES)
    assert (maximum >= average - 1e-5).all() and (maximum > average + 1e-3).float().mean() > 0.5


def test_an_image_without_boxes():
    boxes = [Boxes(torch.zeros(0, 4)), BOXES[1]]
    out = ExtROIPooler(7, SCALES, 2, "ROIWarp")(pyramid(), boxes)
    assert out.shape == (2, 4, 7, 7)
    torch.testing.assert_close(ExtROIPooler(7, SCALES, 0, "ROIAlignV2")(pyramid(), boxes),
                               ROIPooler(7, SCALES, 0, "ROIAlignV2")(pyramid(), boxes))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="Unknown pooler_type 'ROIAlignMean'"):
        ExtROIPooler(7, SCALES, 2, "ROIAlignMean")
    with pytest.raises(ValueError, match="sampling_ratio > 0"):
        ExtROIPooler(7, SCALES, 0, "ROIWarp")
    with pytest.raises(ValueError, match="square"):
        ExtROIPooler((7, 9), SCALES, 2, "ROIWarp")


@pytest.mark.parametrize("pooler_type, op", [
    ("ROIWarp", dict(op="maskrcnn_ext.layers.ROIWarp", aggregate="max")),
    ("ROIAlignV2Max", dict(op="maskrcnn_ext.layers.ROIAlign", aligned=True, aggregate="max")),
    ("ROIAlignV2", dict(op="maskrcnn_ext.layers.ROIAlign", aligned=True)),
])
@pytest.mark.parametrize("strides", [(4, 8, 16, 32), (16,)], ids=["FPN", "C4"])
def test_same_outputs_and_gradients_as_the_engines_pooler_in_float64(pooler_type, op, strides):
    """The engine's multi-level pooler and ExtROIPooler, in float64 and on one level as in C4 heads."""
    generator = torch.Generator().manual_seed(2)
    maps = [torch.randn(2, 3, 256 // s, 256 // s, generator=generator, dtype=torch.float64) for s in strides]
    ours, theirs = ([m.clone().requires_grad_() for m in maps] for _ in range(2))
    out = ExtROIPooler(7, [1 / s for s in strides], 2, pooler_type)(ours, BOXES)
    engine = build_pooler(output_size=7, strides=strides, sampling_ratio=2, **op)
    expected = engine(theirs, [b.tensor.double() for b in BOXES])
    assert out.dtype == torch.float64 and out.shape == (6, 3, 7, 7)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    weights = torch.randn(out.shape, generator=generator, dtype=torch.float64)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-12)
