"""Sweep jobs as Slurm jobs, submitted with `submitit <https://github.com/facebookincubator/submitit>`_
(an optional dependency: ``pip install 'maskrcnn-ext[cluster]'``).

The sweep's unfinished jobs go to Slurm as one job array (``--jobs N`` becomes the array's ``%N``:
at most N run at once). Each Slurm job runs :class:`TrainingCall`: the training script as a child
process, its output appended to the run directory's ``sweep_stdout.txt`` as with local jobs, and
``sweep_done.json`` written by the job itself once the script exits 0, so finished jobs are
recognised even when the sweep command did not live to see them end. submitit's own files (the
pickled call, the job's stdout and stderr) go to ``<output>/submitit/<job id>/``, linked from the
run directory as ``submitit_logs``.

A job warned by Slurm that it is about to reach its time limit (or to be preempted) is requeued and
resumes from its last checkpoint (``--resume``). The sweep command polls the jobs and keeps
``sweep_summary.json`` up to date (queued, running, ok, failed, with the Slurm job id). Interrupting
it (Ctrl-C, ``kill``) cancels the jobs in flight; if it dies without doing so (a closed terminal),
the jobs keep running, and re-running the command follows the ones still queued or running instead
of submitting them again.
"""
from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from .launchers import FAILED, OK, QUEUED, RUNNING, JobHandle, Launcher, start_logged, usable_cpus
from .sweep import STDOUT_FILE, SweepError, SweepJob, read_done_marker, write_done_marker

__all__ = ["INSTALL_HINT", "LOG_LINK", "SubmititLauncher", "TrainingCall", "TrainingFailed", "import_submitit"]

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'maskrcnn-ext[cluster]'"
LOG_LINK = "submitit_logs"
# Slurm job states (sacct's first word) of a job that has started and not ended, and of one that
# will still run: queued, starting, running, or requeued after a time limit or a preemption.
_RUNNING_STATES = frozenset({"RUNNING", "COMPLETING"})
_ALIVE_STATES = _RUNNING_STATES | {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING",
                                   "SUSPENDED", "PREEMPTED", "READY"}
_EXIT_STATUS = re.compile(r"exited with status (-?\d+)")


def import_submitit() -> ModuleType:
    """The ``submitit`` module; a :class:`.sweep.SweepError` saying how to install it when it is missing."""
    try:
        import submitit
    except ImportError as e:
        raise SweepError(f"the submitit launcher needs the submitit package: {INSTALL_HINT}") from e
    return submitit


class TrainingFailed(RuntimeError):
    """The training script of a Slurm job exited with a non-zero status.

    Args:
        returncode: its exit status.
        output: the file its output went to.
    """

    def __init__(self, returncode: int, output: str) -> None:
        super().__init__(f"the training script exited with status {returncode}; its output: {output}")
        self.returncode = returncode


