"""Execute a sweep's jobs through a launcher (child processes here, or Slurm jobs), with progress and
an ETA in the log and a summary merged into ``sweep_summary.json``. Planning (suites, jobs, their
state) is in :mod:`.sweep`; the launchers are in :mod:`.launchers` and :mod:`.submitit_launcher`.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..utils.file_io import atomic_file
from .launchers import (
    ACTIVE_STATUSES,
    CANCELLED,
    FAILED,
    OK,
    RUNNING,
    JobHandle,
    Launcher,
    LocalLauncher,
    slot_environments,
)
from .sweep import SUMMARY_FILE, SweepJob, read_done_marker, resolve_script

__all__ = ["JobResult", "format_duration", "run_sweep", "slot_environments", "write_summary"]

logger = logging.getLogger(__name__)


@dataclass
class JobResult:
    """How a job stands: ``status`` is ``"ok"``, ``"failed"``, ``"skipped"`` (finished earlier), or, in
    the summary of a sweep still running on a scheduler, ``"queued"``, ``"running"`` or ``"cancelled"``.
    ``job_id`` is the scheduler's id (``None`` for a local child process)."""

    arm: str
    seed: int
    status: str
    wall_s: float
    run_dir: str
    returncode: int | None = None
    job_id: str | None = None


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: str, data: dict[str, Any]) -> None:
    with atomic_file(path, "w") as f:
        json.dump(data, f, indent=2)


def format_duration(seconds: float) -> str:
    """``12s``, ``4m12s`` or ``1h03m``."""
    s = int(round(seconds))
    return f"{s}s" if s < 60 else f"{s // 60}m{s % 60:02d}s" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}m"


def _result(handle: JobHandle) -> JobResult:
    job = handle.job
    wall_s = handle.wall_s if handle.ended else time.monotonic() - handle.started
    return JobResult(job.arm, job.seed, handle.status, wall_s, job.run_dir, handle.returncode, handle.job_id)


def _log_end(handle: JobHandle, *, launcher: Launcher, walls: list[float], total: int) -> None:
    remaining = total - len(walls)
    eta = f"; ETA {format_duration(sum(walls) / len(walls) * remaining / launcher.parallelism)}" if remaining else ""
    label = f"[{len(walls)}/{total}] {handle.job.arm} seed={handle.job.seed}"
    if handle.status == OK:
        logger.info("%s done in %s%s", label, format_duration(handle.wall_s), eta)
    else:
        logger.error("%s FAILED (%s) after %s; output: %s%s", label, handle.reason,
                     format_duration(handle.wall_s), launcher.describe_failure(handle), eta)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM (``kill``, a job scheduler) into KeyboardInterrupt while jobs run, so the
    clean-up below also stops the jobs instead of leaving them training unattended."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Progress:
    """The summary of a sweep whose jobs outlive this process, rewritten as they are queued, start and end."""

    def __init__(self, output_dir: str, *, enabled: bool) -> None:
        self.output_dir, self.enabled, self.start = output_dir, enabled, time.monotonic()

    def record(self, handles: Sequence[JobHandle]) -> None:
        if self.enabled and handles:
            write_summary(self.output_dir, [_result(h) for h in handles], time.monotonic() - self.start)


@contextlib.contextmanager
def _cancel_on_exit(launcher: Launcher, in_flight: list[JobHandle], progress: _Progress) -> Iterator[None]:
    """On any exit with jobs still in flight (an interrupt), cancel them."""
    try:
        yield
    finally:
        for handle in in_flight:
            try:
                launcher.cancel(handle)
            except Exception:  # cancel the others all the same
                logger.exception("could not cancel %s seed=%d (job %s)", handle.job.arm, handle.job.seed,
                                 handle.job_id)
            handle.status, handle.wall_s = CANCELLED, time.monotonic() - handle.started
        if in_flight:
            logger.warning("sweep interrupted: cancelled %d job(s) in flight", len(in_flight))
        progress.record(in_flight)


