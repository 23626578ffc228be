"""instantiate: recursive building, interpolations and error paths."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from maskrcnn_ext.config import InstantiationError, L, instantiate


def mlp(*, layers: list[torch.nn.Module]) -> torch.nn.Sequential:
    return torch.nn.Sequential(*layers)


def _mlp_cfg():
    return L(mlp)(
        layers=[
            L(torch.nn.Linear)(in_features=5, out_features=7),
            L(torch.nn.ReLU)(),
            L(torch.nn.Linear)(in_features=7, out_features=3),
        ]
    )


def test_nested_modules_build_and_run():
    net = instantiate(_mlp_cfg())
    assert isinstance(net, torch.nn.Sequential)
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU", "Linear"]
    assert net(torch.zeros(2, 5)).shape == (2, 3)


def test_edit_before_build():
    cfg = _mlp_cfg()
    cfg.layers[2].out_features = 11
    assert instantiate(cfg)(torch.zeros(4, 5)).shape == (4, 11)


def test_plain_containers_and_objects():
    marker = object()
    cfg = OmegaConf.create(
        {"a": [1, {"b": L(torch.nn.Identity)()}], "c": {"d": 2.5}, "m": marker},
        flags={"allow_objects": True},
    )
    out = instantiate(cfg)
    assert type(out) is dict and type(out["a"]) is list and type(out["c"]) is dict
    assert isinstance(out["a"][1]["b"], torch.nn.Identity)
    assert out["c"] == {"d": 2.5}
    assert out["m"] is marker
    assert instantiate(3) == 3
    plain = instantiate({"_target_": "torch.nn.Linear", "in_features": 2, "out_features": 6})
    assert plain.weight.shape == (6, 2)


def test_interpolations_are_resolved():
    cfg = OmegaConf.create({"dim": 6}, flags={"allow_objects": True})
    cfg.model = L(torch.nn.Linear)(in_features="${..dim}", out_features="${dim}")
    model = instantiate(cfg).get("model")
    assert model.weight.shape == (6, 6)


def _nested_cfg():
    cfg = OmegaConf.create({}, flags={"allow_objects": True})
    cfg.model = L(mlp)(layers=[L(torch.nn.Identity)()])
    cfg.model.roi_heads = {"box_head": L(torch.nn.Linear)(in_features="four", out_features=2)}
    return cfg


def test_error_names_innermost_path_target_and_cause():
    cfg = _nested_cfg()
    with pytest.raises(InstantiationError) as info:
        instantiate(cfg)
    msg = str(info.value)
    assert "'model.roi_heads.box_head'" in msg
    assert "torch.nn.Linear" in msg
    assert "TypeError" in msg
    assert msg.count("Error instantiating") == 1  # outer nodes do not re-wrap
    assert info.value.path == "model.roi_heads.box_head"
    assert isinstance(info.value.__cause__, TypeError)


def test_error_path_is_absolute_when_building_a_subtree():
    cfg = _nested_cfg()
    with pytest.raises(InstantiationError) as info:
        instantiate(cfg.model)
    assert info.value.path == "model.roi_heads.box_head"


def test_error_inside_list_names_index():
    cfg = _mlp_cfg()
    cfg.layers[1] = L(torch.nn.Linear)(in_features=1)
    with pytest.raises(InstantiationError) as info:
        instantiate(cfg)
    assert info.value.path == "layers.1"


def test_unresolvable_target_string():
    cfg = OmegaConf.create({"backbone": {"_target_": "torch.nn.NoSuchLayer", "depth": 50}})
    with pytest.raises(InstantiationError, match=r"'backbone'.*'torch\.nn\.NoSuchLayer'"):
        instantiate(cfg)


def test_non_callable_target():
    cfg = {"head": {"_target_": "math.pi"}}
    with pytest.raises(InstantiationError, match=r"'head'.*not callable"):
        instantiate(cfg)


def test_target_that_instantiates_is_not_rewrapped():
    def builder(*, width):
        # Builds a config of its own: its failure is the innermost one and must reach the user as is.
        stem = {"_target_": "torch.nn.Linear", "in_features": "x", "out_features": width}
        return instantiate({"stem": stem})

    cfg = {"model": {"head": L(builder)(width=3)}}
    with pytest.raises(InstantiationError) as info:
        instantiate(cfg)
    assert info.value.path == "stem"
    assert str(info.value).count("Error instantiating") == 1


def test_broken_interpolation_names_key():
    cfg = OmegaConf.create({"model": {"_target_": "torch.nn.Linear", "in_features": "${missing}"}})
    with pytest.raises(InstantiationError, match="'model.in_features'"):
        instantiate(cfg)
