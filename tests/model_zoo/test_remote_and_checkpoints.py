"""Zoo models over HTTP with a cache, init_checkpoint by name or URL, and what a load reports or refuses."""
import argparse
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from maskrcnn_ext import model_zoo
from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.engine.checkpoint import Checkpointer
from maskrcnn_ext.model_zoo import ZooError, resolve_checkpoint

REPO = Path(__file__).resolve().parents[2]


def test_http_zoo_downloads_once_into_the_cache(zoo, http_zoo, tmp_path):
    cache = tmp_path / "cache"
    model = model_zoo.get("tiny_run", zoo=http_zoo, cache_dir=cache)
    entry = json.loads((zoo[0] / "index.json").read_text())["models"]["tiny_run"]
    cached = cache / entry["file"]
    assert [p.name for p in cache.iterdir()] == [entry["file"]]
    assert cached.read_bytes() == (zoo[0] / entry["file"]).read_bytes()
    stamp = cached.stat().st_mtime_ns
    model_zoo.get("tiny_run", zoo=http_zoo, cache_dir=cache)
    assert cached.stat().st_mtime_ns == stamp  # verified and reused, not downloaded again
    assert not model.training


def test_init_checkpoint_accepts_a_hashed_url(zoo, http_zoo, tmp_path):
    entry = json.loads((zoo[0] / "index.json").read_text())["models"]["tiny_run"]
    path = resolve_checkpoint(f"{http_zoo}/{entry['file']}", cache_dir=tmp_path)
    assert Path(path).read_bytes() == (zoo[0] / entry["file"]).read_bytes()
    with pytest.raises(ZooError, match="carries no sha256 prefix"):
        resolve_checkpoint(f"{http_zoo}/weights.pth", cache_dir=tmp_path)


def test_an_unreachable_url_says_which_and_caches_nothing(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(ZooError, match=r"cannot reach http://127\.0\.0\.1:9/m-0123abcd\.pth: .*nothing was cached"):
        resolve_checkpoint("http://127.0.0.1:9/m-0123abcd.pth", cache_dir=cache)
    assert not cache.exists() or not any(cache.iterdir())


def test_a_wrong_download_is_not_kept(zoo, http_zoo, tmp_path):
    entry = json.loads((zoo[0] / "index.json").read_text())["models"]["tiny_run"]
    renamed = entry["file"].replace(entry["sha256"][:8], "00000000")
    (zoo[0] / renamed).write_bytes((zoo[0] / entry["file"]).read_bytes())
    try:
        with pytest.raises(ZooError, match="sha256 mismatch"):
            resolve_checkpoint(f"{http_zoo}/{renamed}", cache_dir=tmp_path / "cache")
    finally:
        (zoo[0] / renamed).unlink()
    assert not any((tmp_path / "cache").iterdir())


def tiny_cfg(num_classes: int = 4):
    cfg = LazyConfig.load(str(REPO / "configs" / "Shapes" / "mask_rcnn_R_18_FPN_tiny.py"))
    cfg.model.roi_heads.num_classes = num_classes
    return cfg


def test_init_from_a_zoo_name_with_another_class_count_reports_the_reinitialised_heads(zoo, monkeypatch):
    monkeypatch.setenv("MASKRCNN_EXT_ZOO", str(zoo[0]))
    model = instantiate(tiny_cfg(num_classes=7).model)
    report = Checkpointer(model, "unused", resolve_weights=resolve_checkpoint).load_weights("tiny_run")
    mismatched = {name for name, _, _ in report.shape_mismatch}
    assert mismatched and all("predictor" in name for name in mismatched)  # only class-dependent layers
    assert not report.missing and not report.unexpected and len(report.loaded) > 10 * len(mismatched)
    with pytest.raises(ValueError, match="--eval-only needs every parameter"):
        report.require_complete("--eval-only")


def test_a_checkpoint_of_another_architecture_is_refused_with_its_keys(tmp_path):
    other = tmp_path / "other.pth"
    torch.save({"encoder.layer1.weight": torch.zeros(3, 3), "encoder.layer2.weight": torch.zeros(3)}, other)
    model = instantiate(tiny_cfg().model)
    with pytest.raises(ValueError, match="different architecture: only 0 of its 2 tensors.*encoder.layer1.weight"):
        Checkpointer(model, str(tmp_path)).load_weights(str(other))


def test_eval_only_refuses_a_checkpoint_that_leaves_heads_random(zoo, tmp_path):
    spec = importlib.util.spec_from_file_location("train_net", REPO / "train_net.py")
    train_net = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_net)
    cfg = tiny_cfg(num_classes=7)
    cfg.train.output_dir = str(tmp_path)
    cfg.train.init_checkpoint = str(next(zoo[0].glob("*.pth")))
    with pytest.raises(ValueError, match="--eval-only needs every parameter"):
        train_net.evaluate_only(cfg, instantiate(cfg.model), cfg.train.init_checkpoint, str(tmp_path / "eval"))
    cfg.train.init_checkpoint = ""
    with pytest.raises(ValueError, match="--eval-only needs weights"):
        train_net.prepare_evaluation(cfg, argparse.Namespace(resume=False, eval_output=None))
