"""Reading config files: Python configs (with relative imports between them) and YAML.

A Python config is executed as code. Its relative imports (``from .common.base import model``,
``from ..common.data.shapes import dataloader``) are answered by executing the named sibling
config file, so configs can build on each other the way detectron2's do, without being part of
an importable package. Every import executes the file again, so each importer gets its own copy
of the objects and can modify them freely.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import types
from collections.abc import Iterator
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf

from ._utils import tuples_to_lists

__all__ = ["load_file", "to_config"]

# Config files execute as modules of this (non-existent) package; the prefix is how the import
# hook tells a relative import written in a config file from one inside a real library.
_CONFIG_PACKAGE = "maskrcnn_ext.config._loaded_configs"


def to_config(value: Any) -> Any:
    """Wrap plain dicts/lists as ``DictConfig``/``ListConfig`` that may hold arbitrary objects.

    Args:
        value: a dict, list, config node, or anything else (returned unchanged).

    Returns:
        A config node for dicts and lists, ``value`` itself otherwise.
    """
    if isinstance(value, dict):
        return DictConfig(tuples_to_lists(value), flags={"allow_objects": True})
    if isinstance(value, list):
        return ListConfig(tuples_to_lists(value), flags={"allow_objects": True})
    return value


def _is_config_value(name: str, value: Any) -> bool:
    return not name.startswith("_") and isinstance(value, (dict, list, DictConfig, ListConfig))


def _read_source(filename: str) -> str:
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"Config file not found: {filename}")
    with open(filename, encoding="utf-8") as f:
        return f.read()


def _compile(source: str, filename: str) -> types.CodeType:
    try:
        return compile(source, filename, "exec")
    except SyntaxError as e:
        raise SyntaxError(f"Config file {filename}, line {e.lineno}: {e.msg}") from e


def _module_name(filename: str) -> str:
    stem = os.path.splitext(os.path.basename(filename))[0]
    safe = "".join(c if c.isalnum() or c == "_" else "_" for c in stem)
    return f"{_CONFIG_PACKAGE}.{safe}"


def _exec_py_config(filename: str) -> types.ModuleType:
    """Execute a Python config file; return it as a module whose dict/list values are config nodes."""
    filename = os.path.abspath(filename)
    code = _compile(_read_source(filename), filename)
    module = types.ModuleType(_module_name(filename))
    module.__file__ = filename
    module.__package__ = _CONFIG_PACKAGE
    exec(code, module.__dict__)
    for name, value in list(vars(module).items()):
        if _is_config_value(name, value):
            setattr(module, name, to_config(value))
    return module


def _relative_target(importer_file: str, name: str, level: int) -> str:
    """Path (without extension) that ``from <level dots><name> import ...`` refers to."""
    base = os.path.dirname(importer_file)
    for _ in range(level - 1):
        base = os.path.dirname(base)
    return os.path.join(base, *name.split(".")) if name else base


def _import_config(importer_file: str, name: str, level: int, fromlist: Any) -> types.ModuleType | None:
    """Answer a relative import made by a config file, or ``None`` if it names no config file."""
    target = _relative_target(importer_file, name, level)
    if os.path.isfile(target + ".py"):
        return _exec_py_config(target + ".py")
    if os.path.isdir(target) and fromlist:
        # ``from .common import base``: a folder whose members are config files.
        files = {item: os.path.join(target, item + ".py") for item in fromlist}
        if all(os.path.isfile(f) for f in files.values()):
            package = types.ModuleType(_CONFIG_PACKAGE)
            for item, file in files.items():
                setattr(package, item, _exec_py_config(file))
            return package
    return None


def _is_from_config_file(globals_: Any, level: int) -> bool:
    if level <= 0 or not isinstance(globals_, dict):
        return False
    package = globals_.get("__package__") or ""
    return package.startswith(_CONFIG_PACKAGE) and isinstance(globals_.get("__file__"), str)


@contextlib.contextmanager
def _config_import_hook() -> Iterator[None]:
    """Route relative imports written in config files to :func:`_import_config`.

    ``builtins.__import__`` is process-global, so loading configs from several threads at once
    is not supported; everything else keeps going to the real importer.
    """
    real_import = builtins.__import__

    def config_import(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002
        if _is_from_config_file(globals, level):
            module = _import_config(globals["__file__"], name, level, fromlist)
            if module is not None:
                return module
            dots = "." * level
            raise ImportError(
                f"Config file {globals['__file__']}: 'from {dots}{name} import ...' names no config "
                f"file (looked for {_relative_target(globals['__file__'], name, level)}.py)"
            )
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = config_import
    try:
        yield
    finally:
        builtins.__import__ = real_import


def _load_py(filename: str) -> DictConfig:
    with _config_import_hook():
        module = _exec_py_config(filename)
    collected = {name: value for name, value in vars(module).items() if _is_config_value(name, value)}
    return DictConfig(collected, flags={"allow_objects": True})


def _load_yaml(filename: str) -> DictConfig:
    source = _read_source(filename)
    try:
        # OmegaConf's YAML loader is built on yaml.SafeLoader: python object tags are rejected.
        cfg = OmegaConf.create(source)
    except yaml.YAMLError as e:
        raise ValueError(f"Config file {filename} is not valid safe YAML: {e}") from e
    if not isinstance(cfg, DictConfig):
        raise ValueError(f"Config file {filename} must contain a mapping at the top level, got a list")
    return DictConfig(cfg, flags={"allow_objects": True})


def load_file(filename: str) -> DictConfig:
    """Load a ``.py`` or ``.yaml``/``.yml`` config file into a ``DictConfig``.

    Raises:
        FileNotFoundError: the file does not exist.
        SyntaxError: a Python config (or one it imports) does not parse; names file and line.
        ValueError: unsupported extension, or YAML that is invalid or uses unsafe tags.
    """
    ext = os.path.splitext(filename)[1].lower()
    if ext == ".py":
        return _load_py(filename)
    if ext in (".yaml", ".yml"):
        return _load_yaml(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"Config file not found: {filename}")
    raise ValueError(f"Config file {filename}: unsupported extension {ext!r}; use .py, .yaml or .yml")