def _thread_environment(num_processes: int) -> dict[str, str]:
    """OMP/MKL threads for each of the job's processes: its CPUs shared out, unless already set."""
    if "OMP_NUM_THREADS" in os.environ:
        return {}
    threads = str(max(1, usable_cpus() // num_processes))
    return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def _stop(proc: subprocess.Popen, *, grace_s: float = 30.0) -> None:
    """Terminate ``proc`` if it still runs; kill it when it has not stopped after ``grace_s``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass(frozen=True)
class TrainingCall:
    """What one Slurm job runs; submitit pickles it, so it must stay importable on the compute nodes.

    Args:
        job: the sweep job.
        script: the training script's absolute path.
        num_processes: data-parallel processes the script starts (``--num-gpus``): the job's GPUs.
    """

    job: SweepJob
    script: str
    num_processes: int = 1

    def __call__(self) -> dict[str, float]:
        """Train; on success write ``sweep_done.json`` and return ``{"wall_s": ...}``, else raise
        :class:`TrainingFailed` (which makes the Slurm job FAILED)."""
        import submitit

        command = self.job.command(self.script, num_processes=self.num_processes)
        start = time.monotonic()
        proc, log = start_logged(command, run_dir=self.job.run_dir, env=_thread_environment(self.num_processes),
                                 note=f" (job {submitit.JobEnvironment().job_id})")
        try:
            returncode = proc.wait()
        finally:  # also when submitit's signal handler requeues the job and exits from inside wait()
            _stop(proc)
            log.close()
        if returncode != 0:
            raise TrainingFailed(returncode, os.path.join(self.job.run_dir, STDOUT_FILE))
        wall_s = time.monotonic() - start
        write_done_marker(self.job, wall_s=wall_s)
        return {"wall_s": wall_s}

    def checkpoint(self) -> Any:
        """Called by submitit when Slurm is about to stop the job (time limit, preemption): what the
        requeued job runs, this same job resumed from its last checkpoint."""
        submitit = import_submitit()
        return submitit.helpers.DelayedSubmission(replace(self, job=replace(self.job, state="resume")))


def _slurm_state(ref: Any, *, force: bool = False) -> str:
    """The first word of a submitit job's state, upper case (``"CANCELLED by 42"`` -> ``"CANCELLED"``)."""
    state = ref.watcher.get_state(ref.job_id, mode="force") if force else ref.state
    return (str(state).split() or ["UNKNOWN"])[0].upper()


def _link_logs(run_dir: str, folder: str) -> None:
    """Link ``run_dir/submitit_logs`` to the job's submitit folder (replacing an earlier job's link)."""
    link = os.path.join(run_dir, LOG_LINK)
    try:
        os.makedirs(run_dir, exist_ok=True)
        if os.path.islink(link):
            os.remove(link)
        os.symlink(os.path.relpath(folder, run_dir), link, target_is_directory=True)
    except OSError as e:
        logger.warning("could not link %s to the job's logs in %s: %s", link, folder, e)


class SubmititLauncher(Launcher):
    """One Slurm job per sweep job, submitted through submitit as a job array.

    Args:
        partition: the Slurm partition (default: the cluster's default partition).
        gpus_per_job: GPUs of each job; with more than one the training script starts one process
            per GPU (``--num-gpus``). 0 for CPU-only jobs.
        cpus_per_task: CPUs of each job (default: Slurm's default, often 1: data loading wants more).
        timeout_min: each job's time limit, in minutes. A job that reaches it is requeued and
            resumes from its last checkpoint, at most ``max_requeues`` times.
        parallelism: how many of the sweep's jobs may run at once (the job array's ``%N``); default all.
        max_requeues: how many times a job is requeued after reaching its time limit (preemptions
            do not count).
        slurm_options: further sbatch options by long name, e.g. ``{"account": "proj", "mem": "64G"}``.
        cluster: ``"slurm"``, or ``"local"`` for submitit's local executor: the same jobs as processes
            of this machine (for tests and trying a sweep out), at most ``parallelism`` at a time.
        poll_interval: seconds between checks on the jobs (default 10 on Slurm, 0.5 locally).
    """

    name = "submitit"
    detached = True

    def __init__(self, *, partition: str | None = None, gpus_per_job: int = 1, cpus_per_task: int | None = None,
                 timeout_min: int = 24 * 60, parallelism: int | None = None, max_requeues: int = 3,
                 slurm_options: Mapping[str, str] | None = None, cluster: str = "slurm",
                 poll_interval: float | None = None) -> None:
        if cluster not in ("slurm", "local"):
            raise SweepError(f"cluster must be 'slurm' or 'local', got {cluster!r}")
        for what, value, least in (("gpus per job", gpus_per_job, 0), ("cpus per task", cpus_per_task, 1),
                                   ("timeout (minutes)", timeout_min, 1), ("jobs", parallelism, 1),
                                   ("max requeues", max_requeues, 0)):
            if value is not None and value < least:
                raise SweepError(f"{what} must be at least {least}, got {value}")
        self._submitit = import_submitit()
        self.partition, self.gpus_per_job, self.cpus_per_task = partition, gpus_per_job, cpus_per_task
        self.timeout_min, self.max_requeues, self.cluster = timeout_min, max_requeues, cluster
        self.slurm_options = dict(slurm_options or {})
        self.poll_interval = poll_interval if poll_interval is not None else 10.0 if cluster == "slurm" else 0.5
        self._max_parallel = parallelism
        self._script, self._folder, self._name, self._count = "", "", "sweep", 0
        self._executor: Any = None

    @property
    def num_processes(self) -> int:
        """Processes the training script starts in each job: one per GPU, or one."""
        return max(1, self.gpus_per_job)

    def prepare(self, todo: Sequence[SweepJob], *, script: str, output_dir: str) -> None:
        self._script, self._count = script, len(todo)
        self._folder = os.path.join(output_dir, "submitit", "%j")
        self._name = f"sweep-{os.path.basename(os.path.normpath(output_dir))}"

    @property
    def parallelism(self) -> int:
        return max(1, min(self._max_parallel or self._count, self._count))

    def room(self, in_flight: int) -> int:
        # Slurm holds the whole array and runs `parallelism` of it at a time; locally, we do.
        return sys.maxsize if self.cluster == "slurm" else super().room(in_flight)

    def _make_executor(self) -> Any:
        try:
            executor = self._submitit.AutoExecutor(folder=self._folder, cluster=self.cluster,
                                                   slurm_max_num_timeout=self.max_requeues,
                                                   local_max_num_timeout=self.max_requeues)
        except RuntimeError as e:  # no srun on this machine
            raise SweepError(f"cannot submit to Slurm from here ({e}); run the sweep on a Slurm login node") from e
        executor.update_parameters(
            name=self._name, timeout_min=self.timeout_min, nodes=1, tasks_per_node=1,
            gpus_per_node=self.gpus_per_job or None, cpus_per_task=self.cpus_per_task,
            slurm_partition=self.partition, slurm_array_parallelism=self.parallelism,
            slurm_additional_parameters=self.slurm_options or None)
        return executor

    def submit(self, jobs: Sequence[SweepJob]) -> list[JobHandle]:
        if self._executor is None:
            self._executor = self._make_executor()
        with self._executor.batch():
            refs = [self._executor.submit(TrainingCall(job, self._script, self.num_processes)) for job in jobs]
        handles = []
        for job, ref in zip(jobs, refs):
            _link_logs(job.run_dir, str(ref.paths.folder))
            handles.append(JobHandle(job, QUEUED, job_id=str(ref.job_id), note=f"job {ref.job_id}", ref=ref))
        return handles

    def poll(self, handle: JobHandle) -> None:
        ref = handle.ref
        if ref.done():
            self._finish(handle)
            return
        state = _slurm_state(ref)
        if state in _RUNNING_STATES:
            handle.status = RUNNING
        elif state in _ALIVE_STATES:  # not started yet, or requeued after a time limit or a preemption
            handle.status = QUEUED

    def _finish(self, handle: JobHandle) -> None:
        """Settle an ended job: ok when its ``sweep_done.json`` or its result says so, else failed."""
        ref, handle.wall_s = handle.ref, time.monotonic() - handle.started
        marker = read_done_marker(handle.job.run_dir)
        error = None if marker is not None else ref.exception()  # waits a little for a slow file system
        if error is None:
            handle.status, handle.returncode = OK, 0
            handle.wall_s = float((marker or {}).get("wall_s", handle.wall_s))
            return
        exit_status = _EXIT_STATUS.search(str(error))
        handle.status, handle.returncode = FAILED, int(exit_status.group(1)) if exit_status else None
        handle.reason = f"exit {handle.returncode}" if exit_status else f"job {handle.job_id} {_slurm_state(ref)}"

    def cancel(self, handle: JobHandle) -> None:
        handle.ref.cancel(check=False)

    def reattach(self, job: SweepJob, entry: Mapping[str, Any]) -> JobHandle | None:
        if self.cluster != "slurm":  # submitit cannot find a local job of another process again
            return None
        job_id = str(entry["job_id"])
        ref = self._submitit.SlurmJob(folder=self._folder, job_id=job_id)
        state = _slurm_state(ref, force=True)
        if state not in _ALIVE_STATES:
            if state == "UNKNOWN":
                logger.warning("%s seed=%d: Slurm does not know job %s (sacct); submitting the job again",
                               job.arm, job.seed, job_id)
            return None
        status = RUNNING if state in _RUNNING_STATES else QUEUED
        return JobHandle(job, status, job_id=job_id, note=f"job {job_id}", ref=ref)

    def describe_failure(self, handle: JobHandle) -> str:
        return (f"{os.path.join(handle.job.run_dir, STDOUT_FILE)}; job {handle.job_id}'s logs: "
                f"{os.path.join(handle.job.run_dir, LOG_LINK)}/")
