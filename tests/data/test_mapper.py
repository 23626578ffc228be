from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from maskrcnn_ext.data import DatasetMapper
from maskrcnn_ext.data.image_io import ImageReadError


@pytest.fixture
def record(tmp_path) -> dict:
    rng = np.random.default_rng(0)
    path = tmp_path / "img.png"
    Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(path)
    box = {"bbox": [2.0, 3.0, 10.0, 8.0], "bbox_mode": "XYXY_ABS", "category_id": 2, "iscrowd": 0, "area": 40.0,
           "segmentation": [[2, 3, 10, 3, 10, 8, 2, 8]]}  # fmt: skip
    crowd = {"bbox": [0.0, 0.0, 5.0, 5.0], "bbox_mode": "XYXY_ABS", "category_id": 0, "iscrowd": 1, "area": 25.0,
             "segmentation": {"size": [20, 30], "counts": [0, 5, 15, 5, 15, 5, 15, 5, 15, 5, 505]}}  # fmt: skip
    return {"file_name": str(path), "image_id": 7, "height": 20, "width": 30, "annotations": [box, crowd]}


def test_train_output_types_and_crowd_excluded(record):
    out = DatasetMapper(is_train=True, augmentations=[])(record)
    assert out["image"].dtype == torch.uint8 and out["image"].shape == (3, 20, 30)
    assert type(out["image"]) is torch.Tensor
    assert (out["height"], out["width"], out["image_id"]) == (20, 30, 7)
    assert out["file_name"] == record["file_name"]
    inst = out["instances"]
    assert inst["boxes"].dtype == torch.float32 and inst["boxes"].tolist() == [[2.0, 3.0, 10.0, 8.0]]
    assert inst["classes"].dtype == torch.int64 and inst["classes"].tolist() == [2]
    assert inst["masks"].dtype == torch.bool and inst["masks"].shape == (1, 20, 30)
    np.testing.assert_array_equal(out["image"].permute(1, 2, 0).numpy(), np.asarray(Image.open(record["file_name"])))


def test_eval_mode_has_no_instances(record):
    out = DatasetMapper(is_train=False, augmentations=[v2.Resize((40, 60))])(record)
    assert "instances" not in out
    assert out["image"].shape == (3, 40, 60) and (out["height"], out["width"]) == (20, 30)


def test_flip_moves_box_and_mask(record):
    plain = DatasetMapper(is_train=True, augmentations=[])(record)["instances"]["masks"][0]
    flipped = DatasetMapper(is_train=True, augmentations=[v2.RandomHorizontalFlip(p=1.0)])(record)
    # x0' = W - x1 = 30 - 10, x1' = W - x0 = 30 - 2
    assert flipped["instances"]["boxes"].tolist() == [[20.0, 3.0, 28.0, 8.0]]
    assert torch.equal(flipped["instances"]["masks"][0], plain.flip(-1))


def test_masks_and_boxes_consistent_after_resize(shapes200):
    _, records = shapes200
    mapper = DatasetMapper(is_train=True, augmentations=[v2.Resize((413, 371))])
    for record in records[:5]:
        out = mapper(record)
        inst = out["instances"]
        assert out["image"].shape == (3, 413, 371)
        assert inst["masks"].shape == (len(record["annotations"]), 413, 371)
        for box, mask in zip(inst["boxes"], inst["masks"]):
            ys, xs = torch.nonzero(mask, as_tuple=True)
            tight = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)
            assert torch.allclose(box, tight, atol=2.0), (box, tight)


def test_boxes_pushed_out_of_the_image_are_removed(record):
    # shift everything 25 px right: the 8-px-wide box at x 2..10 ends up outside the 30-px canvas
    shift = v2.RandomAffine(degrees=0, translate=(25 / 30, 0))
    mapper = DatasetMapper(is_train=True, augmentations=[shift])
    outs = [mapper(record, seed=s)["instances"] for s in range(20)]
    assert any(len(o["boxes"]) == 0 for o in outs)
    assert all(len(o["boxes"]) == len(o["masks"]) == len(o["classes"]) for o in outs)


def test_seeded_call_is_reproducible_and_leaves_global_rng(record):
    mapper = DatasetMapper(is_train=True, augmentations=[v2.RandomHorizontalFlip(), v2.RandomResize(20, 60)])
    state = torch.random.get_rng_state()
    runs = [mapper(record, seed=s) for s in (1, 1, 2, 3, 4)]
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(runs[0]["image"], runs[1]["image"])
    assert torch.equal(runs[0]["instances"]["boxes"], runs[1]["instances"]["boxes"])
    assert len({tuple(r["image"].shape) for r in runs}) > 1  # different seeds do differ


def test_size_mismatch_names_file_and_sizes(record):
    record = dict(record, height=21)
    with pytest.raises(ImageReadError, match=r"img\.png: decoded image size \(h=20, w=30\) differs .*\(h=21, w=30\)"):
        DatasetMapper(is_train=False, augmentations=[])(record)


def test_non_uint8_augmentation_is_rejected(record):
    mapper = DatasetMapper(is_train=False, augmentations=[v2.ToDtype(torch.float32, scale=True)])
    with pytest.raises(TypeError, match="must keep uint8"):
        mapper(record)