def _poll(launcher: Launcher, in_flight: list[JobHandle], *, total: int) -> list[JobHandle]:
    """Poll every job in flight; returns those whose status changed."""
    changed = []
    for handle in in_flight:
        before = handle.status
        launcher.poll(handle)
        if handle.status == before:
            continue
        changed.append(handle)
        if not handle.ended:
            logger.info("[%d/%d] %s seed=%d %s (job %s)", handle.index + 1, total, handle.job.arm, handle.job.seed,
                        "running" if handle.status == RUNNING else "queued again", handle.job_id)
    return changed


def _reattach(launcher: Launcher, todo: list[SweepJob], output_dir: str) -> list[JobHandle]:
    """Handles on the jobs of ``todo`` that an earlier sweep left queued or running (with a scheduler)."""
    if not launcher.detached:
        return []
    summary = _read_json(os.path.join(output_dir, SUMMARY_FILE))
    entries = {(e.get("arm"), e.get("seed")): e for e in summary.get("jobs", []) if isinstance(e, dict)}
    handles = []
    for index, job in enumerate(todo):
        entry = entries.get((job.arm, job.seed))
        if not (entry and entry.get("status") in ACTIVE_STATUSES and entry.get("job_id")):
            continue
        handle = launcher.reattach(job, entry)
        if handle is not None:
            handle.index = index
            logger.info("[%d/%d] %s seed=%d: still %s as job %s (started by an earlier sweep); following it",
                        index + 1, len(todo), job.arm, job.seed, handle.status, handle.job_id)
            handles.append(handle)
    return handles


def _log_start(handle: JobHandle, *, total: int) -> None:
    job, verb = handle.job, "start" if handle.status == RUNNING else handle.status
    logger.info("[%d/%d] %s %s seed=%d%s [%s]", handle.index + 1, total, verb, job.arm, job.seed,
                " (resuming)" if job.state == "resume" else "", handle.note)


def _submit(launcher: Launcher, pending: list[tuple[int, SweepJob]], in_flight: list[JobHandle], *,
            total: int) -> list[JobHandle]:
    """Submit as many pending jobs as the launcher has room for (removing them from ``pending``)."""
    count = min(len(pending), launcher.room(len(in_flight)))
    if count <= 0:
        return []
    batch = pending[:count]
    del pending[:count]
    submitted = launcher.submit([job for _, job in batch])
    for (index, _), handle in zip(batch, submitted):
        handle.index = index
        _log_start(handle, total=total)
    in_flight += submitted
    return submitted


def _execute(todo: list[SweepJob], *, launcher: Launcher, output_dir: str, poll_interval: float) -> list[JobResult]:
    progress = _Progress(output_dir, enabled=launcher.detached)
    in_flight = _reattach(launcher, todo, output_dir)
    found = {h.index for h in in_flight}
    pending = [(i, job) for i, job in enumerate(todo) if i not in found]
    ended: list[JobHandle] = []
    with _sigterm_as_interrupt(), _cancel_on_exit(launcher, in_flight, progress):
        while pending or in_flight:
            progress.record(_submit(launcher, pending, in_flight, total=len(todo)))
            changed = _poll(launcher, in_flight, total=len(todo))
            done = [h for h in in_flight if h.ended]
            for handle in done:
                in_flight.remove(handle)
                ended.append(handle)
                _log_end(handle, launcher=launcher, walls=[h.wall_s for h in ended], total=len(todo))
            progress.record(changed)
            if not done:
                time.sleep(poll_interval)
    return [_result(h) for h in ended]


def _skipped(job: SweepJob) -> JobResult:
    marker = read_done_marker(job.run_dir) or {}
    logger.info("skip %s seed=%d: finished earlier (%s)", job.arm, job.seed, job.run_dir)
    return JobResult(job.arm, job.seed, "skipped", float(marker.get("wall_s", 0.0)), job.run_dir)


