from __future__ import annotations

import json
import logging

import numpy as np
import pycocotools.mask as mask_util
import pytest

from maskrcnn_ext.data import MetadataCatalog, load_coco_json
from maskrcnn_ext.data.mapper import segmentation_to_mask


def _rle_mask() -> np.ndarray:
    mask = np.zeros((20, 30), np.uint8)
    mask[5:9, 10:16] = 1  # 4 x 6 = 24 pixels
    return mask


def _uncompressed_counts(mask: np.ndarray) -> list[int]:
    flat = mask.flatten(order="F")  # COCO RLE runs go down columns
    counts, current, run = [], 0, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return counts


def _toy_json(tmp_path, **overrides) -> str:
    mask = _rle_mask()
    compressed = mask_util.encode(np.asfortranarray(mask))
    data = {
        "images": [
            {"id": 1, "file_name": "a.png", "height": 20, "width": 30},
            {"id": 2, "file_name": "b.png", "height": 10, "width": 10},
        ],
        # unsorted, non-contiguous ids: the mapping must follow sorted ids
        "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 3, 4],
             "segmentation": [[1, 2, 4, 2, 4, 6, 1, 6]], "area": 12.0, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 3, "bbox": [10, 5, 6, 4], "iscrowd": 1, "area": 24.0,
             "segmentation": {"size": [20, 30], "counts": _uncompressed_counts(mask)}},
            {"id": 3, "image_id": 1, "category_id": 3, "bbox": [10, 5, 6, 4], "iscrowd": 0, "area": 24.0,
             "segmentation": {"size": [20, 30], "counts": compressed["counts"].decode("ascii")}},
            {"id": 4, "image_id": 1, "category_id": 3, "bbox": [0, 0, 0, 5],
             "segmentation": [[0, 0, 1, 0, 1, 1]], "area": 1.0, "iscrowd": 0},
            {"id": 5, "image_id": 2, "category_id": 7, "bbox": [1, 1, 4, 4],
             "segmentation": [[1, 1, 5, 5]], "area": 3.0, "iscrowd": 0},
            {"id": 6, "image_id": 2, "category_id": 3, "bbox": [0, 0, 4, 4],
             "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4], [1, 1, 2, 2]], "area": 16.0, "iscrowd": 0},
            {"id": 7, "image_id": 2, "category_id": 3, "bbox": [0, 0, 4, 4],
             "segmentation": [[0, 0, 4, 0, 4]], "area": 16.0, "iscrowd": 0},
        ],
    }  # fmt: skip
    data.update(overrides)
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_records_values_mapping_and_drop_counts(tmp_path, caplog):
    stats: dict = {}
    with caplog.at_level(logging.INFO, logger="maskrcnn_ext.data.coco"):
        records = load_coco_json(
            _toy_json(tmp_path), str(tmp_path / "imgs"), dataset_name="toy_coco_load", stats=stats
        )
    try:
        assert [r["image_id"] for r in records] == [1, 2]
        assert records[0]["file_name"] == str(tmp_path / "imgs" / "a.png")
        assert (records[0]["height"], records[0]["width"]) == (20, 30)
        first, crowd, rle = records[0]["annotations"]
        assert first["bbox"] == [1.0, 2.0, 4.0, 6.0]  # XYWH [1,2,3,4] -> XYXY
        assert first["bbox_mode"] == "XYXY_ABS"
        assert first["category_id"] == 1  # json id 7 is the 2nd sorted id
        assert rle["category_id"] == 0 and crowd["category_id"] == 0
        assert crowd["iscrowd"] == 1 and rle["iscrowd"] == 0
        assert isinstance(crowd["segmentation"]["counts"], list)
        assert isinstance(rle["segmentation"]["counts"], str)
        np.testing.assert_array_equal(segmentation_to_mask(crowd["segmentation"], 20, 30), _rle_mask())
        np.testing.assert_array_equal(segmentation_to_mask(rle["segmentation"], 20, 30), _rle_mask())
        (kept,) = records[1]["annotations"]
        assert kept["segmentation"] == [[0.0, 0.0, 4.0, 0.0, 4.0, 4.0, 0.0, 4.0]]  # 2-point polygon removed
        assert stats == {
            "images": 2,
            "instances": 4,
            # Each drop once: annotation 5 (its only polygon has 2 points) and annotation 6's second
            # polygon under "< 3 points", annotation 7 (its only polygon is odd) under "odd".
            "dropped": {
                "degenerate box": 1,
                "polygon < 3 points": 2,
                "odd coordinate count": 1,
            },
        }
        assert (
            "dataset toy_coco_load: 2 images, 4 instances, dropped: degenerate box 1, polygon < 3 points 2, "
            "odd coordinate count 1\n" in caplog.text
        )
        meta = MetadataCatalog.get("toy_coco_load")
        assert meta.thing_classes == ["cat", "dog"]
        assert meta.thing_dataset_id_to_contiguous_id == {3: 0, 7: 1}
    finally:
        MetadataCatalog.remove("toy_coco_load")


