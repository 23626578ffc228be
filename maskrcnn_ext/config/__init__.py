"""Lazy configs in the detectron2 style: ``LazyCall``/``L``, ``LazyConfig``, ``instantiate``.

A config is a tree of omegaconf nodes; nodes with a ``_target_`` describe an object to build.
Python config files build on each other with relative imports and are edited with dotted
``key=value`` overrides before anything is instantiated.
"""

from __future__ import annotations

from ._utils import dotted_path, locate
from .instantiate import InstantiationError, instantiate
from .lazy import LazyCall, LazyConfig
from .overrides import ConfigKeyError, apply_overrides, flatten, parse_override

L = LazyCall

__all__ = [
    "ConfigKeyError",
    "InstantiationError",
    "L",
    "LazyCall",
    "LazyConfig",
    "apply_overrides",
    "dotted_path",
    "flatten",
    "instantiate",
    "locate",
    "parse_override",
]
