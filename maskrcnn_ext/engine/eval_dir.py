"""Where an evaluation of saved weights (``train_net.py --eval-only``) writes: a directory of its own.

A training run's directory is the record of what was trained. An evaluation writes nothing into it;
it gets its own directory with its own ``config.yaml`` (the evaluation's config), ``config_source.py``,
``env.txt``, ``log.txt``, ``metrics.jsonl`` (one ``"type": "eval"`` row naming the weights evaluated),
``inference/`` (predictions and COCO metrics, as in a run) and ``vis/``. By default that is
``<train.output_dir>/eval/<weights>``, ``<weights>`` being the weights file's name without extension
(``model_final``), with ``-2``, ``-3``... appended when taken, so a second evaluation of the same
weights keeps the first one's record too.
"""
from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

import torch

from maskrcnn_ext.utils import comm

from .checkpoint import last_checkpoint_file

__all__ = ["EVAL_SUBDIR", "checkpoint_iteration", "evaluation_dir", "evaluation_weights", "write_eval_row"]

logger = logging.getLogger(__name__)

EVAL_SUBDIR = "eval"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def evaluation_weights(run_dir: str, init_checkpoint: str | None, *, resume: bool) -> str:
    """What ``--eval-only`` evaluates: the run's last checkpoint (with ``resume``, when there is one),
    else ``init_checkpoint`` (a file, URL or zoo name).

    Raises:
        ValueError: neither is available.
    """
    if resume:
        last = last_checkpoint_file(run_dir)
        if last is not None and os.path.isfile(last):
            return last
    if not init_checkpoint:
        raise ValueError("--eval-only needs weights: set train.init_checkpoint (a file, URL or zoo name) "
                         "or pass --resume in a run directory with a checkpoint")
    return str(init_checkpoint)


def _weights_label(weights: str) -> str:
    """A directory name for ``weights``: its file name without extension, reduced to safe characters."""
    stem = os.path.splitext(os.path.basename(weights.rstrip("/")))[0]
    return _UNSAFE.sub("_", stem).strip("._") or "weights"


def _new_default_dir(run_dir: str, weights: str) -> str:
    base = os.path.join(run_dir, EVAL_SUBDIR, _weights_label(weights))
    path, number = base, 1
    while os.path.exists(path):
        number += 1
        path = f"{base}-{number}"
    return path


def _check_explicit_dir(path: str, run_dir: str) -> None:
    """Refuse a directory that holds a training run: the evaluation would overwrite its record."""
    is_run_dir = os.path.realpath(path) == os.path.realpath(run_dir)
    if is_run_dir or os.path.exists(os.path.join(path, "last_checkpoint")):
        raise ValueError(f"--eval-output {path} is a training run's directory; an evaluation writes into a "
                         "directory of its own (leave --eval-output out for <train.output_dir>/eval/<weights>)")


def evaluation_dir(run_dir: str, weights: str, *, explicit: str | None = None) -> str:
    """The directory an evaluation of ``weights`` writes into, the same on every rank.

    Args:
        run_dir: the training run's directory (``train.output_dir``).
        weights: what is evaluated, see :func:`evaluation_weights`.
        explicit: a directory given by the user (``--eval-output``); used as it is, unless it is a
            training run's directory.

    Returns:
        ``explicit``, or a new ``<run_dir>/eval/<weights name>[-k]`` (chosen by rank 0; not created).
    """
    if explicit:
        _check_explicit_dir(explicit, run_dir)
        return explicit
    # Only rank 0 looks at what exists: another rank could find the directory rank 0 just created.
    chosen = _new_default_dir(run_dir, weights) if comm.is_main_process() else None
    return comm.all_gather(chosen)[0]


def checkpoint_iteration(weights: str) -> int | None:
    """The training iteration a local checkpoint of this toolkit records; None for other weights."""
    if not os.path.isfile(weights):
        return None
    try:
        # mmap: only the small "iteration" entry is read, not the tensors.
        data = torch.load(weights, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # a .pkl, a legacy file or anything else that is not our checkpoint format
        return None
    iteration = data.get("iteration") if isinstance(data, dict) else None
    return iteration if isinstance(iteration, int) else None


def write_eval_row(eval_dir: str, flat_results: Mapping[str, float], *, weights: str, run_dir: str) -> None:
    """Write ``eval_dir/metrics.jsonl``: one ``"type": "eval"`` row with the flattened results.

    Args:
        eval_dir: the evaluation's directory.
        flat_results: e.g. ``{"bbox/AP": 0.31, "inference/skipped_images": 0}``.
        weights: what was evaluated; recorded as ``weights``.
        run_dir: the training run's directory; recorded as ``run_dir``.

    The row's ``iteration`` is the checkpoint's training iteration, -1 when the weights record none.
    """
    iteration = checkpoint_iteration(weights)
    row: dict[str, Any] = {"type": "eval", "iteration": -1 if iteration is None else iteration,
                           "weights": weights, "run_dir": run_dir, **flat_results}
    os.makedirs(eval_dir, exist_ok=True)
    path = os.path.join(eval_dir, "metrics.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(row, sort_keys=True) + "\n")
    logger.info("Evaluation of %s recorded in %s", weights, path)
