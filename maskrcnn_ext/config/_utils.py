"""Helpers shared by the config modules: resolving dotted import paths and recognising config nodes."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig

try:  # omegaconf >= 2.4 keeps tuples as their own node type
    from omegaconf import TupleConfig

    SEQUENCE_CONFIG_TYPES: tuple[type, ...] = (ListConfig, TupleConfig)
except ImportError:  # pragma: no cover - older omegaconf turns tuples into ListConfig
    SEQUENCE_CONFIG_TYPES = (ListConfig,)

__all__ = ["locate", "dotted_path", "is_mapping", "is_sequence", "tuples_to_lists", "SEQUENCE_CONFIG_TYPES"]


def is_mapping(obj: Any) -> bool:
    """True for ``DictConfig`` nodes and plain mappings."""
    return isinstance(obj, (DictConfig, Mapping))


def is_sequence(obj: Any) -> bool:
    """True for list/tuple config nodes and plain lists/tuples (strings are not sequences here)."""
    return isinstance(obj, (*SEQUENCE_CONFIG_TYPES, list, tuple))


def tuples_to_lists(obj: Any) -> Any:
    """Recursively turn tuples inside plain containers into lists.

    A YAML file has no tuple type, so keeping every sequence a list makes a saved config reload
    to exactly what was saved. Config nodes are left untouched: they are already converted.
    """
    if isinstance(obj, (DictConfig, *SEQUENCE_CONFIG_TYPES)):
        return obj
    if isinstance(obj, dict):
        return {k: tuples_to_lists(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [tuples_to_lists(v) for v in obj]
    return obj


def _import_longest_module(parts: list[str]) -> tuple[Any, int]:
    """Import the longest importable module prefix of ``parts``; return it and its length."""
    for end in range(len(parts), 0, -1):
        module_name = ".".join(parts[:end])
        try:
            return importlib.import_module(module_name), end
        except ModuleNotFoundError as e:
            # Only "this prefix is not a module" means try a shorter one; a module that exists but
            # fails on a missing dependency of its own must surface that real error.
            missing = e.name or ""
            if module_name != missing and not module_name.startswith(missing + "."):
                raise
    raise ImportError(f"no module named {parts[0]!r}")


def locate(path: str) -> Any:
    """Return the object named by the dotted import path ``path``.

    Args:
        path: e.g. ``"torch.nn.Conv2d"`` or ``"maskrcnn_ext.registry.build_from_registry"``.

    Returns:
        The module attribute (class, function, any object) the path names.

    Raises:
        ImportError: the path does not resolve; the message names ``path`` and the failing part.
    """
    if not isinstance(path, str) or not path or any(not p for p in path.split(".")):
        raise ImportError(f"{path!r} is not a dotted import path")
    parts = path.split(".")
    try:
        obj, end = _import_longest_module(parts)
    except ImportError as e:
        raise ImportError(f"cannot locate {path!r}: {e}") from e
    for i in range(end, len(parts)):
        try:
            obj = getattr(obj, parts[i])
        except AttributeError as e:
            owner = ".".join(parts[:i])
            raise ImportError(f"cannot locate {path!r}: {owner!r} has no attribute {parts[i]!r}") from e
    return obj


def _locates_to(path: str, obj: Any) -> bool:
    try:
        return locate(path) is obj
    except Exception:  # noqa: BLE001 - any failure just means "not this path"
        return False


def dotted_path(obj: Any) -> str | None:
    """The shortest dotted import path that resolves back to ``obj``, or ``None`` if there is none.

    Classes are usually defined deep inside a package (``torch.nn.modules.conv.Conv2d``) but
    re-exported higher up; the shortest path that round-trips is the one users recognise.
    Objects defined in a function, lambdas, or objects from config files have no such path.
    """
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    module_parts = module.split(".")
    for end in range(1, len(module_parts) + 1):
        candidate = ".".join(module_parts[:end]) + "." + qualname
        if _locates_to(candidate, obj):
            return candidate
    return None
