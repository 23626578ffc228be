"""What class indices mean: read from a dataset's metadata or json, recorded in and read from a run."""
from __future__ import annotations

import json

from maskrcnn_ext.data import register_coco_instances
from maskrcnn_ext.data.classes import ClassInfo, dataset_classes, read_run_classes, write_run_classes


def test_a_registered_dataset_gives_its_classes_before_it_is_loaded(tmp_path):
    json_file = tmp_path / "ann.json"
    categories = [{"id": 90, "name": "toothbrush"}, {"id": 1, "name": "person"}, {"id": 13, "name": "stop sign"}]
    json_file.write_text(json.dumps({"images": [], "annotations": [], "categories": categories}))
    register_coco_instances("classes_test_unloaded", json_file=str(json_file), image_root=str(tmp_path))
    classes = dataset_classes("classes_test_unloaded")
    # Sorted by id, as the loader numbers them.
    assert classes == ClassInfo(names=("person", "stop sign", "toothbrush"), dataset_ids={0: 1, 1: 13, 2: 90},
                                dataset="classes_test_unloaded")
    assert [classes.category_id(i) for i in range(3)] == [1, 13, 90]
    assert dataset_classes(["classes_test_unloaded", "shapes_train"]) == classes  # a list: its first
    assert dataset_classes("not_registered_anywhere") is None


def test_classes_round_trip_through_a_run_directory(tmp_path):
    classes = ClassInfo(names=("a", "b"), dataset_ids={0: 7, 1: 90}, dataset="d")
    write_run_classes(tmp_path, classes)
    assert json.loads((tmp_path / "classes.json").read_text()) == {
        "dataset": "d", "class_names": ["a", "b"], "contiguous_id_to_dataset_id": {"0": 7, "1": 90}}
    assert read_run_classes(tmp_path) == classes
    assert read_run_classes(tmp_path / "elsewhere") is None


def test_without_a_map_the_index_is_the_id_and_it_says_so():
    unknown = ClassInfo.from_json({"class_names": ["a"], "contiguous_id_to_dataset_id": {}})
    assert not unknown.known and unknown.category_id(3) == 3 and unknown.names == ("a",)
