import torch

from maskrcnn_ext.modeling.meta_arch import detector_postprocess


def test_postprocess_scales_boxes_and_pastes_masks_at_original_size():
    det = {"boxes": torch.tensor([[10.0, 10.0, 30.0, 20.0]]), "scores": torch.tensor([0.9]),
           "classes": torch.tensor([2]), "mask_probs": torch.ones(1, 28, 28)}
    out = detector_postprocess(det, (50, 100), (100, 200))
    torch.testing.assert_close(out["boxes"], torch.tensor([[20.0, 20.0, 60.0, 40.0]]))
    assert out["masks"].shape == (1, 100, 200)
    assert out["masks"][0].sum().item() == 40 * 20
    assert out["masks"][0, 20:40, 20:60].all()
    torch.testing.assert_close(out["mask_scores"], torch.tensor([0.9]))


def test_postprocess_clips_boxes_to_the_image():
    det = {"boxes": torch.tensor([[-5.0, 2.0, 120.0, 60.0]]), "scores": torch.tensor([0.5]),
           "classes": torch.tensor([0])}
    out = detector_postprocess(det, (50, 100), (50, 100))
    torch.testing.assert_close(out["boxes"], torch.tensor([[0.0, 2.0, 100.0, 50.0]]))
    assert "masks" not in out
