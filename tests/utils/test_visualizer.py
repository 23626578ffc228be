from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from maskrcnn_ext.utils.visualizer import (
    color_for,
    draw_ground_truth,
    draw_instances,
    save_image,
)

GRAY = 100


def gray_image(h: int = 96, w: int = 96) -> np.ndarray:
    return np.full((h, w, 3), GRAY, dtype=np.uint8)


def one_instance(score: float = 0.9, h: int = 96, w: int = 96) -> dict:
    mask = torch.zeros((1, h, w), dtype=torch.bool)
    mask[0, 50:80, 50:80] = True
    return {
        "boxes": torch.tensor([[50.0, 50.0, 80.0, 80.0]]),
        "scores": torch.tensor([score]),
        "classes": torch.tensor([1]),
        "masks": mask,
    }


def test_mask_pixels_are_blended_and_far_pixels_untouched():
    image = gray_image()
    out = draw_instances(image, one_instance(), class_names=["cat", "dog"], alpha=0.5)
    assert out.shape == (96, 96, 3) and out.dtype == np.uint8
    assert np.all(image == GRAY)  # the input is not modified
    # Inside the mask, away from its contour and the box: exactly the alpha blend of gray and color 0.
    expected = np.round(0.5 * GRAY + 0.5 * np.array(color_for(0), dtype=np.float64))
    assert np.array_equal(out[65, 65], expected.astype(np.uint8))
    # Far from the mask, the box and its label (drawn just above the box at x >= 50).
    assert np.all(out[:30, :40] == GRAY)
    assert np.all(out[85:, :40] == GRAY)
    # Box edge and label background are drawn.
    assert not np.array_equal(out[50, 60], [GRAY] * 3)
    assert not np.all(out[38:50, 52:90] == GRAY)


def test_instances_below_threshold_are_skipped():
    image = gray_image()
    out = draw_instances(image, one_instance(score=0.3), class_names=["cat", "dog"], score_thresh=0.5)
    assert np.array_equal(out, image)
    out = draw_instances(image, one_instance(score=0.3), class_names=["cat", "dog"], score_thresh=0.2)
    assert not np.array_equal(out, image)


def test_alpha_zero_leaves_mask_interior_and_numpy_inputs_work():
    inst = {k: v.numpy() for k, v in one_instance().items()}
    out = draw_instances(gray_image(), inst, class_names=["cat", "dog"], alpha=0.0)
    assert np.all(out[60:70, 60:70] == GRAY)


def test_color_by_class_and_by_instance():
    inst = {
        "boxes": torch.tensor([[5.0, 40, 25, 60], [60, 40, 80, 60]]),
        "scores": torch.tensor([0.9, 0.8]),
        "classes": torch.tensor([1, 1]),
        "masks": torch.zeros((2, 96, 96), dtype=torch.bool),
    }
    inst["masks"][0, 45:55, 10:20] = True
    inst["masks"][1, 45:55, 65:75] = True
    by_instance = draw_instances(gray_image(), inst, class_names=["cat", "dog"])
    assert not np.array_equal(by_instance[50, 15], by_instance[50, 70])
    by_class = draw_instances(gray_image(), inst, class_names=["cat", "dog"], color_by="class")
    assert np.array_equal(by_class[50, 15], by_class[50, 70])


def test_instances_without_masks_or_scores():
    inst = {"boxes": np.array([[50.0, 50.0, 80.0, 80.0]]), "classes": np.array([0])}
    out = draw_instances(gray_image(), inst, class_names=["cat"], score_thresh=0.99)
    assert np.all(out[60:70, 60:70] == GRAY)  # no fill inside the box
    assert not np.array_equal(out[50, 60], [GRAY] * 3)  # but the box is drawn


def test_ground_truth_from_record_annotations_with_polygon_rle_and_crowd():
    crowd = np.zeros((96, 96), dtype=np.uint8)
    crowd[5:15, 70:90] = 1
    flat = crowd.flatten(order="F")
    changes = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()  # starts with a zero run
    annotations = [
        {"bbox": [50.0, 50.0, 80.0, 80.0], "category_id": 0, "iscrowd": 0,
         "segmentation": [[50, 50, 80, 50, 80, 80, 50, 80]]},
        {"bbox": [70.0, 5.0, 90.0, 15.0], "category_id": 1, "iscrowd": 1,
         "segmentation": {"size": [96, 96], "counts": counts}},
    ]
    out = draw_ground_truth(gray_image(), annotations, ["cat", "dog"])
    assert out.shape == (96, 96, 3)
    assert not np.array_equal(out[65, 65], [GRAY] * 3)  # polygon filled
    assert not np.array_equal(out[10, 80], [GRAY] * 3)  # RLE filled
    assert np.all(out[20:40, 0:40] == GRAY)


def test_ground_truth_from_instances_dict():
    inst = one_instance()
    del inst["scores"]
    out = draw_ground_truth(gray_image(), inst, ["cat", "dog"])
    expected = np.round(0.5 * GRAY + 0.5 * np.array(color_for(0), dtype=np.float64)).astype(np.uint8)
    assert np.array_equal(out[65, 65], expected)


def test_bad_inputs_are_rejected_with_clear_errors():
    with pytest.raises(ValueError, match=r"uint8 RGB image of shape \(H, W, 3\), got float32"):
        draw_instances(np.zeros((8, 8, 3), np.float32), one_instance(), class_names=["a", "b"])
    with pytest.raises(ValueError, match=r"do not match the image size \(64, 64\)"):
        draw_instances(gray_image(64, 64), one_instance(), class_names=["a", "b"])
    with pytest.raises(ValueError, match="color_by"):
        draw_instances(gray_image(), one_instance(), class_names=["a", "b"], color_by="rainbow")


def test_save_image_round_trips_png(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
    path = tmp_path / "sub" / "x.png"
    save_image(str(path), image)
    assert np.array_equal(np.asarray(Image.open(path)), image)