def _log_summary(results: list[JobResult], total_wall_s: float) -> None:
    width = max([3, *(len(r.arm) for r in results)])
    lines = [f"{'arm':<{width}}  seed  status   wall"]
    lines += [f"{r.arm:<{width}}  {r.seed:>4}  {r.status:<7}  {format_duration(r.wall_s)}" for r in results]
    logger.info("sweep summary:\n%s\ntotal wall time %s", "\n".join(lines), format_duration(total_wall_s))


def _summary_entry(result: JobResult) -> dict[str, Any]:
    entry = {k: v for k, v in asdict(result).items() if k != "returncode" and not (k == "job_id" and v is None)}
    return entry | {"wall_s": round(result.wall_s, 3)}


def write_summary(output_dir: str, results: list[JobResult], total_wall_s: float) -> str:
    """Merge results into ``<output_dir>/sweep_summary.json``.

    Entries of earlier invocations are kept per (arm, seed); jobs run now replace theirs, and a job
    skipped as finished adds an ``"ok"`` entry when there is no ``"ok"`` entry yet (none, or one an
    interrupted sweep left ``"queued"`` or ``"running"``).

    Args:
        output_dir: the sweep's root folder.
        results: this invocation's results (all of them, or those that changed).
        total_wall_s: this invocation's wall time so far.

    Returns:
        The summary file's path.
    """
    path = os.path.join(output_dir, SUMMARY_FILE)
    entries = {(e["arm"], e["seed"]): e for e in _read_json(path).get("jobs", [])}
    for r in results:
        entry = _summary_entry(r)
        if r.status != "skipped":
            entries[(r.arm, r.seed)] = entry
        elif entries.get((r.arm, r.seed), {}).get("status") != OK:
            entries[(r.arm, r.seed)] = entry | {"status": OK}
    os.makedirs(output_dir, exist_ok=True)
    _write_json(path, {"wall_s": round(total_wall_s, 3),
                       "updated_at": datetime.datetime.now().isoformat(timespec="seconds"),
                       "jobs": sorted(entries.values(), key=lambda e: (e["arm"], e["seed"]))})
    return path


def run_sweep(jobs: Sequence[SweepJob], *, output_dir: str, script: str | None = None,
              launcher: Launcher | None = None, poll_interval: float | None = None) -> int:
    """Run the unfinished jobs through ``launcher``, then log and write the summary.

    Args:
        jobs: from :func:`.sweep.plan_sweep`; finished ones are skipped.
        output_dir: where ``sweep_summary.json`` goes.
        script: the training script (default ``train_net.py`` in the current folder; the caller
            resolves a suite's ``launcher`` with :func:`.sweep.resolve_script`).
        launcher: where the jobs run; default a :class:`.launchers.LocalLauncher` (one job per CUDA
            device, else one).
        poll_interval: seconds between checks on the jobs in flight; default the launcher's.

    Returns:
        0 when every job run now succeeded, else 1.
    """
    script = resolve_script(script)
    launcher = launcher or LocalLauncher()
    todo = [j for j in jobs if j.state != "done"]
    results = {(j.arm, j.seed): _skipped(j) for j in jobs if j.state == "done"}
    start = time.monotonic()
    if todo:
        launcher.prepare(todo, script=script, output_dir=os.path.abspath(output_dir))
        interval = launcher.poll_interval if poll_interval is None else poll_interval
        results |= {(r.arm, r.seed): r for r in _execute(todo, launcher=launcher, output_dir=output_dir,
                                                          poll_interval=interval)}
    total_wall_s = time.monotonic() - start
    ordered = [results[(j.arm, j.seed)] for j in jobs]
    _log_summary(ordered, total_wall_s)
    write_summary(output_dir, ordered, total_wall_s)
    return 1 if any(r.status == FAILED for r in ordered) else 0
