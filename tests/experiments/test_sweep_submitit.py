"""The submitit launcher through submitit's local executor (the Slurm code path minus Slurm), with a
fake training script; and the runner's handling of launchers whose jobs outlive it."""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import textwrap
import threading
import time

import pytest

from maskrcnn_ext.cli.main import build_parser, main
from maskrcnn_ext.cli.sweep import make_launcher
from maskrcnn_ext.experiments.launchers import OK, QUEUED, RUNNING, JobHandle, Launcher
from maskrcnn_ext.experiments.sweep import DONE_MARKER, STDOUT_FILE, SUMMARY_FILE, SweepError, load_suite, plan_sweep
from maskrcnn_ext.experiments.sweep_runner import run_sweep

# Records its argv in the run dir and exits 0, or 1 when the config's name contains "fail". A config
# named "slow*" first writes its pid and its parent's (the submitit job's) and sleeps until killed;
# with --resume it finishes at once.
FAKE_SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    args = sys.argv[1:]
    config = os.path.basename(args[args.index("--config-file") + 1])
    out = next(a.split("=", 1)[1] for a in args if a.startswith("train.output_dir="))
    os.makedirs(out, exist_ok=True)
    if config.startswith("slow") and "--resume" not in args:
        with open(os.path.join(out, "pids.tmp"), "w") as f:
            f.write(f"{os.getpid()} {os.getppid()}")
        os.replace(os.path.join(out, "pids.tmp"), os.path.join(out, "pids"))
        time.sleep(120)
    with open(os.path.join(out, "argv.json"), "w") as f:
        json.dump({"argv": args, "resume": "--resume" in args}, f)
    print("training", config, flush=True)
    sys.exit(1 if "fail" in config else 0)
