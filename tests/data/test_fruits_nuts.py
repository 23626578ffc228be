"""Real photos with COCO polygons, when the shared fruits_nuts set is present (skipped otherwise)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from maskrcnn_ext.data import DatasetMapper, load_coco_json
from maskrcnn_ext.data.mapper import segmentation_to_mask


def _dataset_dir() -> Path:
    shared = os.environ.get("MASKRCNN_EXT_SHARED_DATASETS")
    base = Path(shared) if shared else Path(__file__).resolve().parents[3] / "shared" / "datasets"
    return base / "fruits_nuts"


@pytest.fixture(scope="module")
def records() -> list[dict]:
    root = _dataset_dir()
    if not (root / "trainval.json").is_file():
        pytest.skip(f"fruits_nuts dataset not found at {root}")
    stats: dict = {}
    recs = load_coco_json(str(root / "trainval.json"), str(root / "images"), stats=stats)
    assert stats["images"] == len(recs) > 0
    return recs


def test_polygons_decode_inside_their_boxes(records):
    for record in records[:3]:
        for ann in record["annotations"]:
            mask = segmentation_to_mask(ann["segmentation"], record["height"], record["width"])
            assert mask.sum() > 0
            ys, xs = np.nonzero(mask)
            x0, y0, x1, y1 = ann["bbox"]
            assert xs.min() >= x0 - 2 and xs.max() <= x1 + 2
            assert ys.min() >= y0 - 2 and ys.max() <= y1 + 2


def test_mapper_runs_on_real_photo(records):
    record = records[0]
    mapper = DatasetMapper(is_train=True, augmentations=[v2.RandomHorizontalFlip(), v2.Resize(200, max_size=300)])
    out = mapper(record, seed=0)
    assert out["image"].dtype == torch.uint8 and out["image"].shape[0] == 3
    assert min(out["image"].shape[1:]) == 200
    inst = out["instances"]
    assert len(inst["boxes"]) == len([a for a in record["annotations"] if not a["iscrowd"]])
    assert inst["masks"].shape == (len(inst["boxes"]), *out["image"].shape[1:])
    assert (inst["masks"].flatten(1).sum(1) > 0).all()
