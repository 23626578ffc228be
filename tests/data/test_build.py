from __future__ import annotations

import itertools

import pytest
import torch
from torchvision.transforms import v2

from maskrcnn_ext.data import (
    DatasetMapper,
    build_test_loader,
    build_train_loader,
    get_dataset_records,
    register_shapes,
)


@pytest.fixture
def tiny_train(shapes_root, monkeypatch):
    monkeypatch.setenv("MASKRCNN_EXT_DATASETS", str(shapes_root))
    register_shapes(names=["shapes_tiny_train"])  # fresh registration: no cache from another root
    yield "shapes_tiny_train"
    monkeypatch.undo()
    register_shapes(names=["shapes_tiny_train"])


def _summary(batch):
    return [(d["image_id"], tuple(d["image"].shape), d["instances"]["boxes"].sum().item()) for d in batch]


def test_train_loader_batches_and_resume(tiny_train):
    mapper = DatasetMapper(is_train=True, augmentations=[v2.RandomHorizontalFlip(), v2.Resize(96, max_size=200)])
    loader = build_train_loader(dataset=tiny_train, mapper=mapper, total_batch_size=4, seed=3)
    batches = list(itertools.islice(loader, 3))
    for batch in batches:
        assert isinstance(batch, list) and len(batch) == 4
        assert len({d["image"].shape[2] >= d["image"].shape[1] for d in batch}) == 1  # one orientation
        for d in batch:
            assert d["image"].dtype == torch.uint8 and min(d["image"].shape[1:]) == 96
            assert d["instances"]["masks"].shape[1:] == d["image"].shape[1:]
    resumed = build_train_loader(dataset=tiny_train, mapper=mapper, total_batch_size=4, seed=3, start_iter=2)
    assert _summary(next(iter(resumed))) == _summary(batches[2])


def test_train_loader_filters_images_without_instances(shapes200, caplog):
    _, records = shapes200
    records = [dict(r) for r in records[:6]]
    records[0]["annotations"] = []
    records[1]["annotations"] = [dict(a, iscrowd=1) for a in records[1]["annotations"]]
    mapper = DatasetMapper(is_train=True, augmentations=[v2.Resize(64, max_size=96)])
    with caplog.at_level("INFO"):
        loader = build_train_loader(dataset=records, mapper=mapper, total_batch_size=2, aspect_ratio_grouping=False)
    assert "Removed 2 of 6 images" in caplog.text
    seen = {d["image_id"] for batch in itertools.islice(loader, 6) for d in batch}
    assert seen <= {r["image_id"] for r in records[2:]}


def test_test_loader_in_order_with_last_partial_batch(shapes200):
    _, records = shapes200
    mapper = DatasetMapper(is_train=False, augmentations=[])
    loader = build_test_loader(dataset=records[:5], mapper=mapper, batch_size=2)
    batches = list(loader)
    assert [len(b) for b in batches] == [2, 2, 1]
    assert [d["image_id"] for b in batches for d in b] == [r["image_id"] for r in records[:5]]
    assert "instances" not in batches[0][0]


def test_get_dataset_records_resolution_errors():
    with pytest.raises(ValueError, match="empty list"):
        get_dataset_records([])
    with pytest.raises(TypeError, match="not a mix"):
        get_dataset_records(["shapes_tiny_val", {"image_id": 1}])
    with pytest.raises(KeyError, match="'no_such_set' is not registered"):
        get_dataset_records("no_such_set")
