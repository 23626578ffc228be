"""The loaders' on_bad_image policy: error by default; skip replaces (training) or drops (evaluation) a
bad image, warns once per file, reports what it skipped, and stops past max_bad_fraction of the files."""
import itertools
import logging

import numpy as np
import pytest
from PIL import Image

from maskrcnn_ext.data import DatasetMapper, build_test_loader, build_train_loader
from maskrcnn_ext.data.bad_images import SKIPPED_KEY, SkippedImage
from maskrcnn_ext.data.build import MapDataset
from maskrcnn_ext.data.image_io import ImageReadError


@pytest.fixture
def records(tmp_path):
    """Ten 16x16 images with one box each; image 3 is truncated, image 5 is annotated at a wrong size."""
    out = []
    for i in range(10):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((16, 16, 3), i * 20, np.uint8)).save(path)
        ann = {"bbox": [2.0, 2.0, 9.0, 9.0], "category_id": 0, "iscrowd": 0,
               "segmentation": [[2, 2, 9, 2, 9, 9, 2, 9]]}
        out.append({"file_name": str(path), "image_id": i, "height": 16, "width": 16, "annotations": [ann]})
    (tmp_path / "3.png").write_bytes((tmp_path / "3.png").read_bytes()[:60])
    out[5]["height"] = 17
    return out


def test_by_default_a_bad_image_ends_the_run_with_its_path(records):
    dataset = MapDataset(records, DatasetMapper(is_train=True))
    with pytest.raises(ImageReadError, match=r"3\.png"):
        dataset[(3, 0)]
    loader = build_test_loader(dataset=records, mapper=DatasetMapper(is_train=False))
    with pytest.raises(ImageReadError, match=r"3\.png"):
        list(loader)


def test_training_skip_maps_a_reproducible_replacement_and_lists_the_bad_one(records):
    dataset = MapDataset(records, DatasetMapper(is_train=True), on_bad_image="skip")
    first, again = dataset[(3, 0)], dataset[(3, 0)]
    assert first["image_id"] not in (3, 5) and first["image_id"] == again["image_id"]
    (skipped,) = first[SKIPPED_KEY]
    assert skipped.file_name == records[3]["file_name"] and "truncated" in skipped.reason
    good = [dataset[(i, 0)]["image_id"] for i in range(10)]
    assert good[:3] == [0, 1, 2] and 3 not in good and 5 not in good
    assert SKIPPED_KEY not in dataset[(0, 0)]


def test_evaluation_skip_marks_the_bad_image_instead_of_replacing_it(records):
    dataset = MapDataset(records, DatasetMapper(is_train=False), on_bad_image="skip", replace_bad=False)
    marker = dataset[5]
    assert isinstance(marker, SkippedImage) and "differs from the annotated size" in marker.reason
    assert dataset[4]["image_id"] == 4


def test_training_loader_warns_once_per_file_and_counts_draws(records, caplog):
    loader = build_train_loader(dataset=records, mapper=DatasetMapper(is_train=True), total_batch_size=2,
                                aspect_ratio_grouping=False, on_bad_image="skip", max_bad_fraction=0.2)
    with caplog.at_level(logging.WARNING, logger="maskrcnn_ext.data"):
        batches = list(itertools.islice(loader, 30))  # 60 draws: 6 epochs of 10 images, 2 of them bad
    assert all(len(b) == 2 and not any(SKIPPED_KEY in d for d in b) for b in batches)
    report = loader.bad_images
    assert sorted(report.files) == [records[3]["file_name"], records[5]["file_name"]]
    assert report.draws == 12  # each bad image once per epoch
    warnings = [r for r in caplog.records if "Skipping a bad image" in r.getMessage()]
    assert len(warnings) == 2
    assert report.summary() == {"bad_images_skipped": 2, "bad_image_draws": 12,
                                "bad_image_files": list(report.files)}


def test_skip_stops_once_more_files_than_max_bad_fraction_are_bad(records):
    # 2 bad files of 10: 0.1 tolerates one (the floor), so the second one stops the run.
    loader = build_train_loader(dataset=records, mapper=DatasetMapper(is_train=True), total_batch_size=2,
                                aspect_ratio_grouping=False, on_bad_image="skip", max_bad_fraction=0.1)
    with pytest.raises(RuntimeError, match=r"2 of the 10 images of the training dataset are bad, more than "
                                           r"max_bad_fraction=0\.1.*validate-data"):
        list(itertools.islice(loader, 30))
    assert len(loader.bad_images.files) == 2


def test_evaluation_loader_drops_bad_images_and_reports_them(records, caplog):
    loader = build_test_loader(dataset=records, mapper=DatasetMapper(is_train=False), batch_size=3,
                               on_bad_image="skip", max_bad_fraction=0.2)
    with caplog.at_level(logging.INFO, logger="maskrcnn_ext.data"):
        ids = [d["image_id"] for batch in loader for d in batch]
        loader.bad_images.log_summary()
    assert ids == [0, 1, 2, 4, 6, 7, 8, 9]
    assert loader.bad_images.draws == 2 and len(loader.bad_images.files) == 2
    assert "evaluation skipped 2 bad image file(s) of 10, drawn 2 time(s) in all" in caplog.text


def test_policy_values_are_checked():
    with pytest.raises(ValueError, match="on_bad_image must be one of"):
        MapDataset([], DatasetMapper(is_train=False), on_bad_image="ignore")
    with pytest.raises(ValueError, match=r"max_bad_fraction must lie in \[0, 1\]"):
        build_test_loader(dataset=[{"image_id": 0}], mapper=DatasetMapper(is_train=False), max_bad_fraction=5)
