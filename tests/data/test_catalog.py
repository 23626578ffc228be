from __future__ import annotations

import json
import logging

import pytest

from maskrcnn_ext.data import DatasetCatalog, MetadataCatalog, register_coco_instances


@pytest.fixture
def cleanup():
    names: list[str] = []
    yield names
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def test_unknown_name_lists_registered_and_close_matches(cleanup):
    cleanup.append("toy_catalog_train")
    DatasetCatalog.register("toy_catalog_train", lambda: [])
    with pytest.raises(KeyError) as info:
        DatasetCatalog.get("toy_catalog_trian")
    msg = str(info.value)
    assert "'toy_catalog_trian' is not registered" in msg
    assert "Did you mean: toy_catalog_train" in msg
    assert "shapes_tiny_train" in msg.split("Registered:")[1]


def test_lazy_cached_and_reregistration_invalidates(cleanup, caplog):
    cleanup.append("toy_lazy")
    calls = []

    def first():
        calls.append(1)
        return [{"image_id": 1}]

    DatasetCatalog.register("toy_lazy", first)
    assert calls == []  # registering does not load
    assert DatasetCatalog.get("toy_lazy") is DatasetCatalog.get("toy_lazy")
    assert calls == [1]
    with caplog.at_level(logging.WARNING):
        DatasetCatalog.register("toy_lazy", lambda: [{"image_id": 2}])
    assert "re-registered" in caplog.text
    assert DatasetCatalog.get("toy_lazy") == [{"image_id": 2}]
    assert "toy_lazy" in DatasetCatalog.list()


def test_non_list_result_is_an_error(cleanup):
    cleanup.append("toy_bad")
    DatasetCatalog.register("toy_bad", lambda: {"not": "a list"})
    with pytest.raises(TypeError, match="Dataset 'toy_bad'.*returned dict"):
        DatasetCatalog.get("toy_bad")


def test_metadata_missing_attribute_names_dataset_and_key(cleanup):
    cleanup.append("toy_meta")
    meta = MetadataCatalog.get("toy_meta").set(thing_classes=["a"])
    assert MetadataCatalog.get("toy_meta") is meta
    assert meta.thing_classes == ["a"]
    assert meta.get("json_file", "none") == "none"
    with pytest.raises(AttributeError, match="'toy_meta' has no attribute 'json_file'. Available:.*thing_classes"):
        _ = meta.json_file


def test_register_coco_instances_loads_lazily(tmp_path, cleanup):
    cleanup.append("toy_coco")
    data = {
        "images": [{"id": 5, "file_name": "x.png", "height": 10, "width": 10}],
        "categories": [{"id": 9, "name": "thing"}],
        "annotations": [{"id": 1, "image_id": 5, "category_id": 9, "bbox": [1, 1, 2, 2],
                         "segmentation": [[1, 1, 3, 1, 3, 3]], "area": 2.0, "iscrowd": 0}],
    }  # fmt: skip
    path = tmp_path / "a.json"
    path.write_text(json.dumps(data))
    register_coco_instances("toy_coco", json_file=str(path), image_root=str(tmp_path), metadata={"note": 1})
    meta = MetadataCatalog.get("toy_coco")
    assert meta.evaluator_type == "coco" and meta.note == 1 and meta.json_file == str(path)
    assert meta.get("thing_classes") is None  # not loaded yet
    records = DatasetCatalog.get("toy_coco")
    assert records[0]["image_id"] == 5
    assert meta.thing_classes == ["thing"]
    assert meta.thing_dataset_id_to_contiguous_id == {9: 0}
