"""Command-line overrides (``train.max_iter=100``) and flattening configs to dotted keys."""

from __future__ import annotations

import ast
import difflib
import logging
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ._utils import SEQUENCE_CONFIG_TYPES, is_mapping, is_sequence, tuples_to_lists

logger = logging.getLogger(__name__)

__all__ = ["ConfigKeyError", "apply_overrides", "parse_override", "flatten"]


class ConfigKeyError(KeyError):
    """An override names a key the config does not have."""

    def __str__(self) -> str:
        # KeyError's default str() is the repr of its argument, which quotes the whole message.
        return str(self.args[0]) if self.args else ""


def parse_override(override: str) -> tuple[str, Any, bool]:
    """Split ``"a.b=value"`` into key, parsed value and whether the key is new (``+a.b=value``).

    The value is parsed as a Python literal (``100``, ``0.5``, ``[1, 2]``, ``None``, ``True``,
    ``'text'``) and kept as the raw string when it is not one (``out/run1``).

    Raises:
        ValueError: the override has no ``=`` or an empty key.
    """
    if "=" not in override:
        raise ValueError(f"Malformed override {override!r}: expected 'key=value', e.g. 'train.max_iter=100'")
    key, raw = override.split("=", 1)
    key = key.strip()
    add = key.startswith("+")
    key = key[1:] if add else key
    if not key or any(not part for part in key.split(".")):
        raise ValueError(f"Malformed override {override!r}: the key before '=' is empty or has an empty part")
    raw = raw.strip()
    try:
        # Tuples become lists, as in LazyCall, so that the config still saves to equal YAML.
        value = tuples_to_lists(ast.literal_eval(raw))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        value = raw
    return key, value, add


def _child_keys(node: Any) -> list[Any]:
    # keys() rather than ``in``: OmegaConf's ``in`` answers False for keys holding "???".
    return list(node.keys()) if isinstance(node, DictConfig) else list(range(len(node)))


def _all_keys(cfg: DictConfig) -> list[str]:
    """Every dotted key of ``cfg``, containers and leaves (used to suggest fixes for typos)."""
    # Unresolved, so that a broken interpolation elsewhere cannot hide the hint.
    plain = OmegaConf.to_container(cfg, resolve=False)
    keys: list[str] = []

    def visit(value: Any, prefix: str) -> None:
        children: Any = ()
        if isinstance(value, dict):
            children = value.items()
        elif isinstance(value, (list, tuple)):
            children = enumerate(value)
        for k, v in children:
            dotted = f"{prefix}.{k}" if prefix else str(k)
            keys.append(dotted)
            visit(v, dotted)

    visit(plain, "")
    return keys


def _unknown_key(cfg: DictConfig, override: str, key: str, reason: str) -> ConfigKeyError:
    close = difflib.get_close_matches(key, _all_keys(cfg), n=3, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return ConfigKeyError(
        f"Override {override!r}: {reason}.{hint} To add a new key, prefix it with '+' (e.g. '+{key}=...')."
    )


def _resolve_part(node: Any, part: str) -> Any | None:
    """The key of ``node`` that the dotted-key component ``part`` names, or ``None``."""
    if isinstance(node, DictConfig):
        keys = _child_keys(node)
        if part in keys:
            return part
        if part.lstrip("-").isdigit() and int(part) in keys:
            return int(part)
        return None
    if part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
        return int(part)
    return None


def _set(cfg: DictConfig, override: str, key: str, value: Any, add: bool) -> None:
    parts = key.split(".")
    node: Any = cfg
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[:depth]) or "the config root"
        if not isinstance(node, (DictConfig, *SEQUENCE_CONFIG_TYPES)):
            raise _unknown_key(cfg, override, key, f"'{where}' is a value, not a node with keys")
        resolved = _resolve_part(node, part)
        if resolved is None:
            if not (add and isinstance(node, DictConfig)):
                raise _unknown_key(cfg, override, key, f"'{where}' has no key {part!r}")
            # '+' may create intermediate nodes, as in hydra.
            node[part] = value if last else DictConfig({}, flags={"allow_objects": True})
            if last:
                return
            resolved = part
        elif last:
            if add:
                raise ValueError(
                    f"Override {override!r}: key {key!r} already exists; drop the '+' to change it"
                )
            node[resolved] = value
            return
        node = node[resolved]


def apply_overrides(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """Apply ``key=value`` overrides to ``cfg`` in place and return it.

    Keys are dotted paths; list elements are addressed by index (``a.b.0.c=3``). Only existing
    keys can be set, unless the key starts with ``+`` (``+train.foo=1``), which adds it.

    Args:
        cfg: the config to modify.
        overrides: strings such as ``["train.max_iter=100", "train.output_dir=out/x"]``.

    Returns:
        ``cfg`` itself.

    Raises:
        ValueError: a malformed override, or ``+`` on a key that already exists.
        ConfigKeyError: a key that does not exist; the message suggests the closest keys.
    """
    if isinstance(overrides, str):
        raise TypeError(
            f"overrides must be a list of 'key=value' strings, got the single string {overrides!r}"
        )
    for override in overrides:
        key, value, add = parse_override(override)
        _set(cfg, override, key, value, add)
        logger.debug("Override %s -> %r", key, value)
    return cfg


def _flatten_plain(value: Any, prefix: str, out: dict[str, Any]) -> None:
    children = value.items() if is_mapping(value) else enumerate(value) if is_sequence(value) else None
    if children is None or not value:
        # Empty containers are kept as leaves so that "a: []" and a missing "a" differ.
        if prefix:
            out[prefix] = value
        return
    for k, v in children:
        _flatten_plain(v, f"{prefix}.{k}" if prefix else str(k), out)


def flatten(cfg: Any, *, resolve: bool = False) -> dict[str, Any]:
    """Map every leaf of ``cfg`` to its dotted key, e.g. ``{"model.backbone._target_": "..."}``.

    Args:
        cfg: a config node or plain dict/list.
        resolve: replace interpolations (``${..x}``) by their values instead of keeping the text.

    Returns:
        Dict of dotted key -> leaf value, in config order. List elements use their index.
    """
    if isinstance(cfg, (DictConfig, *SEQUENCE_CONFIG_TYPES)):
        cfg = OmegaConf.to_container(cfg, resolve=resolve)
    out: dict[str, Any] = {}
    _flatten_plain(cfg, "", out)
    return out
