"""Keypoints and skeleton edges in the pictures."""
import numpy as np
import torch

from maskrcnn_ext.utils.visualizer import color_for, draw_ground_truth, draw_instances


def test_confident_keypoints_and_their_edges_are_drawn_and_unsure_ones_are_not():
    image = np.zeros((40, 60, 3), np.uint8)
    instances = {"boxes": torch.tensor([[5.0, 5.0, 30.0, 30.0]]), "classes": torch.tensor([0]),
                 "scores": torch.tensor([0.9]),
                 "keypoints": torch.tensor([[[10.5, 10.5, 0.5], [25.5, 20.5, 0.5], [50.5, 35.5, 0.01]]])}
    out = draw_instances(image, instances, class_names=["a"], keypoint_connections=[(0, 1), (1, 2)],
                         keypoint_threshold=0.05)
    assert out[10, 10].tolist() == out[20, 25].tolist() == [255, 255, 255]  # the two confident keypoints
    assert out[35, 50].tolist() == [0, 0, 0]  # below the threshold: no point, no edge to it
    # on the edge between the first two, in the instance's color (up to anti-aliasing)
    assert np.abs(out[15, 17].astype(int) - color_for(0)).max() < 30


def test_ground_truth_keypoints_from_a_record_are_drawn_at_their_pixels():
    image = np.zeros((40, 60, 3), np.uint8)
    annotation = {"bbox": [2.0, 2.0, 50.0, 35.0], "category_id": 0, "iscrowd": 0,
                  "keypoints": [40, 30, 2, 0, 0, 0]}  # json pixel indices; the second is unlabelled
    out = draw_ground_truth(image, [annotation], ["a"])
    assert out[30, 40].tolist() == [255, 255, 255] and out[0, 0].tolist() == [0, 0, 0]
