"""LazyCall: what a recorded call stores."""

from __future__ import annotations

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from maskrcnn_ext.config import L, LazyCall, dotted_path, locate


def test_importable_target_is_stored_as_shortest_dotted_path():
    cfg = L(torch.nn.Conv2d)(in_channels=3, out_channels=8, kernel_size=3)
    assert isinstance(cfg, DictConfig)
    # Conv2d lives in torch.nn.modules.conv but is re-exported as torch.nn.Conv2d.
    assert cfg._target_ == "torch.nn.Conv2d"
    assert cfg.out_channels == 8


def test_project_function_is_stored_by_its_module_path():
    from maskrcnn_ext.config import loading
    from maskrcnn_ext import registry

    cfg = LazyCall(loading.to_config)(value=1)
    assert cfg._target_ == "maskrcnn_ext.config.loading.to_config"
    # build_from_registry is re-exported by its package: the shorter path wins if it round-trips.
    path = dotted_path(registry.build_from_registry)
    assert path in (
        "maskrcnn_ext.modeling.build_from_registry",
        "maskrcnn_ext.registry.build_from_registry",
    )
    assert locate(path) is registry.build_from_registry


def test_non_importable_target_is_kept_as_object():
    def local_builder(*, n: int) -> list[int]:
        return [n]

    cfg = L(local_builder)(n=2)
    assert cfg._target_ is local_builder
    assert dotted_path(local_builder) is None
    assert dotted_path(lambda: 0) is None


def test_string_target_and_nested_values():
    cfg = L("torch.nn.ReLU")(inplace=True)
    assert cfg._target_ == "torch.nn.ReLU"
    outer = L(torch.nn.ModuleList)(modules=[cfg, L(torch.nn.Identity)()])
    assert outer.modules[0]._target_ == "torch.nn.ReLU"
    assert outer.modules[1]._target_ == "torch.nn.Identity"


def test_tuples_become_lists_and_objects_are_allowed():
    marker = object()
    cfg = L(torch.nn.Conv2d)(kernel_size=(3, 5), extra={"pad": (1, 2)}, obj=marker)
    assert OmegaConf.to_container(cfg)["kernel_size"] == [3, 5]
    assert OmegaConf.to_container(cfg)["extra"] == {"pad": [1, 2]}
    assert cfg.obj is marker


def test_non_callable_target_is_rejected():
    with pytest.raises(TypeError, match="callable"):
        LazyCall(42)


def test_locate_errors_name_the_path():
    with pytest.raises(ImportError, match="'torch.nn.NoSuchLayer'.*NoSuchLayer"):
        locate("torch.nn.NoSuchLayer")
    with pytest.raises(ImportError, match="not_a_module_xyz"):
        locate("not_a_module_xyz.Thing")
