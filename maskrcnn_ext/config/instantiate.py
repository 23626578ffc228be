"""Build the objects a lazy config describes."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from ._utils import SEQUENCE_CONFIG_TYPES, is_mapping, is_sequence, locate

__all__ = ["InstantiationError", "instantiate"]


class InstantiationError(RuntimeError):
    """Building a config node failed.

    Attributes:
        path: dotted config path of the node that failed, e.g. ``"model.roi_heads.box_head"``.
        target: its ``_target_`` (string or object), ``None`` if the node has none.
    """

    def __init__(self, message: str, *, path: str, target: Any = None) -> None:
        super().__init__(message)
        self.path = path
        self.target = target


def _root_path(cfg: Any) -> str:
    """Dotted path of ``cfg`` inside its root config, so errors name ``model.x`` for ``cfg.model``."""
    if not isinstance(cfg, (DictConfig, *SEQUENCE_CONFIG_TYPES)):
        return ""
    try:
        return str(cfg._get_full_key(None))
    except Exception:  # noqa: BLE001 - a private omegaconf helper; the path is only cosmetic
        return ""


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _describe(path: str) -> str:
    return f"'{path}'" if path else "the config root"


def _resolve_target(target: Any, path: str) -> Any:
    if isinstance(target, str):
        try:
            target = locate(target)
        except ImportError as e:
            raise InstantiationError(
                f"Cannot instantiate config node {_describe(path)}: _target_ {target!r} cannot be "
                f"imported ({e})",
                path=path,
                target=target,
            ) from e
    if not callable(target):
        raise InstantiationError(
            f"Cannot instantiate config node {_describe(path)}: _target_ {target!r} is not callable",
            path=path,
            target=target,
        )
    return target


def _child(node: Any, key: Any, path: str) -> Any:
    """``node[key]``, with interpolation errors reported at the child's config path."""
    try:
        return node[key]
    except Exception as e:  # noqa: BLE001 - omegaconf raises several resolution error types
        raise InstantiationError(
            f"Cannot read config value {_describe(_join(path, key))}: {type(e).__name__}: {e}",
            path=_join(path, key),
        ) from e


def _build(node: Any, path: str) -> Any:
    if is_mapping(node):
        return _build_mapping(node, path)
    if is_sequence(node):
        return [_build(_child(node, i, path), _join(path, i)) for i in range(len(node))]
    return node


def _build_mapping(node: Any, path: str) -> Any:
    keys = list(node.keys())
    values = {k: _build(_child(node, k, path), _join(path, k)) for k in keys if k != "_target_"}
    if "_target_" not in keys:
        return values
    raw_target = _child(node, "_target_", path)
    target = _resolve_target(raw_target, path)
    bad_keys = [k for k in values if not isinstance(k, str)]
    if bad_keys:
        raise InstantiationError(
            f"Cannot instantiate config node {_describe(path)}: argument names must be strings, "
            f"got {bad_keys}",
            path=path,
            target=raw_target,
        )
    try:
        return target(**values)
    except InstantiationError:
        raise  # a target that instantiates configs itself already reported the innermost node
    except Exception as e:
        raise InstantiationError(
            f"Error instantiating config node {_describe(path)} (_target_={raw_target!r}): "
            f"{type(e).__name__}: {e}",
            path=path,
            target=raw_target,
        ) from e


def instantiate(cfg: Any) -> Any:
    """Recursively build the objects described by ``cfg``.

    A node with a ``_target_`` is built by calling the target (a callable, or a dotted import
    path) with its other keys as keyword arguments, after building those arguments first. Nodes
    without ``_target_`` become plain ``dict``/``list`` with built children; anything else is
    returned as is. Interpolations (``${..x}``) are resolved while reading the values.

    Args:
        cfg: a ``DictConfig``/``ListConfig`` (typically made with ``LazyCall``), a plain
            dict/list, or any object.

    Returns:
        The built object.

    Raises:
        InstantiationError: naming the dotted config path of the innermost failing node, its
            ``_target_`` and the original error (chained as ``__cause__``).
    """
    return _build(cfg, _root_path(cfg))
