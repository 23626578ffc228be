"""Read training run directories (``metrics.jsonl`` rows, resolved ``config.yaml``); diff configs.

A run directory of this toolkit holds ``metrics.jsonl``, one ``{"type": "train"|"eval", "iteration": ...}``
object per line; a resumed run appends to it, so the last row of a (type, iteration) wins. A run
directory of Detectron2's engine holds its ``metrics.json`` instead, read into the same rows by
:mod:`.detectron2_runs` (AP converted to fractions); a directory with both is read as the toolkit's.
A sweep is laid out as ``<sweep>/<arm>/seed<k>/``; the arm of a ``seed<k>`` run is its parent
directory's name, the arm of any other run directory is its own name.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from maskrcnn_ext.analysis.detectron2_runs import METRICS_FILE as DETECTRON2_METRICS_FILE
from maskrcnn_ext.analysis.detectron2_runs import load_yaml_data, parse_json_line, read_detectron2_metrics

logger = logging.getLogger(__name__)

_SEED_DIR = re.compile(r"^seed(\d+)$")
METRICS_FILE = "metrics.jsonl"
# The engine that wrote a run, by its metrics file; the first one present wins.
ENGINES = {METRICS_FILE: "maskrcnn_ext", DETECTRON2_METRICS_FILE: "detectron2"}
Rows = dict[int, dict[str, float]]
# Keys that differ between any two runs, so they say nothing about the ablation.
IGNORED_CONFIG_KEYS = frozenset({"train.output_dir", "train.seed", "dataloader.train.seed",
                                 "dataloader.evaluator.output_dir", "train.init_checkpoint"})


@dataclass
class Run:
    """One training run: its last train and eval row per iteration, and its resolved config.

    Attributes:
        path: the run directory.
        arm: the arm the run belongs to.
        train: iteration -> numeric values of the train row.
        evals: iteration -> numeric values of the eval row (``"bbox/AP"`` etc.).
        config: the parsed ``config.yaml``, None when it is missing or unreadable.
        engine: the engine that trained it: ``"maskrcnn_ext"`` or ``"detectron2"``.
    """

    path: Path
    arm: str
    train: Rows
    evals: Rows
    config: dict[str, Any] | None
    engine: str = "maskrcnn_ext"

    @property
    def final_eval(self) -> dict[str, float] | None:
        """The eval row with the largest iteration, or None when the run has none."""
        return self.evals[max(self.evals)] if self.evals else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_line(line: str, path: Path, lineno: int) -> dict[str, Any] | None:
    row = parse_json_line(line, path, lineno)
    return row if row is not None and row.get("type") in ("train", "eval") else None


def read_metrics(path: Path) -> tuple[Rows, Rows]:
    """Read a ``metrics.jsonl``; malformed lines are skipped with a warning naming file and line.

    Args:
        path: the ``metrics.jsonl`` file.

    Returns:
        ``(train, evals)``: iteration -> numeric values, the last row of each iteration winning.
    """
    rows: dict[str, Rows] = {"train": {}, "eval": {}}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            row = _parse_line(line, path, lineno) if line.strip() else None
            if row is not None:
                values = {k: float(v) for k, v in row.items() if k not in ("type", "iteration") and _is_number(v)}
                rows[row["type"]][row["iteration"]] = values
    return rows["train"], rows["eval"]


def load_config(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``config.yaml`` as a mapping.

    Args:
        run_dir: the run directory.

    Returns:
        The mapping, or None (with a warning) when the file is absent, unreadable or not a mapping.
    """
    path = run_dir / "config.yaml"
    try:
        cfg = load_yaml_data(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        logger.warning("Cannot read %s (%s); no config diff for this run", path, type(e).__name__)
        return None
    if not isinstance(cfg, dict):
        logger.warning("%s is not a YAML mapping; no config diff for this run", path)
        return None
    return cfg


def metrics_file(run_dir: Path) -> Path | None:
    """The run's metrics file: ``metrics.jsonl`` (this toolkit) or ``metrics.json`` (Detectron2), or None."""
    return next((run_dir / name for name in ENGINES if (run_dir / name).is_file()), None)


def _seed_runs(path: Path) -> list[Path]:
    """The ``seed<k>`` subdirectories of ``path`` that hold a metrics file, by seed number."""
    seeds = [(int(m.group(1)), p) for p in path.iterdir() if p.is_dir() and (m := _SEED_DIR.match(p.name))]
    return [p for _, p in sorted(seeds) if metrics_file(p) is not None]


def find_run_dirs(path: Path) -> tuple[str | None, list[Path]]:
    """Classify ``path`` as a ``"run"``, ``"arm"`` or ``"sweep"`` directory and list its runs.

    Args:
        path: a run dir (has ``metrics.jsonl`` or Detectron2's ``metrics.json``), an arm dir
            (``seed*/``) or a sweep dir (``*/seed*/``).

    Returns:
        ``(kind, run_dirs)``; ``(None, [])`` when no metrics file is found where expected.
    """
    if metrics_file(path) is not None:
        return "run", [path]
    if not path.is_dir():
        return None, []
    runs = _seed_runs(path)
    if runs:
        return "arm", runs
    runs = [run for sub in sorted(path.iterdir()) if sub.is_dir() for run in _seed_runs(sub)]
    return ("sweep", runs) if runs else (None, [])


def _arm_dir(run_dir: Path) -> Path:
    run_dir = run_dir.resolve()
    return run_dir.parent if _SEED_DIR.match(run_dir.name) else run_dir


def arm_name(run_dir: Path) -> str:
    """The parent's name for a ``seed<k>`` run directory, else the run directory's own name."""
    return _arm_dir(run_dir).name


def _separate_engines(runs: Sequence[Run]) -> None:
    """Rename the Detectron2 runs of an arm name that this toolkit's runs also have to ``NAME@detectron2``:
    both projects name their arms alike, and seeds of two engines are not seeds of one arm."""
    engines: dict[str, set[str]] = {}
    for run in runs:
        engines.setdefault(run.arm, set()).add(run.engine)
    for arm in sorted(name for name, found in engines.items() if len(found) > 1):
        logger.info("Arm %s has runs of both engines; Detectron2's are compared as %s@detectron2", arm, arm)
        for run in runs:
            if run.arm == arm and run.engine == "detectron2":
                run.arm = f"{arm}@detectron2"


def _warn_pooled_arms(runs: Sequence[Run]) -> None:
    """Warn about arms whose runs come from different directories (e.g. two sweeps' ``base``)."""
    dirs: dict[str, set[Path]] = {}
    for run in runs:
        dirs.setdefault(run.arm, set()).add(_arm_dir(run.path))
    for arm, arm_dirs in dirs.items():
        if len(arm_dirs) > 1:
            logger.warning("Arm %s pools the runs of %s as seeds of one arm", arm, ", ".join(sorted(map(str, arm_dirs))))


def read_run(run_dir: Path) -> Run:
    """One run directory of either engine, its arm named by :func:`arm_name`.

    Args:
        run_dir: a directory holding ``metrics.jsonl`` or Detectron2's ``metrics.json``.
    """
    path = metrics_file(run_dir)
    if path is None:
        raise FileNotFoundError(f"{run_dir}: neither {' nor '.join(ENGINES)}")
    engine = ENGINES[path.name]
    train, evals = read_metrics(path) if engine == "maskrcnn_ext" else read_detectron2_metrics(path)
    return Run(run_dir, arm_name(run_dir), train, evals, load_config(run_dir), engine)


def load_runs(paths: Sequence[Path]) -> list[Run]:
    """Every run under ``paths``, in order; a run reached through two paths is read once.

    Paths without any run are warned about and skipped, and so is (for the AP tables, by the
    caller) a run without evaluation rows, which is warned about here. Where runs of both engines
    share an arm name, Detectron2's are named ``NAME@detectron2``.

    Args:
        paths: run, arm or sweep directories.

    Returns:
        The runs, possibly empty.
    """
    runs: list[Run] = []
    seen: set[Path] = set()
    for path in map(Path, paths):
        kind, run_dirs = find_run_dirs(path)
        if kind is None:
            logger.warning("%s: not a run, arm or sweep directory (no metrics.jsonl or metrics.json found); "
                           "skipped", path)
        for run_dir in run_dirs:
            if run_dir.resolve() in seen:
                continue
            seen.add(run_dir.resolve())
            run = read_run(run_dir)
            if not run.evals:
                logger.warning("%s: no evaluation rows; left out of the AP tables", run_dir)
            runs.append(run)
    _separate_engines(runs)
    _warn_pooled_arms(runs)
    return runs


def group_by_arm(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """Runs by arm name, arms in order of first appearance."""
    arms: dict[str, list[Run]] = {}
    for run in runs:
        arms.setdefault(run.arm, []).append(run)
    return arms


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts/lists as dotted keys: ``{"a": {"b": [x]}}`` -> ``{"a.b.0": x}``.

    Args:
        value: the nested value.
        prefix: dotted key of ``value`` itself ("" at the top).

    Returns:
        Dotted key -> leaf value; empty containers below the top are leaves.
    """
    if isinstance(value, dict) and value:
        items = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list) and value:
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value} if prefix else {}
    out: dict[str, Any] = {}
    for key, sub in items:
        out.update(flatten(sub, f"{prefix}.{key}" if prefix else key))
    return out


def _ignored(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in IGNORED_CONFIG_KEYS)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def config_diff(base: dict[str, Any], other: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The config keys whose values differ, except :data:`IGNORED_CONFIG_KEYS` (and keys below them).

    Args:
        base: the reference config (nested mapping).
        other: the config to compare.

    Returns:
        ``(dotted key, base value, other value)`` sorted by key; a key only one side has shows
        ``(absent)`` on the other; non-string values are shown as JSON.
    """
    flat_base, flat_other = flatten(base), flatten(other)
    absent = object()
    diffs = []
    for key in sorted(set(flat_base) | set(flat_other)):
        a, b = flat_base.get(key, absent), flat_other.get(key, absent)
        if a != b and not _ignored(key):
            diffs.append((key, "(absent)" if a is absent else _show(a), "(absent)" if b is absent else _show(b)))
    return diffs


def first_config(runs: Sequence[Run]) -> dict[str, Any] | None:
    """The config of the first run that has one (an arm's reference config), or None."""
    return next((r.config for r in runs if r.config is not None), None)
