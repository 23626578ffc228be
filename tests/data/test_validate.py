"""validate-data on a clean generated dataset and on a copy with one of every problem kind injected."""
import copy
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from maskrcnn_ext.cli.main import main
from maskrcnn_ext.data.shapes import generate_shapes
from maskrcnn_ext.data.validate import KINDS, validate_coco_json

MAX_PIXELS = 30_000  # generated images are at most 96 x 96; the injected large one is 200 x 200


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("validate")
    json_file = generate_shapes(str(root), split="v", num_images=6, seed=3, min_size=64, max_size=96, max_instances=2)
    return root, json_file


def _save(path, size, exif_orientation=None):
    image = Image.fromarray(np.full((size[1], size[0], 3), 90, np.uint8))
    if exif_orientation is None:
        image.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        image.save(path, exif=exif)


def corrupt(root, json_file):
    """A copy of the dataset with exactly one problem of each kind."""
    bad = root / "bad"
    shutil.copytree(root / "shapes" / "v" / "images", bad / "images")
    data = json.loads(open(json_file).read())
    images, anns = data["images"], data["annotations"]
    ok = anns[0]
    next_id = iter(range(10_000, 20_000))

    def add_ann(**changes):
        ann = {**copy.deepcopy(ok), "id": next(next_id), **changes}
        anns.append(ann)
        return ann

    def add_image(image_id, file_name, size, **save):
        if not file_name.startswith(".."):
            _save(bad / "images" / file_name, size, **save)
        images.append({"id": image_id, "file_name": file_name, "width": size[0], "height": size[1]})
        add_ann(image_id=image_id, bbox=[1, 1, 5, 5], segmentation=[[1, 1, 6, 1, 6, 6, 1, 6]])

    path = bad / "images" / images[0]["file_name"]
    path.write_bytes(path.read_bytes()[:200])                          # unreadable_image
    _save(bad / "images" / images[1]["file_name"], (images[1]["width"] + 7, images[1]["height"]))  # size_mismatch
    add_image(100, "rotated.jpg", (40, 30), exif_orientation=6)        # exif_size_mismatch
    add_ann(bbox=[3, 3, 0, 4])                                         # degenerate_box
    add_ann(bbox=[3, 3, 500, 4])                                       # box_outside_image
    add_ann(segmentation=[[1, 1, 5, 5]])                               # polygon_too_few_points
    add_ann(segmentation=[[1, 1, 5, 5, 9, 1, 4]])                      # polygon_odd_coordinates
    add_ann(segmentation={"size": [5, 5], "counts": "5"})              # rle_size_mismatch
    add_ann(category_id=99)                                            # unknown_category
    images.append(dict(images[2]))                                     # duplicate_image_id
    add_ann()["id"] = ok["id"]                                         # duplicate_annotation_id
    add_ann(image_id=12345)                                            # annotation_unknown_image
    _save(root / "outside.png", (20, 20))
    add_image(101, "../outside.png", (20, 20))                         # file_outside_root
    _save(bad / "images" / "crowd_only.png", (20, 20))                 # no_usable_annotations
    images.append({"id": 102, "file_name": "crowd_only.png", "width": 20, "height": 20})
    add_ann(image_id=102, bbox=[1, 1, 5, 5], segmentation=[[1, 1, 6, 1, 6, 6, 1, 6]], iscrowd=1)
    add_image(103, "large.png", (200, 200))                            # very_large_image
    for category in data["categories"]:                                # keypoint files name K = 2 keypoints
        category["keypoints"] = ["tip", "tail"]
    add_ann(keypoints=[1, 1, 2], num_keypoints=1)                      # keypoints_wrong_count
    add_ann(keypoints=[1, 1, 2, 999, 1, 2], num_keypoints=2)           # keypoint_outside_image
    add_ann(keypoints=[1, 1, 3, 0, 0, 0], num_keypoints=0)             # keypoint_bad_visibility
    add_ann(keypoints=[1, 1, 2, 2, 2, 1], num_keypoints=1)             # num_keypoints_mismatch
    add_ann(keypoints=[1, 1, 2, 0, 0, 0], num_keypoints=1)             # (a correct one: nothing)
    anns.append({k: v for k, v in add_ann().items() if k != "bbox"})   # malformed ...
    anns.pop(-2)                                                       # ... (only the copy without a bbox stays)
    (bad / "annotations.json").write_text(json.dumps(data))
    return bad / "annotations.json", bad / "images"


@pytest.fixture(scope="module")
def broken(clean):
    return corrupt(*clean)


def test_a_clean_dataset_has_no_problems(clean):
    root, json_file = clean
    report = validate_coco_json(json_file, str(root / "shapes" / "v" / "images"), max_pixels=MAX_PIXELS)
    assert report.problems == [] and report.num_images == 6


def test_every_injected_problem_is_found_once_and_nothing_else(broken):
    bad_json, bad_images = broken
    report = validate_coco_json(str(bad_json), str(bad_images), max_pixels=MAX_PIXELS)
    assert report.counts == {kind: 1 for kind in KINDS}, report.summary()
    places = {p.kind: p.where for p in report.problems}
    assert places["exif_size_mismatch"] == "image 100 (rotated.jpg)"
    assert places["annotation_unknown_image"].endswith("(image 12345)")
    assert report.num_errors == sum(level == "error" for level, _ in KINDS.values())


def test_the_command_exits_non_zero_on_errors_and_prints_json(clean, broken, capsys):
    root, json_file = clean
    bad_json, bad_images = broken
    status = main(["validate-data", "--json", str(bad_json), "--image-root", str(bad_images),
                   "--max-pixels", str(MAX_PIXELS), "--output-json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 1 and out["counts"]["unreadable_image"] == 1 and out["num_errors"] == 18
    clean_status = main(["validate-data", "--json", json_file, "--image-root", str(root / "shapes" / "v" / "images"),
                         "--max-pixels", str(MAX_PIXELS)])
    assert clean_status == 0