""")


@pytest.fixture
def suite_file(tmp_path):
    (tmp_path / "configs").mkdir()
    for name in ("a", "fail", "slow"):
        (tmp_path / "configs" / f"{name}.py").write_text("")
    suite = tmp_path / "suite.yaml"
    suite.write_text("seeds: [0]\narms: {a: configs/a.py, broken: configs/fail.py, slow: configs/slow.py}\n")
    return str(suite)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "fake_train_net.py"
    path.write_text(FAKE_SCRIPT)
    return str(path)


def _read(path):
    with open(path) as f:
        return f.read()


def _summary(out):
    with open(os.path.join(out, SUMMARY_FILE)) as f:
        return {(e["arm"], e["seed"]): e for e in json.load(f)["jobs"]}


def _local_submitit(**kwargs):
    from maskrcnn_ext.experiments.submitit_launcher import SubmititLauncher

    return SubmititLauncher(cluster="local", gpus_per_job=0, poll_interval=0.05, **kwargs)


def test_submitit_local_sweep_statuses_run_dirs_skip_and_resume(suite_file, tmp_path, script, caplog):
    pytest.importorskip("submitit", reason="the cluster extra: pip install 'maskrcnn-ext[cluster]'")
    from maskrcnn_ext.experiments.submitit_launcher import LOG_LINK

    out = str(tmp_path / "out")
    interrupted = os.path.join(out, "a", "seed0")  # an interrupted run: a checkpoint, no done marker
    os.makedirs(interrupted)
    open(os.path.join(interrupted, "last_checkpoint"), "w").close()
    suite = load_suite(suite_file)
    jobs = plan_sweep(suite, output_dir=out, only=["a", "broken"])
    assert [(j.arm, j.state) for j in jobs] == [("a", "resume"), ("broken", "new")]
    with caplog.at_level(logging.INFO, logger="maskrcnn_ext"):
        assert run_sweep(jobs, output_dir=out, script=script, launcher=_local_submitit(parallelism=2)) == 1

    summary = _summary(out)
    assert {k: e["status"] for k, e in summary.items()} == {("a", 0): "ok", ("broken", 0): "failed"}
    for arm in ("a", "broken"):
        run_dir, job_id = os.path.join(out, arm, "seed0"), summary[(arm, 0)]["job_id"]
        assert job_id and summary[(arm, 0)]["run_dir"] == run_dir
        with open(os.path.join(run_dir, STDOUT_FILE)) as f:
            log = f.read()
        assert f"sweep (job {job_id}): " in log and f"training {'a' if arm == 'a' else 'fail'}.py" in log
        assert os.path.isfile(os.path.join(run_dir, LOG_LINK, f"{job_id}_0_log.out"))  # submitit's own logs
    assert json.loads(_read(os.path.join(interrupted, "argv.json")))["resume"]
    with open(os.path.join(interrupted, DONE_MARKER)) as f:
        assert json.load(f).keys() == {"arm", "seed", "wall_s", "config", "finished_at"}
    assert not os.path.exists(os.path.join(out, "broken", "seed0", DONE_MARKER))
    assert "broken seed=0 FAILED (exit 1)" in caplog.text and "a seed=0 (resuming) [job " in caplog.text

    # Re-running skips the finished job and runs the failed one again.
    os.remove(os.path.join(interrupted, "argv.json"))
    jobs = plan_sweep(suite, output_dir=out, only=["a", "broken"])
    assert [j.state for j in jobs] == ["done", "new"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="maskrcnn_ext"):
        assert run_sweep(jobs, output_dir=out, script=script, launcher=_local_submitit()) == 1
    assert "skip a seed=0: finished earlier" in caplog.text
    assert not os.path.exists(os.path.join(interrupted, "argv.json"))
    assert _summary(out)[("a", 0)] == summary[("a", 0)]
    assert _summary(out)[("broken", 0)]["job_id"] != summary[("broken", 0)]["job_id"]


def test_submitit_job_signalled_by_the_scheduler_is_requeued_and_resumes(suite_file, tmp_path, script):
    """Slurm warns a job with SIGUSR2 before its time limit or a preemption: it is requeued with --resume."""
    pytest.importorskip("submitit", reason="the cluster extra: pip install 'maskrcnn-ext[cluster]'")
    out = str(tmp_path / "out")
    jobs = plan_sweep(load_suite(suite_file), output_dir=out, only=["slow"])
    codes = []
    sweep = threading.Thread(target=lambda: codes.append(
        run_sweep(jobs, output_dir=out, script=script, launcher=_local_submitit())))
    sweep.start()
    pids = os.path.join(out, "slow", "seed0", "pids")
    deadline = time.monotonic() + 60
    while not os.path.exists(pids) and time.monotonic() < deadline and sweep.is_alive():
        time.sleep(0.05)
    training, job = (int(p) for p in _read(pids).split())
    os.kill(job, signal.SIGUSR2)
    sweep.join(timeout=60)
    assert not sweep.is_alive() and codes == [0]
    record = json.loads(_read(os.path.join(out, "slow", "seed0", "argv.json")))
    assert record["resume"] and "--resume" in record["argv"]
    assert _read(os.path.join(out, "slow", "seed0", STDOUT_FILE)).count("sweep (job ") == 2  # 1st try, requeued
    with pytest.raises(ProcessLookupError):  # the first attempt's training was stopped
        os.kill(training, 0)
    assert _summary(out)[("slow", 0)]["status"] == "ok"


class FakeScheduler(Launcher):
    """Jobs that are queued, then run, then end well over three polls; ``reattach`` finds job "old-1"."""

    name = "fake"
    detached = True

    def __init__(self, *, interrupt_after_submit=False):
        self.submitted, self.cancelled, self.interrupt = [], [], interrupt_after_submit
        self.count, self.statuses = 0, []

    def prepare(self, todo, *, script, output_dir):
        self.count, self.output_dir = len(todo), output_dir

    @property
    def parallelism(self):
        return self.count

    def submit(self, jobs):
        self.submitted += [(j.arm, j.seed) for j in jobs]
        return [JobHandle(j, QUEUED, job_id=f"new-{len(self.submitted)}-{i}", note="fake") for i, j in enumerate(jobs)]

    def poll(self, handle):
        if self.interrupt:
            raise KeyboardInterrupt
        self.statuses += [(e["status"], e.get("job_id")) for e in _summary(self.output_dir).values()]
        if handle.status == QUEUED:
            handle.status = RUNNING
        elif handle.status == RUNNING:
            os.makedirs(handle.job.run_dir, exist_ok=True)
            with open(os.path.join(handle.job.run_dir, DONE_MARKER), "w") as f:
                f.write("{}")
            handle.status = OK

    def cancel(self, handle):
        self.cancelled.append(handle.job_id)

    def reattach(self, job, entry):
        return JobHandle(job, RUNNING, job_id=entry["job_id"]) if entry["job_id"] == "old-1" else None


def test_runner_records_progress_follows_jobs_still_running_and_cancels_on_interrupt(suite_file, tmp_path, script):
    out = str(tmp_path / "out")
    os.makedirs(out)
    with open(os.path.join(out, SUMMARY_FILE), "w") as f:  # an earlier sweep that died with jobs in flight
        json.dump({"jobs": [{"arm": "a", "seed": 0, "status": "running", "job_id": "old-1", "run_dir": "x"},
                            {"arm": "broken", "seed": 0, "status": "queued", "job_id": "old-2", "run_dir": "y"}]}, f)
    jobs = plan_sweep(load_suite(suite_file), output_dir=out, only=["a", "broken"])
    launcher = FakeScheduler()
    assert run_sweep(jobs, output_dir=out, script=script, launcher=launcher, poll_interval=0) == 0
    assert launcher.submitted == [("broken", 0)]  # "a" was followed, "broken" (old-2 is gone) submitted
    assert {("queued", "new-1-0"), ("running", "new-1-0")} <= set(launcher.statuses)  # written as it went
    summary = _summary(out)
    assert {k: (e["status"], e["job_id"]) for k, e in summary.items()} == {
        ("a", 0): ("ok", "old-1"), ("broken", 0): ("ok", "new-1-0")}

    out = str(tmp_path / "out2")
    launcher = FakeScheduler(interrupt_after_submit=True)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan_sweep(load_suite(suite_file), output_dir=out, only=["a"]), output_dir=out,
                  script=script, launcher=launcher, poll_interval=0)
    assert launcher.cancelled == ["new-1-0"]
    assert _summary(out)[("a", 0)]["status"] == "cancelled"


def test_reattach_follows_only_slurm_jobs_still_alive(suite_file, tmp_path, monkeypatch, caplog):
    pytest.importorskip("submitit", reason="the cluster extra: pip install 'maskrcnn-ext[cluster]'")
    from submitit.slurm.slurm import SlurmInfoWatcher

    from maskrcnn_ext.experiments.submitit_launcher import SubmititLauncher

    states = {"7_0": "RUNNING", "7_1": "PENDING", "7_2": "CANCELLED by 42", "7_3": "COMPLETED", "8": "UNKNOWN"}
    monkeypatch.setattr(SlurmInfoWatcher, "get_state", lambda self, job_id, mode="standard": states[job_id])
    launcher = SubmititLauncher(partition="gpu")  # nothing is submitted, so no Slurm needed
    job = plan_sweep(load_suite(suite_file), output_dir=str(tmp_path), only=["a"])[0]
    launcher.prepare([job], script="train_net.py", output_dir=str(tmp_path))
    found = {job_id: launcher.reattach(job, {"job_id": job_id, "status": "running"}) for job_id in states}
    assert {k: h and h.status for k, h in found.items()} == {"7_0": RUNNING, "7_1": QUEUED, "7_2": None,
                                                               "7_3": None, "8": None}
    assert "Slurm does not know job 8" in caplog.text


def test_cli_builds_the_submitit_launcher_and_says_how_to_install_it(suite_file, tmp_path, script, capsys,
                                                                    monkeypatch):
    pytest.importorskip("submitit", reason="the cluster extra: pip install 'maskrcnn-ext[cluster]'")
    args = build_parser().parse_args([
        "sweep", suite_file, "--output", str(tmp_path), "--launcher", "submitit", "--partition", "gpu",
        "--gpus-per-job", "2", "--cpus-per-task", "16", "--timeout-min", "90", "--jobs", "3",
        "--slurm-option", "account=proj", "--slurm-option=--mem=64G"])
    launcher = make_launcher(args)
    assert (launcher.partition, launcher.gpus_per_job, launcher.cpus_per_task, launcher.timeout_min) == (
        "gpu", 2, 16, 90)
    assert launcher.slurm_options == {"account": "proj", "mem": "64G"} and launcher._max_parallel == 3
    assert main(["sweep", suite_file, "--output", str(tmp_path), "--train-script", script, "--only", "a",
                 "--launcher", "submitit", "--gpus-per-job", "2", "--dry-run"]) == 0
    assert "--config-file" in (line := capsys.readouterr().out) and " --num-gpus 2 " in line

    monkeypatch.setitem(sys.modules, "submitit", None)  # as if not installed
    with pytest.raises(SweepError, match=r"pip install 'maskrcnn-ext\[cluster\]'"):
        make_launcher(args)
    assert main(["sweep", suite_file, "--output", str(tmp_path), "--launcher", "submitit"]) == 2
    assert "needs the submitit package: pip install 'maskrcnn-ext[cluster]'" in capsys.readouterr().err
