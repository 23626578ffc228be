"""Execute a sweep's jobs: child training processes in parallel slots, progress with an ETA, and a
summary merged into ``sweep_summary.json``. Planning (suites, jobs, their state) is in :mod:`.sweep`.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import contextlib
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import IO, Any

from ..utils.file_io import atomic_file
from .sweep import DONE_MARKER, STDOUT_FILE, SUMMARY_FILE, SweepError, SweepJob, resolve_launcher

__all__ = ["JobResult", "format_duration", "run_sweep", "slot_environments", "write_summary"]

logger = logging.getLogger(__name__)


@dataclass
class JobResult:
    """How a job ended: ``status`` is ``"ok"``, ``"failed"`` or ``"skipped"`` (finished earlier)."""

    arm: str
    seed: int
    status: str
    wall_s: float
    run_dir: str
    returncode: int | None = None


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


def slot_environments(num_slots: int, *, gpu_count: int, cpu_count: int) -> list[dict[str, str]]:
    """Environment variables for each parallel slot.

    Args:
        num_slots: parallel jobs.
        gpu_count: visible CUDA devices; with any, slot ``i`` gets GPU ``i`` (modulo their number).
        cpu_count: usable CPUs; without GPUs they are shared out as OMP/MKL threads.

    Returns:
        One dict per slot, added to the child's environment.
    """
    if gpu_count > 0:
        parent = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
        ids = parent[:gpu_count] if len(parent) >= gpu_count else [str(i) for i in range(gpu_count)]
        return [{"CUDA_VISIBLE_DEVICES": ids[i % gpu_count]} for i in range(num_slots)]
    threads = str(max(1, cpu_count // num_slots))
    return [{"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads} for _ in range(num_slots)]


@dataclass
class _Running:
    job: SweepJob
    slot: int
    proc: subprocess.Popen
    log: IO[bytes]
    start: float


def _start(job: SweepJob, *, slot: int, launcher: str, env: dict[str, str], label: str) -> _Running:
    os.makedirs(job.run_dir, exist_ok=True)
    log = open(os.path.join(job.run_dir, STDOUT_FILE), "ab")  # noqa: SIM115 -- closed in _finish
    command = job.command(launcher)
    log.write(f"\n=== {datetime.datetime.now().isoformat(timespec='seconds')} sweep: {shlex.join(command)}\n".encode())
    log.flush()
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, **env})
    logger.info("%s start %s seed=%d%s [%s]", label, job.arm, job.seed,
                " (resuming)" if job.state == "resume" else "", " ".join(f"{k}={v}" for k, v in env.items()))
    return _Running(job, slot, proc, log, time.monotonic())


def _finish(running: _Running) -> JobResult:
    job, returncode = running.job, running.proc.returncode
    wall_s = time.monotonic() - running.start
    running.log.close()
    if returncode == 0:
        _write_json(os.path.join(job.run_dir, DONE_MARKER), {
            "arm": job.arm, "seed": job.seed, "wall_s": round(wall_s, 3), "config": job.config,
            "finished_at": datetime.datetime.now().isoformat(timespec="seconds")})
    return JobResult(job.arm, job.seed, "ok" if returncode == 0 else "failed", wall_s, job.run_dir, returncode)


def _log_end(result: JobResult, *, walls: list[float], total: int, slots: int) -> None:
    remaining = total - len(walls)
    eta = f"; ETA {format_duration(sum(walls) / len(walls) * remaining / slots)}" if remaining else ""
    label = f"[{len(walls)}/{total}] {result.arm} seed={result.seed}"
    if result.status == "ok":
        logger.info("%s done in %s%s", label, format_duration(result.wall_s), eta)
    else:
        logger.error("%s FAILED (exit %s) after %s; output: %s%s", label, result.returncode,
                     format_duration(result.wall_s), os.path.join(result.run_dir, STDOUT_FILE), eta)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM (``kill``, a job scheduler) into KeyboardInterrupt while jobs run, so the
    clean-up below also stops the children instead of leaving them training unattended."""
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


def _execute(todo: list[SweepJob], *, launcher: str, envs: list[dict[str, str]],
             poll_interval: float) -> list[JobResult]:
    pending, running, free = list(todo), [], list(range(len(envs)))
    results: list[JobResult] = []
    with _sigterm_as_interrupt(), _stop_children_on_exit(running):
        while pending or running:
            while pending and free:
                slot = free.pop(0)
                label = f"[{len(todo) - len(pending) + 1}/{len(todo)}]"
                running.append(_start(pending.pop(0), slot=slot, launcher=launcher, env=envs[slot], label=label))
            ended = [r for r in running if r.proc.poll() is not None]
            for r in ended:
                running.remove(r)
                free = sorted([*free, r.slot])
                results.append(_finish(r))
                _log_end(results[-1], walls=[x.wall_s for x in results], total=len(todo), slots=len(envs))
            if not ended:
                time.sleep(poll_interval)
    return results


