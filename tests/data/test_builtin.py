import pytest

from maskrcnn_ext.data import DatasetCatalog


def test_missing_coco_names_the_expected_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKRCNN_EXT_DATASETS", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        DatasetCatalog.get("coco_2017_val")
    assert str(tmp_path / "coco" / "annotations" / "instances_val2017.json") in str(err.value)
