"""LazyConfig.load / save: Python configs with relative imports, YAML, round trips."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from maskrcnn_ext.config import L, LazyConfig, instantiate

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_load_python_config_collects_only_config_values():
    cfg = LazyConfig.load(str(FIXTURES / "common" / "base.py"))
    assert isinstance(cfg, DictConfig)
    assert sorted(cfg.keys()) == ["model", "train"]  # no _private, module, function
    assert cfg.model._target_ == "torch.nn.Linear"
    assert isinstance(cfg.train, DictConfig)
    assert OmegaConf.to_container(cfg.train.steps) == [5, 8]


def test_child_modifies_its_own_copy_of_the_base():
    child = LazyConfig.load(str(FIXTURES / "child.py"))
    assert child.model.out_features == 7
    assert child.train.max_iter == 20
    assert list(child.train.steps) == [5, 8, 15]
    # Loaded after the child: a second child must see the base as written.
    child2 = LazyConfig.load(str(FIXTURES / "child2.py"))
    assert child2.model.out_features == 2
    assert child2.train.max_iter == 10
    assert list(child2.train.steps) == [5, 8]
    assert sorted(child2.keys()) == ["model", "train"]  # the imported module object is skipped


def test_parent_relative_import_and_instantiate():
    cfg = LazyConfig.load(str(FIXTURES / "nested" / "deep.py"))
    assert (cfg.model.in_features, cfg.model.out_features) == (16, 7)
    assert instantiate(cfg.model)(torch.zeros(3, 16)).shape == (3, 7)


def test_load_keys():
    model = LazyConfig.load(str(FIXTURES / "child.py"), "model")
    assert model.out_features == 7
    model, train = LazyConfig.load(str(FIXTURES / "child.py"), ("model", "train"))
    assert train.max_iter == 20
    with pytest.raises(KeyError, match="optimizer"):
        LazyConfig.load(str(FIXTURES / "child.py"), "optimizer")


def test_missing_file(tmp_path):
    missing = str(tmp_path / "nope.py")
    with pytest.raises(FileNotFoundError, match="nope.py"):
        LazyConfig.load(missing)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        LazyConfig.load(str(tmp_path / "nope.yaml"))


def test_syntax_error_names_file_and_line(tmp_path):
    (tmp_path / "base.py").write_text("a = dict(x=1)\n\nb = dict(y=\n")
    (tmp_path / "child.py").write_text("from .base import a\n")
    with pytest.raises(SyntaxError, match=r"base\.py, line 3"):
        LazyConfig.load(str(tmp_path / "child.py"))


def test_relative_import_of_missing_config(tmp_path):
    (tmp_path / "child.py").write_text("from .common.absent import model\n")
    with pytest.raises(ImportError, match=r"child\.py.*common.absent"):
        LazyConfig.load(str(tmp_path / "child.py"))


def test_unsupported_extension(tmp_path):
    (tmp_path / "cfg.json").write_text("{}")
    with pytest.raises(ValueError, match=r"cfg\.json.*\.json"):
        LazyConfig.load(str(tmp_path / "cfg.json"))


def test_yaml_load_is_safe(tmp_path):
    bad = tmp_path / "evil.yaml"
    bad.write_text("model: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ValueError, match="evil.yaml"):
        LazyConfig.load(str(bad))
    obj = tmp_path / "obj.yaml"
    obj.write_text("model: !!python/object:collections.OrderedDict {}\n")
    with pytest.raises(ValueError, match="obj.yaml"):
        LazyConfig.load(str(obj))


def _rich_cfg() -> DictConfig:
    cfg = OmegaConf.create({}, flags={"allow_objects": True})
    cfg.model = L(torch.nn.Conv2d)(in_channels=3, out_channels=8, kernel_size=(3, 3), bias=None)
    cfg.model.nested = [[1, 2], [L(torch.nn.ReLU)(inplace=True)], {"x": [0.5, "1e3"]}]
    cfg.train = {"output_dir": "out/x", "max_iter": 10, "amp": {"enabled": True}, "lr": 1e-3}
    cfg.train.ref = "${train.max_iter}"
    cfg.ids = {1: 0, 3: 1}
    return cfg


def test_save_load_round_trip(tmp_path):
    cfg = _rich_cfg()
    out = tmp_path / "run" / "config.yaml"
    LazyConfig.save(cfg, str(out))
    loaded = LazyConfig.load(str(out))
    assert OmegaConf.to_container(loaded) == OmegaConf.to_container(cfg)
    assert loaded.train.ref == 10  # the interpolation is kept, and still works
    assert loaded.model.nested[2].x[1] == "1e3"  # a string that looks like a float stays a string
    assert os.listdir(out.parent) == ["config.yaml"]  # no temporary file left behind


def test_saved_callable_targets_become_dotted_paths(tmp_path):
    cfg = OmegaConf.create({"act": {"_target_": torch.nn.ReLU}}, flags={"allow_objects": True})
    LazyConfig.save(cfg, str(tmp_path / "c.yaml"))
    assert LazyConfig.load(str(tmp_path / "c.yaml")).act._target_ == "torch.nn.ReLU"


def test_save_resolved(tmp_path):
    LazyConfig.save(_rich_cfg(), str(tmp_path / "c.yaml"), resolve=True)
    assert "${" not in (tmp_path / "c.yaml").read_text()


def test_save_warns_when_not_serializable(tmp_path):
    def local_head(*, dim):
        return dim

    cfg = OmegaConf.create({"head": L(local_head)(dim=2, marker=object())}, flags={"allow_objects": True})
    with pytest.warns(UserWarning, match=r"cannot be fully serialized.*head\._target_, head\.marker"):
        LazyConfig.save(cfg, str(tmp_path / "c.yaml"))
    loaded = LazyConfig.load(str(tmp_path / "c.yaml"))
    assert loaded.head._target_.endswith("local_head")
    assert loaded.head.dim == 2


def test_failed_save_keeps_the_previous_file(tmp_path):
    out = tmp_path / "c.yaml"
    out.write_text("old: 1\n")
    cfg = OmegaConf.create({"a": "${missing}"})
    with pytest.raises(InterpolationResolutionError):
        LazyConfig.save(cfg, str(out), resolve=True)
    assert out.read_text() == "old: 1\n"
    assert os.listdir(tmp_path) == ["c.yaml"]


def test_interrupted_write_removes_the_temporary_file(tmp_path, monkeypatch):
    out = tmp_path / "c.yaml"
    out.write_text("old: 1\n")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        LazyConfig.save(OmegaConf.create({"a": 1}), str(out))
    assert out.read_text() == "old: 1\n"
    assert os.listdir(tmp_path) == ["c.yaml"]


def test_import_hook_is_removed_after_loading(tmp_path):
    real_import = builtins.__import__
    (tmp_path / "bad.py").write_text("from .absent import x\n")
    LazyConfig.load(str(FIXTURES / "child.py"))
    with pytest.raises(ImportError):
        LazyConfig.load(str(tmp_path / "bad.py"))
    assert builtins.__import__ is real_import
