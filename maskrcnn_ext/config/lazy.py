"""``LazyCall`` and ``LazyConfig``: describe objects as config nodes, load, save and override them.

A lazy config describes *how to build* each component instead of building it::

    from maskrcnn_ext.config import LazyCall as L
    head = L(torch.nn.Linear)(in_features=256, out_features=81)
    head.out_features = 2          # edit before anything is built
    module = instantiate(head)     # torch.nn.Linear(256, 2)
"""

from __future__ import annotations

import logging
import os
import pathlib
import warnings
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ..utils.file_io import atomic_file
from ._utils import dotted_path, tuples_to_lists
from .loading import load_file
from .overrides import apply_overrides

logger = logging.getLogger(__name__)

__all__ = ["LazyCall", "LazyConfig"]

_YAML_SCALARS = (type(None), bool, int, float, str)


class LazyCall:
    """Wrap a callable so that calling it records the call as a config node instead of running it.

    ``LazyCall(target)(**kwargs)`` returns a ``DictConfig`` holding ``kwargs`` plus
    ``_target_``. The target is stored as its dotted import path when one resolves back to it
    (so the config saves to YAML), otherwise as the object itself.

    Args:
        target: a class, function or other callable, or a dotted import path string.
    """

    def __init__(self, target: Callable[..., Any] | str) -> None:
        if not (callable(target) or isinstance(target, str)):
            raise TypeError(f"LazyCall target must be callable or a dotted path string, got {target!r}")
        self._target = target

    def __call__(self, **kwargs: Any) -> DictConfig:
        target = self._target
        if not isinstance(target, str):
            target = dotted_path(target) or target
        node = {"_target_": target, **tuples_to_lists(kwargs)}
        return DictConfig(node, flags={"allow_objects": True})


def _serializable(value: Any, key: str, lossy: list[str]) -> Any:
    """Copy of a plain container tree with every leaf YAML can hold; records keys it had to change."""
    if isinstance(value, dict):
        return {k: _serializable(v, f"{key}.{k}" if key else str(k), lossy) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_serializable(v, f"{key}.{i}", lossy) for i, v in enumerate(value)]
    if isinstance(value, _YAML_SCALARS):
        return value
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if (key == "_target_" or key.endswith("._target_")) and callable(value):
        path = dotted_path(value)
        if path is not None:
            return path
        lossy.append(key)
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    lossy.append(key)
    return repr(value)


class LazyConfig:
    """Load, save and override lazy configs (see the module docstring)."""

    @staticmethod
    def load(filename: str, keys: None | str | tuple[str, ...] = None) -> Any:
        """Load a ``.py`` or ``.yaml`` config file.

        Args:
            filename: path of the config file. Python configs may import other configs with
                relative imports (``from .common.base import model``).
            keys: ``None`` for the whole config, a top-level key to return only that node, or a
                tuple of keys to return a tuple of nodes.

        Returns:
            A ``DictConfig`` (or the selected node(s)).

        Raises:
            FileNotFoundError: the file does not exist.
            SyntaxError: a Python config does not parse (file and line in the message).
            KeyError: a requested key is not a top-level key of the file.
        """
        filename = os.fspath(filename)
        cfg = load_file(filename)
        if keys is None:
            return cfg
        names = (keys,) if isinstance(keys, str) else tuple(keys)
        missing = [k for k in names if k not in cfg]
        if missing:
            raise KeyError(f"Config file {filename} has no top-level key(s) {missing}; it has {list(cfg)}")
        selected = tuple(cfg[k] for k in names)
        return selected[0] if isinstance(keys, str) else selected

    @staticmethod
    def save(cfg: DictConfig, filename: str, *, resolve: bool = False) -> None:
        """Write ``cfg`` as YAML that :meth:`load` reads back to an equal config.

        Callable ``_target_`` values become dotted import paths. Values YAML cannot hold (and
        targets with no import path) are written as their ``repr`` with a warning naming their
        keys: such a file documents the run but does not rebuild it. The file is written to a
        temporary name and moved into place, so a crash never leaves a partial file.

        Args:
            cfg: the config to save.
            filename: destination ``.yaml`` path; its folder is created if needed.
            resolve: write interpolations (``${..x}``) resolved instead of as written.
        """
        filename = os.fspath(filename)
        container = OmegaConf.to_container(cfg, resolve=resolve)
        lossy: list[str] = []
        text = OmegaConf.to_yaml(OmegaConf.create(_serializable(container, "", lossy)))
        if lossy:
            warnings.warn(
                f"Config saved to {filename} cannot be fully serialized: the values at "
                f"{', '.join(lossy)} are not importable or not YAML types and were written as text.",
                UserWarning,
                stacklevel=2,
            )
        with atomic_file(filename, "w") as f:
            f.write(text)
        logger.info("Saved config to %s", filename)

    @staticmethod
    def apply_overrides(cfg: DictConfig, overrides: list[str]) -> DictConfig:
        """Apply command-line style ``key=value`` overrides in place and return ``cfg``.

        See :func:`maskrcnn_ext.config.overrides.apply_overrides` for the syntax.
        """
        return apply_overrides(cfg, overrides)