def test_empty_segmentation_dropped_only_when_masks_required(tmp_path):
    anns = [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 2, 2], "segmentation": [], "iscrowd": 0}]
    path = _toy_json(tmp_path, annotations=anns)
    stats: dict = {}
    assert load_coco_json(path, str(tmp_path), stats=stats)[0]["annotations"] == []
    assert stats["dropped"] == {"empty segmentation": 1}
    (ann,) = load_coco_json(path, str(tmp_path), require_masks=False)[0]["annotations"]
    assert "segmentation" not in ann and ann["area"] == 4.0


def test_an_annotation_whose_polygons_fail_in_different_ways_counts_once(tmp_path):
    anns = [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 4, 4], "iscrowd": 0,
             "segmentation": [[0, 0, 4, 0], [0, 0, 4, 0, 4]]},  # 2 points; odd count
            {"id": 2, "image_id": 1, "category_id": 3, "bbox": [0, 0, 4, 4], "iscrowd": 0,
             "segmentation": [[0, 0, 4, 0], [1, 1, 2, 2]]}]  # 2 points twice: one drop, one reason
    stats: dict = {}
    assert load_coco_json(_toy_json(tmp_path, annotations=anns), str(tmp_path), stats=stats)[0]["annotations"] == []
    assert stats["dropped"] == {"no valid polygon left": 1, "polygon < 3 points": 1}


def test_unknown_category_among_many_lists_count_range_and_first_ids(tmp_path):
    categories = [{"id": i, "name": f"c{i}"} for i in range(1, 91) if i % 9]  # 80 ids from 1 to 89
    anns = [{"id": 5, "image_id": 1, "category_id": 9, "bbox": [0, 0, 2, 2], "segmentation": [], "iscrowd": 0}]
    path = _toy_json(tmp_path, annotations=anns, categories=categories)
    with pytest.raises(ValueError) as info:
        load_coco_json(path, str(tmp_path))
    assert str(info.value).endswith("(known ids: 80 ids from 1 to 89: 1, 2, 3, 4, 5, 6, 7, 8, ...)")


def test_unknown_category_names_file_annotation_and_category(tmp_path):
    anns = [{"id": 42, "image_id": 1, "category_id": 99, "bbox": [0, 0, 2, 2], "segmentation": [], "iscrowd": 0}]
    path = _toy_json(tmp_path, annotations=anns)
    with pytest.raises(ValueError, match=r"toy\.json: annotation id 42 has category_id 99.*known ids: \[3, 7\]"):
        load_coco_json(path, str(tmp_path))


def test_invalid_json_and_missing_images_name_the_file(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON"):
        load_coco_json(str(bad), str(tmp_path))
    no_images = tmp_path / "noimages.json"
    no_images.write_text(json.dumps({"annotations": []}))
    with pytest.raises(ValueError, match=r"noimages\.json: .*no 'images' list"):
        load_coco_json(str(no_images), str(tmp_path))
