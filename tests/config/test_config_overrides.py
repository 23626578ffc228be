"""Command-line overrides and flatten()."""

from __future__ import annotations

import pytest
from omegaconf import DictConfig, OmegaConf

from maskrcnn_ext.config import ConfigKeyError, LazyConfig, flatten, parse_override


def _cfg() -> DictConfig:
    return OmegaConf.create(
        {
            "model": {"_target_": "torch.nn.Linear", "in_features": 4, "blocks": [{"c": 1}, {"c": 2}]},
            "train": {"max_iter": 90000, "output_dir": "out", "amp": {"enabled": False}, "seed": 0},
        },
        flags={"allow_objects": True},
    )


@pytest.mark.parametrize(
    "override, key, expected",
    [
        ("train.max_iter=100", "train.max_iter", 100),
        ("train.seed=-1", "train.seed", -1),
        ("train.max_iter=1e3", "train.max_iter", 1000.0),
        ("train.output_dir=out/x", "train.output_dir", "out/x"),
        ("train.output_dir='quoted'", "train.output_dir", "quoted"),
        ("train.output_dir = spaced ", "train.output_dir", "spaced"),
        ("train.output_dir=a=b", "train.output_dir", "a=b"),
        ("model.in_features=[1, 2]", "model.in_features", [1, 2]),
        ("model.in_features=(1, 2)", "model.in_features", [1, 2]),
        ("model.in_features=None", "model.in_features", None),
        ("train.amp.enabled=True", "train.amp.enabled", True),
        ("model.blocks.0.c=3", "model.blocks.0.c", 3),
        ("model.blocks.-1.c=5", "model.blocks.1.c", 5),
        ("model.blocks=[]", "model.blocks", []),
    ],
)
def test_values_are_parsed(override, key, expected):
    cfg = LazyConfig.apply_overrides(_cfg(), [override])
    value = OmegaConf.select(cfg, key)
    plain = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
    assert plain == expected
    assert type(plain) is type(expected)


def test_overrides_apply_in_order_and_leave_others():
    cfg = LazyConfig.apply_overrides(_cfg(), ["train.max_iter=5", "train.max_iter=6"])
    assert cfg.train.max_iter == 6
    assert cfg.model.blocks[1].c == 2
    assert cfg.train.output_dir == "out"


def test_plus_adds_new_keys_including_intermediate_nodes():
    cfg = LazyConfig.apply_overrides(_cfg(), ["+train.foo=1", "+extra.deep.x=out/y"])
    assert cfg.train.foo == 1
    assert cfg.extra.deep.x == "out/y"


def test_plus_on_existing_key_is_an_error():
    with pytest.raises(ValueError, match=r"'\+train.seed=1'.*already exists"):
        LazyConfig.apply_overrides(_cfg(), ["+train.seed=1"])


def test_unknown_key_suggests_close_keys():
    with pytest.raises(ConfigKeyError) as info:
        LazyConfig.apply_overrides(_cfg(), ["train.max_itr=5"])
    msg = str(info.value)
    assert isinstance(info.value, KeyError)
    assert "'train.max_itr=5'" in msg
    assert "Did you mean: train.max_iter" in msg
    assert "'+train.max_itr=...'" in msg


def test_unknown_top_level_and_bad_index():
    with pytest.raises(ConfigKeyError, match="Did you mean: train"):
        LazyConfig.apply_overrides(_cfg(), ["trian.seed=1"])
    with pytest.raises(ConfigKeyError, match="'model.blocks' has no key '2'"):
        LazyConfig.apply_overrides(_cfg(), ["model.blocks.2.c=1"])
    with pytest.raises(ConfigKeyError, match="'train.seed' is a value"):
        LazyConfig.apply_overrides(_cfg(), ["train.seed.x=1"])


@pytest.mark.parametrize("bad", ["train.max_iter", "=3", "train..seed=1", "+=1"])
def test_malformed_override(bad):
    with pytest.raises(ValueError, match="Malformed override") as info:
        LazyConfig.apply_overrides(_cfg(), [bad])
    assert repr(bad) in str(info.value)


def test_single_string_is_rejected():
    with pytest.raises(TypeError, match="list"):
        LazyConfig.apply_overrides(_cfg(), "train.seed=1")


def test_parse_override():
    assert parse_override("+a.b=[1, 'x']") == ("a.b", [1, "x"], True)
    assert parse_override("a=${b}") == ("a", "${b}", False)


def test_flatten():
    cfg = _cfg()
    cfg.model.ref = "${train.seed}"
    cfg.empty = {}
    flat = flatten(cfg)
    assert flat["model._target_"] == "torch.nn.Linear"
    assert flat["model.blocks.1.c"] == 2
    assert flat["train.amp.enabled"] is False
    assert flat["model.ref"] == "${train.seed}"
    assert flat["empty"] == {}
    assert len(flat) == 10
    assert flatten(cfg, resolve=True)["model.ref"] == 0
