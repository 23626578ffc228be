"""Run a suite of configs x seeds, each job training into its own run directory, resumably.

A suite file is YAML, config paths relative to its folder: ``seeds: [0, 1]``, ``arms: {name: config.py}``,
optional ``overrides: [key=value, ...]`` for every arm, ``subsets: {quick: [name, ...]}`` and
``launcher: path/to/train_net.py``, the training script of the suite (relative to the suite's folder
or to a folder above it, e.g. the repository root). Each (arm, seed) is a run of the training script
(the suite's launcher, else ``train_net.py``) into ``<output>/<arm>/seed<seed>``, given as
``--config-file CONFIG [--resume] key=value ...`` with ``train.seed``, ``dataloader.train.seed`` and
``train.output_dir`` among the overrides: the keys of a LazyConfig of this toolkit or of Detectron2.
A job is finished when its run directory holds ``sweep_done.json`` (written once the script exits 0);
finished jobs are skipped and an unfinished one with a ``last_checkpoint`` is resumed, so re-running
an interrupted sweep completes it. This module plans;
:mod:`.sweep_runner` executes, through a launcher of :mod:`.launchers` (child processes on this
machine) or :mod:`.submitit_launcher` (Slurm jobs).
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ..utils.file_io import atomic_file

__all__ = ["DONE_MARKER", "STDOUT_FILE", "SUMMARY_FILE", "Suite", "SweepError", "SweepJob", "format_plan", "load_suite",
           "plan_sweep", "read_done_marker", "resolve_script", "write_done_marker"]

logger = logging.getLogger(__name__)

DONE_MARKER = "sweep_done.json"
STDOUT_FILE = "sweep_stdout.txt"
SUMMARY_FILE = "sweep_summary.json"
_SUITE_KEYS = {"seeds", "arms", "overrides", "subsets", "launcher"}


class SweepError(ValueError):
    """A suite file or a sweep request that cannot be run."""


@dataclass(frozen=True)
class Suite:
    """A parsed suite file; ``arms`` maps each arm name to its config's absolute path, ``launcher`` is
    the absolute path of the suite's training script (None: the caller's default)."""

    path: str
    seeds: list[int]
    arms: dict[str, str]
    overrides: list[str]
    subsets: dict[str, list[str]]
    launcher: str | None = None


@dataclass
class SweepJob:
    """One (arm, seed) training run; ``state`` is ``"new"``, ``"resume"`` or ``"done"``."""

    arm: str
    seed: int
    config: str
    run_dir: str
    overrides: list[str]
    state: str = "new"

    def command(self, script: str, *, num_processes: int = 1) -> list[str]:
        """The argv that runs this job.

        Args:
            script: the training script (``train_net.py``).
            num_processes: data-parallel processes the script starts (``--num-gpus``), one per GPU
                of the job; 1 adds no option.
        """
        resume = ["--resume"] if self.state == "resume" else []
        processes = ["--num-gpus", str(num_processes)] if num_processes > 1 else []
        return [sys.executable, script, "--config-file", self.config, *resume, *processes, *self.overrides]


def _as_seeds(values: Any, where: str) -> list[int]:
    if not isinstance(values, list) or not values:
        raise SweepError(f"{where}: seeds must be a non-empty list of integers, got {values!r}")
    try:
        return list(dict.fromkeys(int(v) for v in values))
    except (TypeError, ValueError) as e:
        raise SweepError(f"{where}: seeds must be integers, got {values!r}") from e


def _arm_config(base: str, name: str, config: Any) -> str:
    if not name or "/" in name or name.startswith("."):
        raise SweepError(f"arm name {name!r} cannot be used as a folder name")
    path = os.path.normpath(os.path.join(base, str(config)))
    if not os.path.isfile(path):
        raise SweepError(f"arm {name!r}: config file not found: {path}")
    return path


def _check_arms(names: Sequence[str], arms: dict[str, str], *, what: str) -> None:
    unknown = [n for n in names if n not in arms]
    if unknown:
        raise SweepError(f"unknown arm(s) {', '.join(unknown)} in {what}; arms: {', '.join(arms)}")


def _suite_launcher(base: str, value: Any) -> str | None:
    """The absolute path of the suite's ``launcher``: as given when absolute, else the first file
    found relative to the suite's folder ``base`` or to one of the folders above it."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SweepError(f"launcher must be the path of a training script, got {value!r}")
    if os.path.isabs(value):
        candidates = [value]
    else:
        folders = [base]
        while os.path.dirname(folders[-1]) != folders[-1]:
            folders.append(os.path.dirname(folders[-1]))
        candidates = [os.path.normpath(os.path.join(folder, value)) for folder in folders]
    found = next((c for c in candidates if os.path.isfile(c)), None)
    if found is None:
        raise SweepError(f"launcher {value!r} not found relative to {base} or any folder above it")
    return found