@contextlib.contextmanager
def _stop_children_on_exit(running: list[_Running]) -> Iterator[None]:
    """On any exit with jobs still running (an interrupt), terminate them and close their logs."""
    try:
        yield
    finally:
        for r in running:
            r.proc.terminate()
            r.proc.wait()
            r.log.close()


def _skipped(job: SweepJob) -> JobResult:
    marker = _read_json(os.path.join(job.run_dir, DONE_MARKER))
    logger.info("skip %s seed=%d: finished earlier (%s)", job.arm, job.seed, job.run_dir)
    return JobResult(job.arm, job.seed, "skipped", float(marker.get("wall_s", 0.0)), job.run_dir)


def _log_summary(results: list[JobResult], total_wall_s: float) -> None:
    width = max([3, *(len(r.arm) for r in results)])
    lines = [f"{'arm':<{width}}  seed  status   wall"]
    lines += [f"{r.arm:<{width}}  {r.seed:>4}  {r.status:<7}  {format_duration(r.wall_s)}" for r in results]
    logger.info("sweep summary:\n%s\ntotal wall time %s", "\n".join(lines), format_duration(total_wall_s))


def write_summary(output_dir: str, results: list[JobResult], total_wall_s: float) -> str:
    """Merge this invocation's results into ``<output_dir>/sweep_summary.json``.

    Entries of earlier invocations are kept per (arm, seed); jobs run now replace theirs, and a job
    skipped as finished only adds an ``"ok"`` entry when there is none.

    Returns:
        The summary file's path.
    """
    path = os.path.join(output_dir, SUMMARY_FILE)
    entries = {(e["arm"], e["seed"]): e for e in _read_json(path).get("jobs", [])}
    for r in results:
        entry = {k: v for k, v in asdict(r).items() if k != "returncode"} | {"wall_s": round(r.wall_s, 3)}
        if r.status == "skipped":
            entries.setdefault((r.arm, r.seed), entry | {"status": "ok"})
        else:
            entries[(r.arm, r.seed)] = entry
    os.makedirs(output_dir, exist_ok=True)
    _write_json(path, {"wall_s": round(total_wall_s, 3),
                       "updated_at": datetime.datetime.now().isoformat(timespec="seconds"),
                       "jobs": sorted(entries.values(), key=lambda e: (e["arm"], e["seed"]))})
    return path


def run_sweep(jobs: Sequence[SweepJob], *, output_dir: str, launcher: str | None = None,
              num_slots: int | None = None, gpu_count: int | None = None, poll_interval: float = 0.5) -> int:
    """Run the unfinished jobs, ``num_slots`` at a time, then log and write the summary.

    Args:
        jobs: from :func:`plan_sweep`; finished ones are skipped.
        output_dir: where ``sweep_summary.json`` goes.
        launcher: the training script (default ``train_net.py`` in the current folder).
        num_slots: parallel jobs; default one per CUDA device, else 1.
        gpu_count: CUDA devices to use; default ``torch.cuda.device_count()``.
        poll_interval: seconds between checks on the children.

    Returns:
        0 when every job run now succeeded, else 1.
    """
    launcher = resolve_launcher(launcher)
    if gpu_count is None:
        import torch  # only here: planning and dry runs do not need it

        gpu_count = torch.cuda.device_count()
    if num_slots is not None and num_slots < 1:
        raise SweepError(f"jobs must be at least 1, got {num_slots}")
    todo = [j for j in jobs if j.state != "done"]
    slots = max(1, min(num_slots or max(1, gpu_count), len(todo)))
    results = {(j.arm, j.seed): _skipped(j) for j in jobs if j.state == "done"}
    start = time.monotonic()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    envs = slot_environments(slots, gpu_count=gpu_count, cpu_count=cpus)
    results |= {(r.arm, r.seed): r for r in _execute(todo, launcher=launcher, envs=envs, poll_interval=poll_interval)}
    total_wall_s = time.monotonic() - start
    ordered = [results[(j.arm, j.seed)] for j in jobs]
    _log_summary(ordered, total_wall_s)
    write_summary(output_dir, ordered, total_wall_s)
    return 1 if any(r.status == "failed" for r in ordered) else 0
