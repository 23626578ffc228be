"""A suite's ``launcher:`` key: every job runs that training script (a fake Detectron2 LazyConfig
launcher here, writing Detectron2's ``metrics.json``), and ``compare`` reads the sweep it leaves."""
from __future__ import annotations

import argparse
import json
import os
import textwrap

import pytest

from maskrcnn_ext.analysis import plots
from maskrcnn_ext.cli import compare as compare_cli
from maskrcnn_ext.cli.main import main
from maskrcnn_ext.experiments.launchers import LocalLauncher
from maskrcnn_ext.experiments.sweep import SweepError, load_suite, plan_sweep, resolve_script
from maskrcnn_ext.experiments.sweep_runner import run_sweep

# Takes Detectron2's launcher CLI (``--config-file X [--resume] key=value ...``), records its argv and
# writes what Detectron2's trainer would: metrics.json (AP in points, depending on the config's
# name and the seed) and config.yaml.
FAKE_D2_LAUNCHER = textwrap.dedent("""
    import json, os, sys
    args = sys.argv[1:]
    config = args[args.index("--config-file") + 1]
    overrides = dict(a.split("=", 1) for a in args if "=" in a and not a.startswith("-"))
    out, seed = overrides["train.output_dir"], int(overrides["train.seed"])
    os.makedirs(out, exist_ok=True)
    json.dump({"argv": args, "overrides": overrides}, open(os.path.join(out, "argv.json"), "w"))
    ap = (33.0 if "align" in os.path.basename(config) else 30.0) + seed
    rows = [{"iteration": 19, "total_loss": 1.5, "lr": 0.01},
            {"iteration": 40, "bbox/AP": ap, "segm/AP": ap - 2}]
    open(os.path.join(out, "metrics.json"), "w").write("".join(json.dumps(r) + "\\n" for r in rows))
    pooler = "ROIAlignV2" if "align" in os.path.basename(config) else "ROIPool"
    open(os.path.join(out, "config.yaml"), "w").write(
        "model:\\n  roi_heads:\\n    pooler: {pooler_type: %s}\\ntrain: {seed: %d}\\n" % (pooler, seed))
""")


@pytest.fixture
def repo(tmp_path):
    """A repository root with the launcher in ``tools/`` and a suite in ``projects/D2/``."""
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "d2_train_net.py").write_text(FAKE_D2_LAUNCHER)
    project = tmp_path / "projects" / "D2"
    (project / "configs").mkdir(parents=True)
    for name in ("c4_roipool", "c4_roialign"):
        (project / "configs" / f"{name}.py").write_text("")
    (project / "suite.yaml").write_text(textwrap.dedent("""
        launcher: tools/d2_train_net.py
        seeds: [0, 1]
        arms:
          c_roipool: configs/c4_roipool.py
          c_roialign: configs/c4_roialign.py
        overrides: [train.max_iter=40]
    """))
    return tmp_path


def test_launcher_is_found_from_the_suite_folder_up(repo):
    suite = load_suite(str(repo / "projects" / "D2" / "suite.yaml"))
    assert suite.launcher == str(repo / "tools" / "d2_train_net.py")  # found from the repository root
    # a script beside the suite wins over one of the same relative path further up
    (repo / "projects" / "D2" / "tools").mkdir()
    (repo / "projects" / "D2" / "tools" / "d2_train_net.py").write_text("")
    assert load_suite(str(repo / "projects" / "D2" / "suite.yaml")).launcher == str(
        repo / "projects" / "D2" / "tools" / "d2_train_net.py")
    assert resolve_script(None, suite=suite) == suite.launcher
    (repo / "other.py").write_text("")
    assert resolve_script(str(repo / "other.py"), suite=suite) == str(repo / "other.py")


def test_launcher_errors_are_named(repo):
    path = repo / "projects" / "D2" / "suite.yaml"
    path.write_text(path.read_text().replace("tools/d2_train_net.py", "tools/missing.py"))
    with pytest.raises(SweepError, match=r"launcher 'tools/missing.py' not found relative to .*projects/D2"):
        load_suite(str(path))
    path.write_text(path.read_text().replace("launcher: tools/missing.py", "launcher: [a]"))
    with pytest.raises(SweepError, match="launcher must be the path of a training script"):
        load_suite(str(path))


def test_cli_runs_the_suite_launcher_unless_a_train_script_is_given(repo, tmp_path, capsys):
    suite, out = str(repo / "projects" / "D2" / "suite.yaml"), str(tmp_path / "out")
    assert main(["sweep", suite, "--output", out, "--dry-run", "--seeds", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    launcher = str(repo / "tools" / "d2_train_net.py")
    assert len(lines) == 2 and all(f" {launcher} --config-file " in line for line in lines)
    assert lines[0].endswith(f"c4_roipool.py train.max_iter=40 train.seed=3 dataloader.train.seed=3 "
                             f"train.output_dir={os.path.join(out, 'c_roipool', 'seed3')}")
    other = repo / "other_train_net.py"
    other.write_text("")
    assert main(["sweep", suite, "--output", out, "--dry-run", "--train-script", str(other)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(f" {other} --config-file " in line for line in lines)


def test_sweep_through_the_launcher_then_compare(repo, tmp_path, capsys, monkeypatch):
    suite = load_suite(str(repo / "projects" / "D2" / "suite.yaml"))
    out = tmp_path / "out"
    jobs = plan_sweep(suite, output_dir=str(out))
    assert run_sweep(jobs, output_dir=str(out), script=resolve_script(None, suite=suite), poll_interval=0.01,
                     launcher=LocalLauncher(num_slots=2, gpu_count=0)) == 0
    record = json.loads((out / "c_roialign" / "seed1" / "argv.json").read_text())
    assert record["overrides"] == {"train.max_iter": "40", "train.seed": "1", "dataloader.train.seed": "1",
                                   "train.output_dir": str(out / "c_roialign" / "seed1")}
    parser = argparse.ArgumentParser()
    compare_cli.add_arguments(parser)
    args = parser.parse_args([str(out), "--baseline", "c_roipool", "--metrics", "bbox/AP,segm/AP"])
    args.output = tmp_path / "cmp"
    # the figures are drawn by tests/analysis; keep this test to the table
    for name in ("plot_loss_curves", "plot_ap_curves", "plot_ap_bars"):
        monkeypatch.setattr(plots, name, lambda arms, path, **kwargs: path.touch())
    assert compare_cli.run(args) == 0
    table = capsys.readouterr().out
    # seeds 0 and 1: RoIPool bbox 30, 31 -> 30.5 ± 0.5; RoIAlign 33, 34 -> 33.5 ± 0.5, +3.0 (outside 1.0)
    assert "| c_roialign | 2 | 33.5 ± 0.5 | +3.0 | 31.5 ± 0.5 | +3.0 |" in table
    assert "| c_roipool (baseline) | 2 | 30.5 ± 0.5 |  | 28.5 ± 0.5 |  |" in table
    assert "`model.roi_heads.pooler.pooler_type: ROIPool → ROIAlignV2`" in table
