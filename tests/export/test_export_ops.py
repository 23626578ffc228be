"""The export-safe pieces equal what eager inference uses."""
import torch
from torchvision.ops import batched_nms as tv_batched_nms

from maskrcnn_ext.export.ops import batched_nms, clip_boxes, first_k_per_group
from maskrcnn_ext.export.paste import paste_mask_probs
from maskrcnn_ext.layers.mask_ops import paste_masks_in_image


def _boxes(n, generator):
    xy = torch.rand((n, 2), generator=generator) * 100
    wh = torch.rand((n, 2), generator=generator) * 40 + 1
    return torch.cat([xy, xy + wh], dim=1)


def test_batched_nms_keeps_what_torchvision_keeps_best_first():
    generator = torch.Generator().manual_seed(0)
    boxes, scores = _boxes(300, generator), torch.rand(300, generator=generator)
    groups = torch.randint(0, 4, (300,), generator=generator)
    keep = batched_nms(boxes, scores, groups, 0.5)
    assert torch.equal(keep, tv_batched_nms(boxes, scores, groups, 0.5))
    assert torch.all(scores[keep][1:] <= scores[keep][:-1])
    assert batched_nms(boxes[:0], scores[:0], groups[:0], 0.5).shape == (0,)


def test_first_k_per_group_keeps_order_within_and_sorts_groups():
    groups = torch.tensor([2, 0, 2, 1, 0, 2, 0, 2])
    assert first_k_per_group(groups, 2, 3).tolist() == [1, 4, 3, 0, 2]
    assert first_k_per_group(groups[:0], 2, 3).tolist() == []


def test_clip_boxes_clips_each_box_to_its_own_image():
    boxes = torch.tensor([[-5.0, -5.0, 50.0, 50.0], [10.0, 10.0, 50.0, 50.0]])
    clipped = clip_boxes(boxes, torch.tensor([40, 20]), torch.tensor([30, 45]))
    assert clipped.tolist() == [[0.0, 0.0, 30.0, 40.0], [10.0, 10.0, 45.0, 20.0]]


def test_pasted_probabilities_threshold_to_the_eager_masks():
    generator = torch.Generator().manual_seed(1)
    masks = torch.rand((6, 28, 28), generator=generator)
    boxes = torch.cat([_boxes(5, generator), torch.tensor([[20.0, 20.0, 20.0, 30.0]])])  # one empty box
    probs = paste_mask_probs(masks, boxes, 120, 150)
    eager = paste_masks_in_image(masks, boxes, (120, 150), threshold=0.5)
    agree = ((probs >= 0.5) == eager).float().mean()
    assert probs.shape == (6, 120, 150) and agree > 0.9999 and not probs[5].any()
