"""Load zoo models by name, and resolve ``train.init_checkpoint`` (a zoo name, a path or a URL).

A zoo is a folder or a URL (``file://``, ``http(s)://``) holding an ``index.json``; the default is
``$MASKRCNN_EXT_ZOO``, else ``./model_zoo``. Every weights file is checked against its sha256 before
use; downloads are cached (:func:`~maskrcnn_ext.model_zoo.storage.default_cache_dir`).
"""
from __future__ import annotations

import difflib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ..checkpoint import load_model_weights, read_model_state
from ..config import instantiate
from .index import read_index, zoo_path
from .storage import ZooError, fetch, is_url, read_text
from .upstream import fetch_upstream, is_upstream

__all__ = ["ZooModel", "default_zoo", "get", "get_config", "locate", "resolve_checkpoint"]

logger = logging.getLogger(__name__)

ZOO_ENV = "MASKRCNN_EXT_ZOO"
_HASHED_NAME = re.compile(r"-([0-9a-f]{8,64})\.pth$")


@dataclass
class ZooModel:
    """A located zoo model: its verified local weights file and its manifest."""

    name: str
    weights: Path
    manifest: dict[str, Any]

    @property
    def config(self) -> DictConfig:
        """The resolved config the model was trained with."""
        return DictConfig(OmegaConf.create(self.manifest["config"]), flags={"allow_objects": True})


def default_zoo() -> str:
    return os.environ.get(ZOO_ENV) or "model_zoo"


def _unknown(name: str, zoo: str, known: list[str]) -> ZooError:
    if not known:
        return ZooError(f"no model {name!r}: the zoo at {zoo} has no models")
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.4)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; it has {', '.join(sorted(known)[:10])}"
    return ZooError(f"no model {name!r} in the zoo at {zoo}{hint}")


def locate(name: str, *, zoo: str | None = None, cache_dir: str | os.PathLike | None = None) -> ZooModel:
    """Find ``name`` in the zoo and return its verified weights (downloaded and cached for a URL zoo)."""
    zoo = str(zoo or default_zoo())
    models = read_index(zoo)["models"]
    if name not in models:
        raise _unknown(name, zoo, list(models))
    entry = models[name]
    manifest = json.loads(read_text(zoo_path(zoo, entry["manifest"])))
    if manifest.get("sha256") != entry["sha256"]:
        raise ZooError(f"the manifest {entry['manifest']} of {name!r} names sha256 {manifest.get('sha256')}, "
                       f"the index {entry['sha256']}; the zoo at {zoo} is inconsistent")
    weights = fetch(zoo_path(zoo, entry["file"]), entry["sha256"], cache_dir=cache_dir)
    return ZooModel(name, weights, manifest)


def get_config(name: str, *, zoo: str | None = None, cache_dir: str | os.PathLike | None = None) -> DictConfig:
    """The config a zoo model was trained with."""
    return locate(name, zoo=zoo, cache_dir=cache_dir).config


def get(name: str, *, zoo: str | None = None, device: str | torch.device = "cpu",
        cache_dir: str | os.PathLike | None = None) -> nn.Module:
    """A zoo model built from its config with its verified weights, in eval mode on ``device``.

    Raises:
        ZooError: unknown name (close names listed), unreachable zoo, hash mismatch.
        ValueError: the weights do not fully fit the model built from the manifest's config.
    """
    found = locate(name, zoo=zoo, cache_dir=cache_dir)
    model = instantiate(found.config.model)
    load_model_weights(model, read_model_state(found.weights)).require_complete(f"zoo model {name!r}")
    return model.to(device).eval()


def resolve_checkpoint(spec: str, *, zoo: str | None = None, cache_dir: str | os.PathLike | None = None) -> str:
    """A local, verified weights path for ``spec``: an existing file as it is; a publisher's name or a
    ``detectron2://`` URL downloaded, converted and cached (:mod:`.upstream`); another URL downloaded
    (its file name must carry the hash, ``<name>-<sha256 prefix>.pth``); otherwise a zoo model name."""
    if os.path.isfile(spec):
        return spec
    if is_upstream(spec):
        return str(fetch_upstream(spec, cache_dir=cache_dir))
    if is_url(spec):
        match = _HASHED_NAME.search(spec)
        if match is None:
            raise ZooError(f"cannot verify {spec}: its file name carries no sha256 prefix "
                           "('<name>-<8+ hex digits>.pth', as the zoo names files)")
        return str(fetch(spec, match.group(1), cache_dir=cache_dir))
    if os.sep in spec or spec.endswith(".pth"):
        raise FileNotFoundError(f"Checkpoint file not found: {spec}")
    return str(locate(spec, zoo=zoo, cache_dir=cache_dir).weights)
