import subprocess
import sys

import pytest

from maskrcnn_ext.cli.doctor import check_compatible
from maskrcnn_ext.cli.main import main


@pytest.mark.parametrize("torch_v, tv_v, ok", [
    ("2.14.1+cu130", "0.29.1+cu130", True),
    ("2.4.0", "0.19.1", True),
    ("2.14.1", "0.28.0", False),
    ("2.3.1", "0.18.1", False),
])
def test_version_pairing(torch_v, tv_v, ok):
    problem = check_compatible(torch_v, tv_v)
    assert (problem is None) == ok
    if not ok:
        assert torch_v in problem or "older" in problem


def test_doctor_reports_versions_and_ok(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "torch " in out and "torchvision" in out and "status        OK" in out


def test_list_prints_every_registry_and_datasets(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("META_ARCH:", "POOLER:", "ROIAlign", "StandardROIHeads", "MaskRCNNConvUpsampleHead",
                 "shapes_train", "coco_2017_train"):
        assert name in out


def test_list_unknown_registry_fails(capsys):
    assert main(["list", "NOPE"]) == 2


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "maskrcnn_ext", "list", "POOLER"],
                            capture_output=True, text=True, check=True)
    assert "ROIAlign" in result.stdout and "META_ARCH" not in result.stdout


def test_browse_data_writes_augmented_samples_with_ground_truth(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    from PIL import Image

    monkeypatch.setenv("MASKRCNN_EXT_DATASETS", str(tmp_path / "datasets"))
    config = str(Path(__file__).resolve().parents[2] / "projects/SmallObjects/configs/shapes/copy_paste.py")
    out = tmp_path / "browse"
    assert main(["browse-data", config, "--output", str(out), "--num", "3",
                 "--set", "dataloader.train.dataset=shapes_tiny_train"]) == 0
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 3 and "Wrote 3 training samples" in capsys.readouterr().out
    assert Image.open(pngs[0]).mode == "RGB"


def test_browse_data_names_the_config_it_cannot_load(tmp_path, capsys):
    assert main(["browse-data", str(tmp_path / "missing.py"), "--output", str(tmp_path)]) == 1
    assert "missing.py" in capsys.readouterr().err
