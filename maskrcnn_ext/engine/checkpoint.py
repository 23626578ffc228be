"""Saving and resuming training state; initial weights through :mod:`maskrcnn_ext.checkpoint`.

Files are written atomically (:func:`~maskrcnn_ext.utils.file_io.atomic_file`), and the
``last_checkpoint`` pointer is updated only after the checkpoint it names is complete, so a crash
mid-save never leaves a pointer to a partial file.
"""
from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ..checkpoint import LoadReport, load_model_weights, read_model_state, unwrap_model
from ..checkpoint.weights import MODEL_KEY
from ..utils.file_io import atomic_file

__all__ = ["Checkpointer", "last_checkpoint_file", "local_weights_file"]

logger = logging.getLogger(__name__)

_POINTER = "last_checkpoint"
_RNG_KEY = "rng_states"


def last_checkpoint_file(save_dir: str | os.PathLike) -> str | None:
    """Path of the checkpoint the ``last_checkpoint`` pointer of ``save_dir`` names; None without one."""
    pointer = os.path.join(save_dir, _POINTER)
    if not os.path.isfile(pointer):
        return None
    with open(pointer, encoding="utf-8") as f:
        filename = f.read().strip()
    return os.path.join(save_dir, filename)


def _rng_states() -> dict[str, Any]:
    # Only tensors and primitives, so that every checkpoint loads with torch.load(weights_only=True).
    name, keys, pos, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: Mapping[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.int64).astype(np.uint32), pos, has_gauss, cached))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        if len(states["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states["cuda"])
        else:
            logger.warning("The checkpoint's CUDA RNG states are for a different number of GPUs; not restored.")


def local_weights_file(spec: str) -> str:
    """The default weights resolver: ``spec`` must be an existing file."""
    if not os.path.isfile(spec):
        raise FileNotFoundError(f"Checkpoint file not found: {spec}")
    return spec


class Checkpointer:
    """Save and restore a model together with any other objects that have a ``state_dict``.

    Args:
        model: the model (a DDP wrapper is unwrapped when saving and loading).
        save_dir: directory for checkpoints and the ``last_checkpoint`` pointer.
        save_to_disk: whether ``save`` writes; pass ``False`` on non-main ranks.
        resolve_weights: maps ``init_checkpoint`` (a path, or whatever names the caller supports,
            e.g. :func:`maskrcnn_ext.model_zoo.resolve_checkpoint` for zoo names and URLs) to a local
            weights file; the default accepts existing files only.
        **checkpointables: e.g. ``optimizer=..., scheduler=..., trainer=...``.
    """

    def __init__(self, model: nn.Module, save_dir: str, *, save_to_disk: bool = True,
                 resolve_weights: Callable[[str], str] = local_weights_file, **checkpointables: Any) -> None:
        reserved = {MODEL_KEY, _RNG_KEY} & set(checkpointables)
        if reserved:
            raise ValueError(f"Checkpointable names {sorted(reserved)} are reserved")
        self.model = model
        self.save_dir = save_dir
        self.save_to_disk = save_to_disk
        self.resolve_weights = resolve_weights
        self.checkpointables = checkpointables

    def save(self, name: str, **extra: Any) -> str | None:
        """Write ``{save_dir}/{name}.pth`` and point ``last_checkpoint`` at it.

        Args:
            name: file name without ``.pth``.
            **extra: small picklable values stored alongside, e.g. ``iteration=...``.

        Returns:
            The path written, or ``None`` when ``save_to_disk`` is false.
        """
        if not self.save_to_disk:
            return None
        clash = {MODEL_KEY, _RNG_KEY, *self.checkpointables} & set(extra)
        if clash:
            raise ValueError(f"Extra checkpoint keys {sorted(clash)} clash with reserved or checkpointable names")
        data: dict[str, Any] = {MODEL_KEY: unwrap_model(self.model).state_dict()}
        data.update({key: obj.state_dict() for key, obj in self.checkpointables.items()})
        data.update(extra)
        data[_RNG_KEY] = _rng_states()

        filename = f"{name}.pth"
        path = os.path.join(self.save_dir, filename)
        with atomic_file(path, "wb") as f:
            torch.save(data, f)
        with atomic_file(os.path.join(self.save_dir, _POINTER), "w") as f:
            f.write(filename)
        logger.info("Saved checkpoint to %s", path)
        return path

    def get_checkpoint_file(self) -> str | None:
        """Path of the checkpoint named by ``last_checkpoint``, or ``None`` when there is no pointer."""
        return last_checkpoint_file(self.save_dir)

    def has_checkpoint(self) -> bool:
        """Whether ``last_checkpoint`` exists and names an existing file."""
        path = self.get_checkpoint_file()
        return path is not None and os.path.isfile(path)

    def resume_or_load(self, path: str | None, *, resume: bool) -> dict[str, Any]:
        """Resume the full state from the last checkpoint, or initialise the model weights from ``path``.

        Args:
            path: weights used when not resuming (a state dict or a dict with ``"model"``); may be empty.
            resume: resume from ``last_checkpoint`` when it exists.

        Returns:
            The ``extra`` values of the resumed checkpoint (e.g. ``{"iteration": 999}``), else ``{}``.
        """
        if resume and self.has_checkpoint():
            return self._resume(self.get_checkpoint_file())
        if resume:
            logger.info("No checkpoint to resume from in %s", self.save_dir)
        if path:
            self.load_weights(path)
        return {}

    def load_weights(self, path: str) -> LoadReport:
        """Initialise the model from weights, refusing anything but tensors (``weights_only``).

        Args:
            path: a weights file, or any name ``resolve_weights`` turns into one.

        Raises:
            ValueError: most of the checkpoint does not fit the model (another architecture).
        """
        path = self.resolve_weights(path)
        logger.info("Loading model weights from %s", path)
        report = load_model_weights(self.model, read_model_state(path, model=self.model))  # .pkl: converted
        report.require_same_architecture(path)
        return report

    def _resume(self, path: str) -> dict[str, Any]:
        local_weights_file(path)
        logger.info("Resuming from %s", path)
        # Our own file: it holds optimizer state and RNG states, which need full unpickling.
        data = torch.load(path, map_location="cpu", weights_only=False)
        load_model_weights(self.model, data.pop(MODEL_KEY))
        for key, obj in self.checkpointables.items():
            if key in data:
                obj.load_state_dict(data.pop(key))
            else:
                logger.warning("%s has no state for %r; it keeps its current state", path, key)
        rng = data.pop(_RNG_KEY, None)
        if rng is not None:
            _set_rng_states(rng)
        return data

