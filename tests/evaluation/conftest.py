"""Fixtures: a small hand-written COCO dataset with non-contiguous category ids."""
from __future__ import annotations

import numpy as np
import pytest
from coco_fixtures import make_ann, uncompressed_rle, write_coco


@pytest.fixture
def coco_json(tmp_path) -> str:
    """Three images; image 10 has a small cat, a medium dog and a crowd cat region.

    Areas: cat 20x20=400 (small), dog 25x45=1125 (medium), dog 20x30=600 (small),
    cat 12x10=120 (small), cat 40x30=1200 (medium); nothing is large (> 96²).
    """
    crowd_mask = np.zeros((64, 64), dtype=bool)
    crowd_mask[50:60, 2:12] = True
    images = [
        {"id": 10, "file_name": "a.png", "height": 64, "width": 64},
        {"id": 20, "file_name": "b.png", "height": 48, "width": 80},
        {"id": 30, "file_name": "c.png", "height": 40, "width": 50},
    ]
    annotations = [
        make_ann(1, 10, 3, 10, 10, 30, 30),
        make_ann(2, 10, 7, 35, 5, 60, 50),
        make_ann(3, 10, 3, 2, 50, 12, 60, iscrowd=1, segmentation=uncompressed_rle(crowd_mask)),
        make_ann(4, 20, 7, 50, 10, 70, 40),
        make_ann(5, 20, 3, 5, 5, 17, 15),
        make_ann(6, 30, 3, 5, 5, 45, 35),
    ]
    return write_coco(tmp_path / "gt.json", images, annotations)
