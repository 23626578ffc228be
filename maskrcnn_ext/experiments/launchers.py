"""Where a sweep's jobs run: the :class:`Launcher` interface that :func:`.sweep_runner.run_sweep`
drives, and :class:`LocalLauncher`, which runs them as child processes of this one, N at a time.

:mod:`.submitit_launcher` has the other implementation, one Slurm job per sweep job.
"""
from __future__ import annotations

import abc
import datetime
import logging
import os
import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

from .sweep import STDOUT_FILE, SweepError, SweepJob, write_done_marker

__all__ = ["ACTIVE_STATUSES", "CANCELLED", "FAILED", "OK", "QUEUED", "RUNNING", "JobHandle", "Launcher",
           "LocalLauncher", "slot_environments", "start_logged", "usable_cpus"]

logger = logging.getLogger(__name__)

QUEUED, RUNNING, OK, FAILED, CANCELLED = "queued", "running", "ok", "failed", "cancelled"
ACTIVE_STATUSES = (QUEUED, RUNNING)


@dataclass
class JobHandle:
    """A job a launcher has started, as it is now.

    Attributes:
        job: the sweep job.
        status: ``"queued"`` or ``"running"`` while in flight, then ``"ok"``, ``"failed"`` or
            ``"cancelled"``; :meth:`Launcher.poll` keeps it up to date.
        job_id: the scheduler's id (Slurm's ``"4242_3"`` for an array task); ``None`` for a local child.
        note: what the start of the job logs in brackets (its GPU or threads, its scheduler id).
        started: ``time.monotonic()`` when it was submitted (or found again).
        wall_s: how long it ran, once it has ended.
        returncode: the training script's exit status once it has ended, when known.
        reason: why it failed, e.g. ``"exit 1"``.
        ref: the launcher's own object (a child process, a ``submitit.Job``).
        index: its position among the jobs this sweep runs (for ``[i/n]`` labels; set by the runner).
    """

    job: SweepJob
    status: str
    job_id: str | None = None
    note: str = ""
    started: float = field(default_factory=time.monotonic)
    wall_s: float = 0.0
    returncode: int | None = None
    reason: str = ""
    ref: Any = None
    index: int = -1

    @property
    def ended(self) -> bool:
        """Whether the job has stopped, successfully or not."""
        return self.status not in ACTIVE_STATUSES


class Launcher(abc.ABC):
    """Starts a sweep's jobs and reports how they are doing.

    :func:`.sweep_runner.run_sweep` calls :meth:`prepare` once with the jobs it will run, then
    :meth:`submit` whenever :meth:`room` allows, :meth:`poll` on every job in flight until it has
    ended, and :meth:`cancel` on each job still in flight when the sweep is interrupted. A job that
    ends well has its ``sweep_done.json`` written (by the launcher or by the job itself) before
    :meth:`poll` reports ``"ok"``.
    """

    #: Launcher name, as the command line's ``--launcher`` spells it.
    name: ClassVar[str] = ""
    #: Whether jobs live on without this process (a scheduler runs them): the sweep's summary then
    #: records them as they are queued and start, with their ids, so that a re-run can find them.
    detached: ClassVar[bool] = False
    #: Seconds between two polls of the jobs in flight, unless the caller says otherwise.
    poll_interval: float = 0.5

    def prepare(self, todo: Sequence[SweepJob], *, script: str, output_dir: str) -> None:
        """Get ready to run ``todo`` (before anything is submitted).

        Args:
            todo: the jobs this sweep will run.
            script: the training script's absolute path.
            output_dir: the sweep's root folder.
        """

    @property
    @abc.abstractmethod
    def parallelism(self) -> int:
        """How many jobs run at once (after :meth:`prepare`); the ETA assumes this many."""

    def room(self, in_flight: int) -> int:
        """How many more jobs may be submitted now, with ``in_flight`` jobs queued or running."""
        return max(0, self.parallelism - in_flight)

    @abc.abstractmethod
    def submit(self, jobs: Sequence[SweepJob]) -> list[JobHandle]:
        """Start ``jobs`` (at most :meth:`room` of them); returns one handle per job, in order."""

    @abc.abstractmethod
    def poll(self, handle: JobHandle) -> None:
        """Bring ``handle.status`` up to date (and, once it has ended, ``wall_s`` and ``reason``)."""

    @abc.abstractmethod
    def cancel(self, handle: JobHandle) -> None:
        """Stop a job in flight and release what it holds."""

    def reattach(self, job: SweepJob, entry: Mapping[str, Any]) -> JobHandle | None:
        """A handle on ``job`` when an earlier sweep started it and it is still queued or running.

        Args:
            job: an unfinished job of this sweep.
            entry: the job's entry in the summary, which an earlier sweep left ``"queued"`` or
                ``"running"`` with a ``"job_id"``.

        Returns:
            The handle, or ``None`` (the default) to submit the job anew.
        """
        return None

    def describe_failure(self, handle: JobHandle) -> str:
        """Where to look when ``handle`` failed, for the log."""
        return os.path.join(handle.job.run_dir, STDOUT_FILE)


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


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity: a Slurm job's allocation, a container's share)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def start_logged(command: list[str], *, run_dir: str, env: Mapping[str, str], note: str = "") -> tuple[
        subprocess.Popen, IO[bytes]]:
    """Start ``command`` with its output appended to ``run_dir``'s ``sweep_stdout.txt``.

    Args:
        command: the argv.
        run_dir: the job's run directory (created if missing).
        env: added to this process's environment for the child.
        note: appended to the header line written before the child's output.

    Returns:
        The child and its open log file (close it once the child has ended).
    """
    os.makedirs(run_dir, exist_ok=True)
    log = open(os.path.join(run_dir, STDOUT_FILE), "ab")  # noqa: SIM115 -- the caller closes it
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    log.write(f"\n=== {stamp} sweep{note}: {shlex.join(command)}\n".encode())
    log.flush()
    try:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **env})
    except BaseException:
        log.close()
        raise
    return proc, log


