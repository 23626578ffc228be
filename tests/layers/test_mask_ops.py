import torch
import torch.nn.functional as F

from maskrcnn_ext.layers.mask_ops import crop_and_resize_masks, paste_masks_in_image


def test_paste_full_mask_fills_exactly_the_box():
    out = paste_masks_in_image(torch.ones(1, 28, 28), torch.tensor([[10.0, 20.0, 30.0, 40.0]]), (50, 60))
    expected = torch.zeros(50, 60, dtype=torch.bool)
    expected[20:40, 10:30] = True
    assert out.dtype == torch.bool and out.shape == (1, 50, 60)
    assert torch.equal(out[0], expected)


def test_paste_left_half_mask():
    mask = torch.zeros(1, 28, 28)
    mask[:, :, :14] = 1.0
    out = paste_masks_in_image(mask, torch.tensor([[10.0, 20.0, 30.0, 40.0]]), (50, 60))
    cols = out[0].any(dim=0).nonzero().squeeze(1)
    assert cols.tolist() == list(range(10, 20))


def test_paste_clips_boxes_outside_image_and_handles_empty():
    out = paste_masks_in_image(torch.ones(2, 28, 28), torch.tensor([[-10.0, -10.0, 5.0, 5.0],
                                                                    [70.0, 70.0, 80.0, 80.0]]), (50, 60))
    assert out[0].sum().item() == 25  # rows/cols 0..4
    assert out[1].sum().item() == 0
    assert paste_masks_in_image(torch.zeros(0, 28, 28), torch.zeros(0, 4), (5, 6)).shape == (0, 5, 6)


def test_paste_equals_bilinear_grid_sampling_at_pixel_centres():
    # The definition the separable products implement: grid_sample (zeros outside, align_corners=False)
    # of the mask at each pixel centre expressed in box coordinates.
    torch.manual_seed(0)
    masks = torch.sigmoid(F.interpolate(torch.randn(30, 1, 7, 7) * 4, size=28, mode="bilinear"))[:, 0]
    corner = torch.rand(30, 2) * 140 - 20
    boxes = torch.cat([corner, corner + 0.5 + torch.rand(30, 2) * 90], dim=1)  # some cross the borders
    height, width = 120, 150
    expected = torch.zeros(30, height, width, dtype=torch.bool)
    ys, xs = torch.arange(height) + 0.5, torch.arange(width) + 0.5
    for i, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        gx = ((xs - x0) / (x1 - x0) * 2 - 1)[None].expand(height, width)
        gy = ((ys - y0) / (y1 - y0) * 2 - 1)[:, None].expand(height, width)
        inside = (gx.abs() <= 1 + 2 / (x1 - x0)) & (gy.abs() <= 1 + 2 / (y1 - y0))
        sampled = F.grid_sample(masks[i][None, None], torch.stack([gx, gy], -1)[None], align_corners=False)[0, 0]
        expected[i] = (sampled >= 0.5) & inside
    out = paste_masks_in_image(masks, boxes, (height, width))
    assert out.sum() > 1000
    assert (out != expected).sum().item() <= 2  # float rounding at the 0.5 threshold


def test_crop_and_resize_masks_targets():
    masks = torch.zeros(2, 20, 20, dtype=torch.bool)
    masks[0, :, :10] = True  # left half of the image
    masks[1] = True
    boxes = torch.tensor([[0.0, 0.0, 20.0, 20.0], [5.0, 5.0, 15.0, 15.0]])
    out = crop_and_resize_masks(masks, torch.tensor([0, 1]), boxes, 4)
    assert out.shape == (2, 4, 4)
    torch.testing.assert_close(out[0], torch.tensor([[1.0, 1.0, 0.0, 0.0]] * 4))
    torch.testing.assert_close(out[1], torch.ones(4, 4))
