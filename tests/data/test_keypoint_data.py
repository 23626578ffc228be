"""Keypoint data: COCO person-keypoint loading, the mapper's keypoints, flips and image borders."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from maskrcnn_ext.data import DatasetMapper, MetadataCatalog, load_coco_json
from maskrcnn_ext.data.augmentations import RandomHorizontalFlip, SmallObjectCopyPaste
from maskrcnn_ext.data.keypoints import (
    COCO_PERSON_KEYPOINT_NAMES,
    COCO_PERSON_OKS_SIGMAS,
    flip_indices,
    infer_flip_map,
    keypoint_flip_indices,
)

NAMES = list(COCO_PERSON_KEYPOINT_NAMES)


def _person(ann_id, image_id, keypoints, bbox=(2.0, 3.0, 20.0, 14.0)):
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": list(bbox), "area": bbox[2] * bbox[3],
            "iscrowd": 0, "num_keypoints": sum(v > 0 for v in keypoints[2::3]), "keypoints": keypoints,
            "segmentation": [[2, 3, 22, 3, 22, 17, 2, 17]]}


@pytest.fixture
def person_json(tmp_path):
    """A 30x20 image with one person: nose (index 0) at pixel (4, 5), left_eye at (6, 7) occluded,
    right_eye at (12, 7), the rest unlabelled; and an annotation with 16 triplets (malformed)."""
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "a.png")
    keypoints = [0] * 51
    keypoints[0:3] = [4, 5, 2]
    keypoints[3:6] = [6, 7, 1]
    keypoints[6:9] = [12, 7, 2]
    skeleton = [[1, 2], [1, 3], [2, 3]]
    data = {"images": [{"id": 1, "file_name": "a.png", "height": 20, "width": 30}],
            "annotations": [_person(1, 1, keypoints), _person(2, 1, keypoints[:48])],
            "categories": [{"id": 1, "name": "person", "keypoints": NAMES, "skeleton": skeleton}]}
    path = tmp_path / "person_keypoints.json"
    path.write_text(json.dumps(data))
    return str(path), str(tmp_path)


def test_coco_person_keypoints_load_with_their_metadata(person_json):
    stats = {}
    records = load_coco_json(*person_json, dataset_name="kp_test_person", stats=stats)
    (ann,) = records[0]["annotations"]
    assert ann["keypoints"][:9] == [4.0, 5.0, 2.0, 6.0, 7.0, 1.0, 12.0, 7.0, 2.0] and ann["num_keypoints"] == 3
    assert stats["dropped"] == {"malformed keypoints": 1}
    meta = MetadataCatalog.get("kp_test_person")
    assert meta.keypoint_names == NAMES
    assert ("left_eye", "right_eye") in meta.keypoint_flip_map and len(meta.keypoint_flip_map) == 8
    assert meta.keypoint_connection_rules == [("nose", "left_eye"), ("nose", "right_eye"),
                                              ("left_eye", "right_eye")]
    assert meta.keypoint_oks_sigmas == list(COCO_PERSON_OKS_SIGMAS) and meta.keypoint_oks_sigmas[0] == pytest.approx(0.026)


def test_flip_indices_swap_left_and_right():
    assert infer_flip_map(["nose", "left_eye", "right_eye"]) == [("left_eye", "right_eye")]
    indices = flip_indices(NAMES, infer_flip_map(NAMES))
    assert indices[:5] == [0, 2, 1, 4, 3] and indices[-2:] == [16, 15]
    MetadataCatalog.get("kp_test_flip").set(keypoint_names=["a", "l", "r"], keypoint_flip_map=[("l", "r")])
    assert keypoint_flip_indices("kp_test_flip") == [0, 2, 1]


def test_mapper_gives_continuous_keypoints_and_drops_nothing_else(person_json):
    record = load_coco_json(*person_json)[0]
    inst = DatasetMapper(is_train=True, num_keypoints=17)(record)["instances"]
    assert inst["keypoints"].shape == (1, 17, 3) and inst["keypoints"].dtype == torch.float32
    # pixel indices + 0.5: the centre of pixel (4, 5) is at (4.5, 5.5) in continuous coordinates
    assert inst["keypoints"][0, :3].tolist() == [[4.5, 5.5, 2.0], [6.5, 7.5, 1.0], [12.5, 7.5, 2.0]]
    assert inst["keypoints"][0, 3:].abs().sum() == 0


def test_horizontal_flip_mirrors_and_swaps_left_and_right(person_json):
    record = load_coco_json(*person_json)[0]
    flip = RandomHorizontalFlip(p=1.0, flip_indices=flip_indices(NAMES, infer_flip_map(NAMES)))
    inst = DatasetMapper(is_train=True, num_keypoints=17, augmentations=[flip])(record)["instances"]
    kp = inst["keypoints"][0]
    # x' = 30 - x: the nose at pixel 4 (4.5) goes to pixel 25 (25.5); the occluded left eye at 6.5
    # becomes the right eye (index 2) at 23.5, the right eye at 12.5 the left eye (index 1) at 17.5
    assert kp[:3].tolist() == [[25.5, 5.5, 2.0], [17.5, 7.5, 2.0], [23.5, 7.5, 1.0]]
    assert inst["boxes"].tolist() == [[8.0, 3.0, 28.0, 17.0]]
    assert kp[3:].abs().sum() == 0  # unlabelled keypoints stay unlabelled at (0, 0)


def test_keypoints_leaving_the_image_under_a_crop_become_unlabelled(person_json):
    record = load_coco_json(*person_json)[0]
    out = DatasetMapper(is_train=True, num_keypoints=17, augmentations=[v2.CenterCrop((20, 16))])(record)
    kp = out["instances"]["keypoints"][0]
    # CenterCrop of width 16 out of 30 keeps x in [7, 23): the nose (4.5) and the left eye (6.5)
    # leave the image, the right eye (12.5) moves to 5.5
    assert kp[:3].tolist() == [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [5.5, 7.5, 2.0]]


def test_mapper_refuses_transforms_that_would_corrupt_keypoints():
    with pytest.raises(ValueError, match="cannot swap left and right"):
        DatasetMapper(is_train=True, num_keypoints=17, augmentations=[v2.RandomHorizontalFlip(p=0.5)])
    with pytest.raises(ValueError, match="not supported with keypoints"):
        DatasetMapper(is_train=True, num_keypoints=17, augmentations=[SmallObjectCopyPaste()])
    DatasetMapper(is_train=True, augmentations=[v2.RandomHorizontalFlip(p=0.5)])  # fine without keypoints


def test_an_image_without_annotations_has_no_keypoints(person_json):
    record = {**load_coco_json(*person_json)[0], "annotations": []}
    inst = DatasetMapper(is_train=True, num_keypoints=17)(record)["instances"]
    assert inst["keypoints"].shape == (0, 17, 3) and inst["boxes"].shape == (0, 4)


def test_the_flip_without_keypoints_is_a_plain_flip_and_coco_flips_are_known_before_loading(person_json):
    record = load_coco_json(*person_json)[0]
    inst = DatasetMapper(is_train=True, augmentations=[RandomHorizontalFlip(p=1.0)])(record)["instances"]
    assert inst["boxes"].tolist() == [[8.0, 3.0, 28.0, 17.0]] and "keypoints" not in inst
    # the builtin COCO person-keypoint names carry their flip map from registration, json unread
    assert keypoint_flip_indices("keypoints_coco_2017_train")[:3] == [0, 2, 1]


def test_a_keypoint_count_other_than_the_mapper_s_names_the_file(person_json):
    record = load_coco_json(*person_json)[0]
    with pytest.raises(ValueError, match=r"a\.png: an annotation has 51 keypoint values, expected 36"):
        DatasetMapper(is_train=True, num_keypoints=12)(record)