def load_suite(path: str) -> Suite:
    """Read and validate a suite file.

    Args:
        path: the suite YAML file.

    Returns:
        The :class:`Suite`, with config paths made absolute. Raises :class:`SweepError` on any problem.
    """
    if not os.path.isfile(path):
        raise SweepError(f"suite file not found: {path}")
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise SweepError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("arms"), dict) or not data["arms"]:
        raise SweepError(f"{path}: needs an 'arms' mapping of arm name -> config file")
    if set(data) - _SUITE_KEYS:
        raise SweepError(f"{path}: unknown keys {sorted(set(data) - _SUITE_KEYS)}; allowed: {sorted(_SUITE_KEYS)}")
    base = os.path.dirname(os.path.abspath(path))
    arms = {str(name): _arm_config(base, str(name), cfg) for name, cfg in data["arms"].items()}
    subsets = {str(k): [str(a) for a in v or []] for k, v in (data.get("subsets") or {}).items()}
    for name, members in subsets.items():
        _check_arms(members, arms, what=f"subset {name!r}")
    return Suite(path=path, seeds=_as_seeds(data.get("seeds", [0]), path), arms=arms,
                 overrides=[str(o) for o in data.get("overrides") or []], subsets=subsets,
                 launcher=_suite_launcher(base, data.get("launcher")))


def _select_arms(suite: Suite, *, only: Sequence[str] | None, subset: str | None) -> list[str]:
    names = list(suite.arms)
    if subset is not None:
        if subset not in suite.subsets:
            raise SweepError(f"unknown subset {subset!r}; subsets: {', '.join(suite.subsets) or '(none)'}")
        names = [n for n in names if n in suite.subsets[subset]]
    if only:
        _check_arms(only, suite.arms, what="the selection")
        names = [n for n in names if n in only]
    if not names:
        raise SweepError("no arms selected")
    return names


def _job_state(run_dir: str) -> str:
    if os.path.isfile(os.path.join(run_dir, DONE_MARKER)):
        return "done"
    return "resume" if os.path.isfile(os.path.join(run_dir, "last_checkpoint")) else "new"


def plan_sweep(suite: Suite, *, output_dir: str, seeds: Sequence[int] | None = None,
               only: Sequence[str] | None = None, subset: str | None = None,
               extra_overrides: Sequence[str] = ()) -> list[SweepJob]:
    """The jobs of a sweep, seed-major (every arm's seed 0 first), with their state on disk.

    Args:
        suite: from :func:`load_suite`.
        output_dir: root folder; a job trains into ``<output_dir>/<arm>/seed<seed>``.
        seeds: replace the suite's seeds.
        only, subset: restrict the arms to these names / to a subset of the suite.
        extra_overrides: ``key=value`` strings given to every job after all others.

    Returns:
        The jobs; each one's overrides are the suite's, then seed and output dir, then ``extra_overrides``.
    """
    seeds = suite.seeds if seeds is None else _as_seeds(list(seeds), "seeds")
    for override in (*suite.overrides, *extra_overrides):
        if "=" not in override or override.startswith("train.output_dir="):
            raise SweepError(f"bad override {override!r}: expected key=value (train.output_dir is set per job)")
    arms, jobs = _select_arms(suite, only=only, subset=subset), []
    for seed in seeds:
        for arm in arms:
            run_dir = os.path.join(os.path.abspath(output_dir), arm, f"seed{seed}")
            overrides = [*suite.overrides, f"train.seed={seed}", f"dataloader.train.seed={seed}",
                         f"train.output_dir={run_dir}", *extra_overrides]
            jobs.append(SweepJob(arm, seed, suite.arms[arm], run_dir, overrides, _job_state(run_dir)))
    return jobs


def resolve_script(script: str | None = None, *, suite: Suite | None = None) -> str:
    """The training script's absolute path: ``script`` when given, else the suite's ``launcher``,
    else ``train_net.py`` in the current folder."""
    if script is not None and suite is not None and suite.launcher is not None:
        logger.info("training script %s given; the suite's launcher %s is not used", script, suite.launcher)
    path = os.path.abspath(script or (suite.launcher if suite is not None else None) or "train_net.py")
    if not os.path.isfile(path):
        raise SweepError(f"training script not found: {path} "
                         "(run from the repository root or give the script's path)")
    return path


def format_plan(jobs: Sequence[SweepJob], *, script: str, num_processes: int = 1) -> str:
    """One line per job: its state and the command it runs (or ran)."""
    return "\n".join(f"[{j.state:>6}] {j.arm} seed={j.seed}: "
                     f"{shlex.join(j.command(script, num_processes=num_processes))}" for j in jobs)


def write_done_marker(job: SweepJob, *, wall_s: float) -> None:
    """Mark ``job`` finished: write ``sweep_done.json`` into its run directory.

    Args:
        job: the job whose training script exited 0.
        wall_s: how long it ran, in seconds.
    """
    with atomic_file(os.path.join(job.run_dir, DONE_MARKER), "w") as f:
        json.dump({"arm": job.arm, "seed": job.seed, "wall_s": round(wall_s, 3), "config": job.config,
                   "finished_at": datetime.datetime.now().isoformat(timespec="seconds")}, f, indent=2)


def read_done_marker(run_dir: str) -> dict[str, Any] | None:
    """The contents of ``run_dir``'s ``sweep_done.json``; ``None`` when there is none (or it is unreadable)."""
    try:
        with open(os.path.join(run_dir, DONE_MARKER)) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
