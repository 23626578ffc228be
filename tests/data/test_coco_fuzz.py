"""Malformed COCO json (missing keys, wrong types, negative sizes, huge coordinates, empty
segmentations) either loads or raises DatasetError, never an unrelated exception."""
import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maskrcnn_ext.data.coco import DatasetError, load_coco_json

VALID = {
    "images": [{"id": 1, "file_name": "a.jpg", "height": 40, "width": 60},
               {"id": 2, "file_name": "b.jpg", "height": 30, "width": 30}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 10, 12], "area": 100.0, "iscrowd": 0,
         "segmentation": [[1, 2, 11, 2, 11, 14, 1, 14]]},
        {"id": 2, "image_id": 2, "category_id": 7, "bbox": [0, 0, 5, 5], "iscrowd": 1,
         "segmentation": {"size": [30, 30], "counts": "0"}},
    ],
    "categories": [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}],
}

odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=9), st.just([]), st.just({}),
    st.just([[]]), st.just({"size": [-1, 5], "counts": ""}), st.just([[1e300, 1e300, -1e300, 2, 3, 4]]),
)


@st.composite
def mutated(draw):
    """The valid file with 1-4 random edits: a key deleted, or a value replaced by an odd one."""
    data = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from(["images", "annotations", "categories", "top"]))
        if section == "top":
            key = draw(st.sampled_from(["images", "annotations", "categories"]))
            data[key] = copy.deepcopy(draw(odd_values))
            continue
        entries = data.get(section)
        if not isinstance(entries, list) or not entries:
            continue
        index = draw(st.integers(0, len(entries) - 1))
        entry = entries[index]
        if not isinstance(entry, dict) or not entry or draw(st.booleans()):
            entries[index] = copy.deepcopy(draw(odd_values))
            continue
        key = draw(st.sampled_from(sorted(entry)))
        if draw(st.booleans()):
            del entry[key]
        else:
            entry[key] = copy.deepcopy(draw(odd_values))
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated())
def test_malformed_json_loads_or_raises_dataset_error(tmp_path, data):
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(data))
    try:
        records = load_coco_json(str(path), str(tmp_path))
    except DatasetError as e:
        assert "fuzz.json" in str(e)  # the message names the file
        return
    for record in records:
        assert record["height"] > 0 and record["width"] > 0
        for ann in record["annotations"]:
            x0, y0, x1, y1 = ann["bbox"]
            assert x1 > x0 and y1 > y0 and ann["category_id"] in (0, 1)


def test_file_names_outside_the_image_root_are_refused_unless_allowed(tmp_path):
    import pytest

    data = copy.deepcopy(VALID)
    data["images"][1]["file_name"] = "../../etc/passwd"
    path = tmp_path / "escape.json"
    path.write_text(json.dumps(data))
    root = tmp_path / "images"
    root.mkdir()
    with pytest.raises(DatasetError, match=r"image id 2 has file_name '\.\./\.\./etc/passwd', which resolves outside"):
        load_coco_json(str(path), str(root))
    records = load_coco_json(str(path), str(root), allow_outside_root=True)
    assert records[1]["file_name"].endswith("passwd")
