"""Publish a run into a zoo and load it back: hash names, weights_only files, identical outputs."""
import hashlib
import json
import re

import pytest
import torch
from zoo_helpers import make_run

from maskrcnn_ext import model_zoo
from maskrcnn_ext.model_zoo import ZooError, publish_run


def test_publish_writes_a_hash_named_weights_only_file_a_manifest_and_a_table(zoo):
    zoo_dir, run = zoo
    index = json.loads((zoo_dir / "index.json").read_text())
    entry = index["models"]["tiny_run"]
    weights = zoo_dir / entry["file"]
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert entry["sha256"] == digest and re.fullmatch(rf"tiny_run-{digest[:8]}\.pth", weights.name)
    state = torch.load(weights, weights_only=True)
    checkpoint = torch.load(run / "model_final.pth", weights_only=True)
    assert state.keys() == checkpoint["model"].keys()  # the model only: no optimizer, no RNG states
    manifest = json.loads((zoo_dir / entry["manifest"]).read_text())
    assert manifest["sha256"] == digest and manifest["class_names"] == ["circle", "square", "triangle", "lshape"]
    assert manifest["metrics"]["segm/AP"] == 0.2 and manifest["training"]["train_time_s"] == pytest.approx(6.0)
    buffers = ("running_", "num_batches")
    assert manifest["params"] == sum(v.numel() for k, v in state.items() if not any(b in k for b in buffers))
    assert manifest["flops"]["input_size"] == [64, 80] and manifest["flops"]["gflops"] > 0
    assert manifest["config"]["model"]["roi_heads"]["num_classes"] == 4
    assert {"maskrcnn_ext", "torch", "torchvision"} <= set(manifest["versions"])
    table = (zoo_dir / "MODEL_ZOO.md").read_text()
    assert "| tiny_run | `config.yaml` | 25.0 | 20.0 | 0:00:06 | 50 ms |" in table and f"`{digest[:8]}`" in table


def test_republishing_the_same_run_changes_nothing(zoo):
    zoo_dir, run = zoo
    before = {p.name: p.read_bytes() for p in zoo_dir.iterdir()}
    publish_run(run, zoo_dir, input_size=(64, 80))
    assert {p.name: p.read_bytes() for p in zoo_dir.iterdir()} == before


def test_republishing_new_weights_replaces_the_entry_and_its_files(tmp_path):
    zoo_dir = tmp_path / "zoo"
    first = publish_run(make_run(tmp_path / "a" / "net", seed=0), zoo_dir, input_size=(64, 64))
    second = publish_run(make_run(tmp_path / "b" / "net", seed=1), zoo_dir, input_size=(64, 64))
    assert first["sha256"] != second["sha256"]
    assert sorted(p.name for p in zoo_dir.glob("*.pth")) == [second["file"]]
    assert list(json.loads((zoo_dir / "index.json").read_text())["models"]) == ["net"]


def test_get_builds_the_model_with_the_same_weights_and_outputs(zoo):
    zoo_dir, run = zoo
    model = model_zoo.get("tiny_run", zoo=str(zoo_dir))
    reference = model_zoo.get_config("tiny_run", zoo=str(zoo_dir))
    from maskrcnn_ext.config import instantiate

    original = instantiate(reference.model)
    original.load_state_dict(torch.load(run / "model_final.pth", weights_only=True)["model"])
    original.eval()
    image = torch.randint(0, 256, (3, 64, 80), dtype=torch.uint8)
    inputs = [{"image": image, "height": 64, "width": 80}]
    with torch.no_grad():
        features, expected = original.backbone(image[None].float()), original(inputs)[0]["instances"]
        assert all(torch.equal(a, b) for a, b in zip(features.values(), model.backbone(image[None].float()).values()))
        got = model(inputs)[0]["instances"]
    assert got.keys() == expected.keys() and all(torch.equal(got[k], expected[k]) for k in got)


def test_a_tampered_weights_file_fails_the_hash_check(zoo, tmp_path):
    import shutil

    copy = tmp_path / "zoo"
    shutil.copytree(zoo[0], copy)
    weights = next(copy.glob("*.pth"))
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    expected = json.loads((copy / "index.json").read_text())["models"]["tiny_run"]["sha256"]
    with pytest.raises(ZooError, match=f"expected {expected}, got [0-9a-f]{{64}}"):
        model_zoo.get("tiny_run", zoo=str(copy))


def test_unknown_names_list_close_ones(zoo):
    with pytest.raises(ZooError, match="no model 'tiny_rn'.*did you mean tiny_run"):
        model_zoo.get("tiny_rn", zoo=str(zoo[0]))


@pytest.mark.parametrize("case", ["no_final_checkpoint", "no_evaluation"])
def test_unfinished_runs_are_refused_and_leave_nothing(tmp_path, case):
    run = make_run(tmp_path / "run", final=case != "no_final_checkpoint", evaluated=case != "no_evaluation")
    zoo_dir = tmp_path / "zoo"
    message = {"no_final_checkpoint": "has no model_final.pth .it has model_0000004.pth",
               "no_evaluation": "no evaluation row"}[case]
    with pytest.raises(ZooError, match=message):
        publish_run(run, zoo_dir, input_size=(64, 64))
    assert not zoo_dir.exists() or not any(zoo_dir.iterdir())


def test_the_publish_command_reports_a_refused_run_and_fails(tmp_path, caplog):
    from maskrcnn_ext.cli.main import main

    run = make_run(tmp_path / "run", evaluated=False)
    assert main(["publish", str(run), "--zoo", str(tmp_path / "zoo"), "--flops-input", "64x64"]) == 1
    assert "not published" in caplog.text and "no evaluation row" in caplog.text


def test_a_publish_that_fails_midway_leaves_no_unlisted_files(tmp_path, monkeypatch):
    from maskrcnn_ext.model_zoo import publish

    def broken_index(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(publish, "write_index", broken_index)
    with pytest.raises(OSError, match="disk full"):
        publish_run(make_run(tmp_path / "run"), tmp_path / "zoo", input_size=(64, 64))
    assert sorted(p.name for p in (tmp_path / "zoo").iterdir()) == []


def test_a_run_evaluated_afterwards_by_eval_only_publishes_that_evaluation(tmp_path):
    run = make_run(tmp_path / "run", evaluated=False)
    eval_dir = run / "eval" / "model_final"
    eval_dir.mkdir(parents=True)
    row = {"type": "eval", "iteration": 9, "bbox/AP": 0.3, "segm/AP": 0.25, "weights": str(run / "model_final.pth")}
    (eval_dir / "metrics.jsonl").write_text(json.dumps(row) + "\n")
    entry = publish_run(run, tmp_path / "zoo", input_size=(64, 64))
    assert (entry["box_ap"], entry["mask_ap"]) == (0.3, 0.25)
