"""The training dataset's on_bad_image policy: error by default, or skip (logged, replaced, bounded)."""
import numpy as np
import pytest
from PIL import Image

from maskrcnn_ext.data import DatasetMapper
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


def test_skip_logs_the_bad_image_and_maps_a_reproducible_replacement(records, caplog):
    dataset = MapDataset(records, DatasetMapper(is_train=True), on_bad_image="skip", max_bad_fraction=0.5)
    first, again = dataset[(3, 0)], dataset[(3, 0)]
    assert first["image_id"] not in (3, 5) and first["image_id"] == again["image_id"]
    assert "3.png" in caplog.text and "Skipping a bad image (1 of 1 tried" in caplog.text
    good = [dataset[(i, 0)]["image_id"] for i in range(10)]
    assert good[:3] == [0, 1, 2] and 3 not in good and 5 not in good
    assert dataset.bad == 4 and dataset.tried == 16  # the two bad images, met twice each


def test_skip_gives_up_when_too_much_of_the_dataset_is_bad(records):
    dataset = MapDataset(records, DatasetMapper(is_train=True), on_bad_image="skip", max_bad_fraction=0.05)
    with pytest.raises(RuntimeError, match=r"images tried were bad, more than max_bad_fraction=0.05.*validate-data"):
        for i in range(40):
            dataset[(i % 10, i)]
