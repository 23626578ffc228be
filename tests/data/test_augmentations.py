"""Instance augmentations inside the mapper: copy-paste with crowd regions, seeds, box bookkeeping."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from maskrcnn_ext.data import DatasetMapper
from maskrcnn_ext.data.augmentations import SmallObjectCopyPaste


@pytest.fixture
def record(tmp_path) -> dict:
    """A 40x60 image: a small 4x5 object (class 1), a large 20x30 one (class 2), a crowd region."""
    path = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(path)
    small = {"bbox": [2.0, 30.0, 7.0, 34.0], "category_id": 1, "iscrowd": 0,
             "segmentation": [[2, 30, 7, 30, 7, 34, 2, 34]]}
    large = {"bbox": [25.0, 5.0, 55.0, 25.0], "category_id": 2, "iscrowd": 0,
             "segmentation": [[25, 5, 55, 5, 55, 25, 25, 25]]}
    crowd = {"bbox": [0.0, 0.0, 20.0, 20.0], "category_id": 0, "iscrowd": 1,
             "segmentation": [[0, 0, 20, 0, 20, 20, 0, 20]]}
    return {"file_name": str(path), "image_id": 1, "height": 40, "width": 60, "annotations": [small, large, crowd]}


def paste(**kwargs):
    return SmallObjectCopyPaste(area_threshold=100, scale_range=(1.0, 1.0), max_rotation=0.0, **kwargs)


def test_copy_paste_in_the_mapper_adds_small_copies_away_from_crowd(record):
    out = DatasetMapper(is_train=True, augmentations=[paste(copies=3)])(record, seed=0)
    inst = out["instances"]
    assert inst["classes"].tolist() == [1, 2, 1, 1, 1]  # the crowd region never reaches the model
    assert inst["boxes"][:2].tolist() == [[2.0, 30.0, 7.0, 34.0], [25.0, 5.0, 55.0, 25.0]]
    crowd = torch.zeros(40, 60, dtype=torch.bool)
    crowd[:20, :20] = True
    for box, mask in zip(inst["boxes"][2:], inst["masks"][2:]):
        assert mask.sum() == 20 and not (mask & crowd).any()
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert box.tolist() == [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]
    assert (inst["masks"].sum(0) <= 1).all()


def test_copy_paste_is_reproducible_from_the_sample_seed(record):
    mapper = DatasetMapper(is_train=True, augmentations=[v2.RandomHorizontalFlip(), paste(copies=2)])
    a, b, c = mapper(record, seed=3), mapper(record, seed=3), mapper(record, seed=4)
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["instances"]["masks"], b["instances"]["masks"])
    assert not torch.equal(a["instances"]["masks"], c["instances"]["masks"])


def test_copy_paste_keeps_images_without_instances_or_with_only_crowd(record):
    mapper = DatasetMapper(is_train=True, augmentations=[paste(copies=2)])
    for annotations in ([], [record["annotations"][2]]):
        out = mapper({**record, "annotations": annotations}, seed=0)
        assert out["instances"]["boxes"].shape == (0, 4) and out["instances"]["masks"].shape == (0, 40, 60)


def test_copy_paste_needs_masks(record):
    with pytest.raises(TypeError, match="use_masks=True"):
        DatasetMapper(is_train=True, use_masks=False, augmentations=[paste()])(record, seed=0)


def test_probability_zero_changes_nothing(record):
    plain = DatasetMapper(is_train=True)(record, seed=0)
    out = DatasetMapper(is_train=True, augmentations=[paste(p=0.0)])(record, seed=0)
    assert torch.equal(out["image"], plain["image"])
    assert out["instances"]["classes"].tolist() == plain["instances"]["classes"].tolist() == [1, 2]


@pytest.fixture
def source_record(tmp_path) -> dict:
    """Another 40x60 image holding one 8x10 object of class 3."""
    path = tmp_path / "source.png"
    pixels = np.zeros((40, 60, 3), dtype=np.uint8)
    pixels[10:18, 20:30] = (0, 255, 0)
    Image.fromarray(pixels).save(path)
    thing = {"bbox": [20.0, 10.0, 30.0, 18.0], "category_id": 3, "iscrowd": 0,
             "segmentation": [[20, 10, 30, 10, 30, 18, 20, 18]]}
    return {"file_name": str(path), "image_id": 2, "height": 40, "width": 60, "annotations": [thing]}


def cross(source_record, **kwargs):
    from maskrcnn_ext.data.augmentations import CrossImageCopyPaste

    return CrossImageCopyPaste(dataset=[source_record], scale_range=(1.0, 1.0), blend_sigma=0.0, p=1.0, **kwargs)


def test_cross_image_paste_brings_the_other_images_instance_and_avoids_crowd(record, source_record):
    mapper = DatasetMapper(is_train=True, augmentations=[cross(source_record)])
    for seed in range(5):
        inst = mapper(record, seed=seed)["instances"]
        assert inst["classes"].tolist()[-1] == 3 and inst["masks"][-1].sum() == 80
        assert not inst["masks"][-1][:20, :20].any()  # the crowd region
        ys, xs = torch.nonzero(inst["masks"][-1], as_tuple=True)
        assert inst["boxes"][-1].tolist() == [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]
        for box, mask in zip(inst["boxes"][:-1], inst["masks"][:-1]):  # covered instances shrink to what is visible
            ys, xs = torch.nonzero(mask, as_tuple=True)
            assert box[0] <= xs.min() and box[2] >= xs.max() + 1


def test_cross_image_paste_is_seeded_and_does_not_pickle_its_records(record, source_record):
    import pickle

    transform = cross(source_record)
    mapper = DatasetMapper(is_train=True, augmentations=[transform])
    a, b = mapper(record, seed=1), mapper(record, seed=1)
    assert torch.equal(a["instances"]["masks"], b["instances"]["masks"]) and torch.equal(a["image"], b["image"])
    assert transform._records is not None and pickle.loads(pickle.dumps(transform))._records is None