@dataclass
class _Child:
    proc: subprocess.Popen
    log: IO[bytes]
    slot: int


class LocalLauncher(Launcher):
    """Child processes on this machine, ``num_slots`` at a time, one GPU each (or a share of the CPUs).

    Args:
        num_slots: parallel jobs; default one per CUDA device, else 1.
        gpu_count: CUDA devices to use; default ``torch.cuda.device_count()``.
    """

    name = "local"

    def __init__(self, *, num_slots: int | None = None, gpu_count: int | None = None) -> None:
        if num_slots is not None and num_slots < 1:
            raise SweepError(f"jobs must be at least 1, got {num_slots}")
        self._num_slots, self._gpu_count = num_slots, gpu_count
        self._script = ""
        self._envs: list[dict[str, str]] = []
        self._free: list[int] = []

    def prepare(self, todo: Sequence[SweepJob], *, script: str, output_dir: str) -> None:
        gpu_count = self._gpu_count
        if gpu_count is None:
            import torch  # only here: planning and dry runs do not need it

            gpu_count = torch.cuda.device_count()
        slots = max(1, min(self._num_slots or max(1, gpu_count), len(todo)))
        self._script = script
        self._envs = slot_environments(slots, gpu_count=gpu_count, cpu_count=usable_cpus())
        self._free = list(range(slots))

    @property
    def parallelism(self) -> int:
        return len(self._envs)

    def room(self, in_flight: int) -> int:
        return len(self._free)

    def submit(self, jobs: Sequence[SweepJob]) -> list[JobHandle]:
        handles: list[JobHandle] = []
        try:
            for job in jobs:
                handles.append(self._start(job))
        except BaseException:
            for handle in handles:
                self.cancel(handle)
            raise
        return handles

    def _start(self, job: SweepJob) -> JobHandle:
        slot = self._free.pop(0)
        env = self._envs[slot]
        try:
            proc, log = start_logged(job.command(self._script), run_dir=job.run_dir, env=env)
        except BaseException:
            self._release(slot)
            raise
        return JobHandle(job, RUNNING, note=" ".join(f"{k}={v}" for k, v in env.items()), ref=_Child(proc, log, slot))

    def _release(self, slot: int) -> None:
        self._free = sorted([*self._free, slot])

    def poll(self, handle: JobHandle) -> None:
        child: _Child = handle.ref
        returncode = child.proc.poll()
        if returncode is None:
            return
        handle.wall_s, handle.returncode = time.monotonic() - handle.started, returncode
        child.log.close()
        self._release(child.slot)
        if returncode == 0:
            write_done_marker(handle.job, wall_s=handle.wall_s)
            handle.status = OK
        else:
            handle.status, handle.reason = FAILED, f"exit {returncode}"

    def cancel(self, handle: JobHandle) -> None:
        child: _Child = handle.ref
        child.proc.terminate()
        child.proc.wait()
        child.log.close()
        self._release(child.slot)
