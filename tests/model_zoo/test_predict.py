"""``maskrcnn-ext predict`` on a folder: pictures and COCO json for good images, bad ones reported."""
import json
from pathlib import Path

import numpy as np
from PIL import Image
from zoo_helpers import make_run

from maskrcnn_ext.cli.main import main


def test_predict_on_a_folder_skips_a_corrupt_image_and_writes_the_rest(tmp_path, caplog):
    run = make_run(tmp_path / "run")
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg"):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(images / name)
    (images / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    status = main(["predict", str(run), str(images), "--output", str(out), "--score-thresh", "0", "--device", "cpu"])
    assert status == 1  # something failed, and the rest was done
    assert "broken.png" in caplog.text
    assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "b.png"]
    written = json.loads((out / "predictions.json").read_text())
    assert [Path(i["file_name"]).name for i in written["images"]] == ["a.png", "b.jpg"]
    assert {i["height"] for i in written["images"]} == {48}
    assert all(r["image_id"] in (1, 2) and len(r["bbox"]) == 4 and "segmentation" in r for r in written["annotations"])


def test_predict_needs_a_config_for_a_bare_checkpoint(tmp_path, caplog):
    run = make_run(tmp_path / "run")
    status = main(["predict", str(run / "model_final.pth"), str(tmp_path), "--output", str(tmp_path / "o")])
    assert status == 1 and "give its --config" in caplog.text
