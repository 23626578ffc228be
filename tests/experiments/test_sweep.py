"""The sweep runner and its local launcher, driven with a fake training script that only records how
it was called."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time

import pytest

from maskrcnn_ext.cli.main import main
from maskrcnn_ext.experiments.launchers import LocalLauncher
from maskrcnn_ext.experiments.sweep import (
    DONE_MARKER,
    STDOUT_FILE,
    SUMMARY_FILE,
    SweepError,
    load_suite,
    plan_sweep,
)
from maskrcnn_ext.experiments.sweep_runner import run_sweep

# Records its argv and thread settings in the run dir; fails when the config's name contains "fail".
FAKE_SCRIPT = textwrap.dedent("""
    import json, os, sys
    args = sys.argv[1:]
    config = args[args.index("--config-file") + 1]
    out = next(a.split("=", 1)[1] for a in args if a.startswith("train.output_dir="))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "argv.json"), "w") as f:
        json.dump({"argv": args, "resume": "--resume" in args, "omp": os.environ.get("OMP_NUM_THREADS"),
                   "mkl": os.environ.get("MKL_NUM_THREADS")}, f)
    print("training", config)
    sys.exit(1 if "fail" in os.path.basename(config) else 0)
""")


@pytest.fixture
def suite_file(tmp_path):
    """A suite in ``tmp_path/suites`` whose configs live in ``tmp_path/configs``."""
    (tmp_path / "configs").mkdir()
    for name in ("a", "b", "fail"):
        (tmp_path / "configs" / f"{name}.py").write_text("")
    (tmp_path / "suites").mkdir()
    suite = tmp_path / "suites" / "suite.yaml"
    suite.write_text(textwrap.dedent("""
        seeds: [0, 1]
        arms:
          a: ../configs/a.py
          b: ../configs/b.py
          broken: ../configs/fail.py
        overrides: [train.max_iter=5]
        subsets:
          good: [a, b]
    """))
    return str(suite)


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "fake_train_net.py"
    path.write_text(FAKE_SCRIPT)
    return str(path)


def _record(run_dir):
    with open(os.path.join(run_dir, "argv.json")) as f:
        return json.load(f)


def _run(jobs, output, script, num_slots=None):
    return run_sweep(jobs, output_dir=output, script=script, launcher=LocalLauncher(num_slots=num_slots, gpu_count=0),
                     poll_interval=0.01)


def test_plan_run_dirs_seeds_and_override_order(suite_file, tmp_path):
    out = str(tmp_path / "out")
    jobs = plan_sweep(load_suite(suite_file), output_dir=out, seeds=[3, 4], subset="good",
                      extra_overrides=["train.amp.enabled=False"])
    assert [(j.arm, j.seed) for j in jobs] == [("a", 3), ("b", 3), ("a", 4), ("b", 4)]
    job = jobs[1]
    assert job.config == str(tmp_path / "configs" / "b.py")
    assert job.run_dir == os.path.join(out, "b", "seed3")
    assert job.overrides == ["train.max_iter=5", "train.seed=3", "dataloader.train.seed=3",
                             f"train.output_dir={job.run_dir}", "train.amp.enabled=False"]
    assert job.state == "new"
    assert job.command("L") == [sys.executable, "L", "--config-file", job.config, *job.overrides]
    assert job.command("L", num_processes=4)[2:6] == ["--config-file", job.config, "--num-gpus", "4"]


def test_run_writes_markers_threads_and_summary_then_skips_finished(suite_file, tmp_path, script, caplog):
    out = str(tmp_path / "out")
    suite = load_suite(suite_file)
    assert _run(plan_sweep(suite, output_dir=out, only=["a", "b"]), out, script, num_slots=2) == 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    for arm in ("a", "b"):
        for seed in (0, 1):
            run_dir = os.path.join(out, arm, f"seed{seed}")
            record = _record(run_dir)
            assert record["omp"] == record["mkl"] == str(max(1, cpus // 2))
            assert f"train.seed={seed}" in record["argv"] and not record["resume"]
            with open(os.path.join(run_dir, DONE_MARKER)) as f:
                assert json.load(f).keys() == {"arm", "seed", "wall_s", "config", "finished_at"}
            with open(os.path.join(run_dir, STDOUT_FILE)) as f:
                assert "training" in f.read()
            os.remove(os.path.join(run_dir, "argv.json"))
    with open(os.path.join(out, SUMMARY_FILE)) as f:
        summary = json.load(f)
    assert [(e["arm"], e["seed"], e["status"]) for e in summary["jobs"]] == [
        ("a", 0, "ok"), ("a", 1, "ok"), ("b", 0, "ok"), ("b", 1, "ok")]
    assert summary["wall_s"] > 0

    jobs = plan_sweep(suite, output_dir=out, only=["a", "b"])
    assert {j.state for j in jobs} == {"done"}
    with caplog.at_level(logging.INFO, logger="maskrcnn_ext"):
        assert _run(jobs, out, script) == 0
    assert "finished earlier" in caplog.text
    assert not any(os.path.exists(os.path.join(j.run_dir, "argv.json")) for j in jobs)


def test_run_dir_with_checkpoint_is_resumed(suite_file, tmp_path, script):
    out = str(tmp_path / "out")
    run_dir = os.path.join(out, "a", "seed0")
    os.makedirs(run_dir)
    open(os.path.join(run_dir, "last_checkpoint"), "w").close()
    jobs = plan_sweep(load_suite(suite_file), output_dir=out, only=["a"], seeds=[0])
    assert jobs[0].state == "resume"
    assert jobs[0].command("L")[2:5] == ["--config-file", jobs[0].config, "--resume"]
    assert _run(jobs, out, script) == 0
    assert _record(run_dir)["resume"]


def test_failing_job_does_not_stop_the_others(suite_file, tmp_path, script, caplog):
    out = str(tmp_path / "out")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / SUMMARY_FILE).write_text(json.dumps(
        {"wall_s": 1.0, "jobs": [{"arm": "old", "seed": 7, "status": "ok", "wall_s": 1.0, "run_dir": "x"}]}))
    jobs = plan_sweep(load_suite(suite_file), output_dir=out, only=["broken", "a"], seeds=[0, 1])
    assert [(j.arm, j.seed) for j in jobs] == [("a", 0), ("broken", 0), ("a", 1), ("broken", 1)]
    with caplog.at_level(logging.INFO, logger="maskrcnn_ext"):
        assert _run(jobs[1:], out, script, num_slots=1) == 1
    assert os.path.exists(os.path.join(out, "a", "seed1", DONE_MARKER))
    assert not os.path.exists(os.path.join(out, "broken", "seed0", DONE_MARKER))
    assert "[1/3] broken seed=0 FAILED (exit 1)" in caplog.text
    assert os.path.join(out, "broken", "seed0", STDOUT_FILE) in caplog.text
    assert "[2/3] a seed=1 done in" in caplog.text
    with open(os.path.join(out, SUMMARY_FILE)) as f:
        statuses = {(e["arm"], e["seed"]): e["status"] for e in json.load(f)["jobs"]}
    assert statuses == {("a", 1): "ok", ("broken", 0): "failed", ("broken", 1): "failed", ("old", 7): "ok"}


def test_selection_errors(suite_file, tmp_path):
    suite = load_suite(suite_file)
    with pytest.raises(SweepError, match="nope.*arms: a, b, broken"):
        plan_sweep(suite, output_dir=str(tmp_path), only=["nope"])
    with pytest.raises(SweepError, match="unknown subset 'fast'; subsets: good"):
        plan_sweep(suite, output_dir=str(tmp_path), subset="fast")


def test_missing_files_are_named(suite_file, tmp_path):
    with pytest.raises(SweepError, match="suite file not found: .*missing.yaml"):
        load_suite(str(tmp_path / "missing.yaml"))
    os.remove(tmp_path / "configs" / "b.py")
    with pytest.raises(SweepError, match=r"arm 'b': config file not found: .*configs/b\.py"):
        load_suite(suite_file)
    with pytest.raises(SweepError, match="training script not found"):
        run_sweep([], output_dir=str(tmp_path), script=str(tmp_path / "nope.py"))
    with pytest.raises(SweepError, match="jobs must be at least 1"):
        LocalLauncher(num_slots=0)


def test_cli_dry_run_and_errors(suite_file, tmp_path, script, capsys, caplog):
    out = str(tmp_path / "out")
    assert main(["sweep", suite_file, "--output", out, "--train-script", script, "--dry-run",
                 "--seeds", "5", "--set", "train.max_iter=9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all("train.seed=5" in line and line.endswith("train.max_iter=9") for line in lines)
    assert all(f" {script} --config-file " in line for line in lines)
    assert not os.path.exists(out)
    assert main(["sweep", suite_file, "--output", out, "--only", "zzz"]) == 2
    assert "arms: a, b, broken" in capsys.readouterr().err
    # The old spelling of --train-script still works, with a warning.
    with caplog.at_level(logging.WARNING, logger="maskrcnn_ext"):
        assert main(["sweep", suite_file, "--output", out, "--launcher", script, "--dry-run", "--only", "a"]) == 0
    assert f" {script} --config-file " in capsys.readouterr().out and "--train-script" in caplog.text
    assert main(["sweep", suite_file, "--output", out, "--launcher", "pbs"]) == 2
    assert "unknown launcher 'pbs'; choose from local, submitit" in capsys.readouterr().err
    assert main(["sweep", suite_file, "--output", out, "--partition", "gpu", "--timeout-min", "5"]) == 2
    assert "--partition, --timeout-min: only with --launcher submitit" in capsys.readouterr().err


def test_terminating_the_sweep_stops_its_jobs(suite_file, tmp_path):
    # A launcher that records its pid and then trains "forever".
    sleeper = tmp_path / "sleeper.py"
    sleeper.write_text(textwrap.dedent("""
        import os, sys, time
        out = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("train.output_dir="))
        os.makedirs(out, exist_ok=True)
        open(os.path.join(out, "pid"), "w").write(str(os.getpid()))
        time.sleep(60)
    """))
    out = tmp_path / "out"
    sweep = subprocess.Popen([sys.executable, "-m", "maskrcnn_ext", "sweep", suite_file, "--output", str(out),
                              "--train-script", str(sleeper), "--only", "a", "--seeds", "0"])
    pid_file = out / "a" / "seed0" / "pid"
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    sweep.terminate()
    sweep.wait(timeout=30)
    with pytest.raises(ProcessLookupError):  # reaped by the sweep, not left running
        os.kill(child, 0)
