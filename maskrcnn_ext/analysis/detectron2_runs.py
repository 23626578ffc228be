"""Read the run directories of Detectron2's engine (its ``metrics.json`` and a saved LazyConfig).

Detectron2's trainer writes ``metrics.json``: JSON lines of ``{"iteration": i, <scalar>: value, ...}``,
one per written iteration, with no row type. Training scalars (``total_loss``, ``loss_*``, ``lr``,
``time``, ``fast_rcnn/cls_accuracy``, ...) are median-smoothed over its writer's window; evaluation
results are put beside them by its evaluation hook, flattened with ``/`` (``bbox/AP``, ``segm/AP50``,
``bbox/AP-person``). A periodic evaluation can share its row with the training scalars of the same
iteration; the final one, made after the last step, is labelled ``max_iter``. COCO AP is written in
AP points (0-100), where this toolkit stores fractions (0-1).

Reading such a file gives the same ``(train, evals)`` rows as a ``metrics.jsonl`` of this toolkit:
keys whose first ``/`` part names an evaluation task (:data:`EVAL_TASKS`) form the eval row of the
iteration, AP keys divided by 100, and the other numbers form its train row.

``config.yaml`` written by Detectron2's ``LazyConfig.save`` may hold Python tags
(``!!python/name:...BottleneckBlock``) that ``yaml.safe_load`` refuses; :func:`load_yaml_data` reads
them as plain data (the tag's name, or the tagged node's mapping / list / text) without importing
or building anything.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
# The first ``/`` part of the keys Detectron2's evaluators return (COCO, LVIS, semantic, panoptic).
EVAL_TASKS = frozenset({"bbox", "segm", "keypoints", "sem_seg", "panoptic_seg"})
# Detectron2's COCO evaluator reports AP in points; the toolkit's tables expect fractions.
AP_POINTS_PER_FRACTION = 100.0
Rows = dict[int, dict[str, float]]


def is_eval_key(key: str) -> bool:
    """Whether a Detectron2 scalar is an evaluation result (``bbox/AP``, ``segm/AP-person``, ...)."""
    return "/" in key and key.split("/", 1)[0] in EVAL_TASKS


def _is_ap_key(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith("AP")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def parse_json_line(line: str, path: Path, lineno: int) -> dict[str, Any] | None:
    """One line of a metrics file as a dict with an integer ``iteration`` (both engines write such
    lines); ``None``, with a warning naming the file and line, for anything else."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        logger.warning("%s:%d: skipping malformed JSON line (%s)", path, lineno, e.msg)
        return None
    if not isinstance(row, dict) or not isinstance(row.get("iteration"), int):
        logger.warning("%s:%d: skipping line that is not an object with an integer 'iteration'", path, lineno)
        return None
    return row


def split_row(row: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """One Detectron2 row as ``(train values, eval values)``, AP keys of the latter as fractions.

    Args:
        row: a parsed ``metrics.json`` line (``iteration`` and non-numeric values are left out).

    Returns:
        The numeric training scalars and the numeric evaluation results (NaN kept: COCO's AP of a
        class without ground truth).
    """
    train: dict[str, float] = {}
    evals: dict[str, float] = {}
    for key, raw in row.items():
        value = _number(raw)
        if key == "iteration" or value is None:
            continue
        if not is_eval_key(key):
            train[key] = value
        else:
            evals[key] = value / AP_POINTS_PER_FRACTION if _is_ap_key(key) else value
    return train, evals


def read_detectron2_metrics(path: Path) -> tuple[Rows, Rows]:
    """Read a Detectron2 ``metrics.json``; malformed lines are skipped with a warning.

    A resumed Detectron2 run appends to the file and may write an iteration again: for each of the
    train and eval parts, the last row of an iteration that has that part wins.

    Args:
        path: the ``metrics.json`` file.

    Returns:
        ``(train, evals)``: iteration -> numeric values, AP in fractions as in ``metrics.jsonl``.
    """
    train: Rows = {}
    evals: Rows = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            row = parse_json_line(line, path, lineno) if line.strip() else None
            if row is None:
                continue
            train_part, eval_part = split_row(row)
            if train_part:
                train[row["iteration"]] = train_part
            if eval_part:
                evals[row["iteration"]] = eval_part
    return train, evals


class _PlainDataLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that reads Python-tagged nodes as plain data instead of refusing them."""


def _python_tag_as_data(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    # ``!!python/name:pkg.Class ''`` names an object: keep the name. Tagged objects, tuples and the
    # like keep their node's own contents; nothing is imported or instantiated.
    if suffix.startswith("name:") or suffix.startswith("module:"):
        return suffix.split(":", 1)[1]
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_PlainDataLoader.add_multi_constructor("tag:yaml.org,2002:python/", _python_tag_as_data)


def load_yaml_data(text: str) -> Any:
    """Parse YAML as plain data; Python tags (as ``LazyConfig.save`` writes) become names or plain nodes.

    Args:
        text: the YAML document.

    Returns:
        The parsed value. Raises ``yaml.YAMLError`` on invalid YAML.
    """
    return yaml.load(text, Loader=_PlainDataLoader)  # noqa: S506 (a SafeLoader subclass)
