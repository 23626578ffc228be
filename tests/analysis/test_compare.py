"""``compare``: reading run/arm/sweep directories, AP tables over seeds, deltas, config diffs, plots."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from compare_helpers import read_csv, run_cli

from maskrcnn_ext.analysis import plots
from maskrcnn_ext.analysis.compare import compare_runs, format_markdown
from maskrcnn_ext.analysis.plots import mean_curve, moving_average
from maskrcnn_ext.analysis.runs import Run, config_diff, load_runs, read_metrics
from maskrcnn_ext.cli.main import SUBCOMMANDS

# arm -> bbox/AP, segm/AP of seed0 and seed1 (fractions, as the evaluator writes them)
AP = {
    "base": ((0.400, 0.360), (0.410, 0.364)),     # bbox 40.5 ± 0.5, segm 36.2 ± 0.2
    "roipool": ((0.380, 0.340), (0.384, 0.350)),  # bbox 38.2 ± 0.2: -2.3, outside 0.5 + 0.2
    "wide": ((0.404, 0.361), (0.412, 0.369)),     # bbox 40.8 ± 0.4: +0.3, within 0.5 + 0.4
}


def eval_row(iteration: int, bbox_ap: float, segm_ap: float | None = None, **extra: float) -> dict[str, Any]:
    row: dict[str, Any] = {"type": "eval", "iteration": iteration, "gt_counts/small": 12.0, **extra}
    tasks = {"bbox": bbox_ap} if segm_ap is None else {"bbox": bbox_ap, "segm": segm_ap}
    for task, ap in tasks.items():
        row.update({f"{task}/{k}": ap + d for k, d in
                    [("AP", 0), ("AP50", 0.2), ("AP75", 0.05), ("APs", -0.2), ("APm", 0), ("APl", 0.1)]})
        row[f"{task}/AP-circle"] = ap
    return row


def make_config(seed: int, run_dir: Path, op: str = "ROIAlign", steps: tuple[int, ...] = (100, 200)) -> dict:
    return {"model": {"roi_heads": {"box_pooler": {"op": op, "output_size": 7}}},
            "optimizer": {"lr": 0.02, "steps": list(steps)},
            "train": {"output_dir": str(run_dir), "seed": seed, "init_checkpoint": f"ckpt{seed}.pth"},
            "dataloader": {"train": {"seed": seed}, "evaluator": {"output_dir": str(run_dir / "inference")}}}


def write_run(run_dir: Path, rows: list[dict] | None = None, lines: tuple[str, ...] = (),
              config: dict | None = None, losses: tuple[float, ...] = (2.0, 1.5, 1.0)) -> Path:
    """A run directory: train rows every 10 iterations with ``losses``, then ``rows``, then raw ``lines``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    train = [{"type": "train", "iteration": 10 * (i + 1), "total_loss": v, "lr": 0.02} for i, v in enumerate(losses)]
    text = [json.dumps(r) for r in train + (rows or [])] + list(lines)
    (run_dir / "metrics.jsonl").write_text("\n".join(text) + "\n", encoding="utf-8")
    if config is not None:
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return run_dir


def make_sweep(root: Path) -> Path:
    sweep = root / "sweep"
    for arm, seeds in AP.items():
        for seed, (bbox, segm) in enumerate(seeds):
            run_dir = sweep / arm / f"seed{seed}"
            config = make_config(seed, run_dir, op="ROIPool" if arm == "roipool" else "ROIAlign",
                                 steps=(100, 300) if arm == "wide" else (100, 200))
            # an earlier evaluation with other numbers: only the final one counts
            write_run(run_dir, [eval_row(20, 0.1, 0.1), eval_row(30, bbox, segm)], config=config,
                      losses=(2.0 - seed * 0.1, 1.5, 1.0 + seed * 0.1))
    return sweep


def test_registered_as_subcommand():
    assert SUBCOMMANDS["compare"][0] == "maskrcnn_ext.cli.compare"


def test_means_spreads_deltas_and_within_spread_flag(tmp_path, capsys, no_plots):
    sweep = make_sweep(tmp_path)
    assert run_cli(str(sweep), "--baseline", "base") == 0
    rows = read_csv(sweep / "compare.csv")  # default output: the sweep dir
    assert list(rows) == ["base", "roipool", "wide"]
    base, roipool, wide = rows["base"], rows["roipool"], rows["wide"]
    assert base["n_seeds"] == "2"
    assert float(base["bbox/AP mean"]) == pytest.approx(40.5)
    assert float(base["bbox/AP spread"]) == pytest.approx(0.5)
    assert float(base["bbox/AP50 mean"]) == pytest.approx(60.5)
    assert float(base["segm/AP mean"]) == pytest.approx(36.2)
    assert float(base["segm/AP spread"]) == pytest.approx(0.2)
    assert base["bbox/AP delta"] == ""
    assert float(roipool["bbox/AP delta"]) == pytest.approx(-2.3)
    assert roipool["bbox/AP within_spread"] == "0"
    assert float(wide["bbox/AP delta"]) == pytest.approx(0.3)
    assert wide["bbox/AP within_spread"] == "1"
    out = capsys.readouterr().out
    assert out == (sweep / "compare.md").read_text(encoding="utf-8")
    assert "| base (baseline) | 2 | 40.5 ± 0.5 |  | 60.5 ± 0.5 |" in out
    assert "| roipool | 2 | 38.2 ± 0.2 | -2.3 |" in out
    assert "| wide | 2 | 40.8 ± 0.4 | +0.3~ |" in out
    assert "half the range" in out and "within seed spread" in out


def test_config_diff_lists_exactly_the_changed_keys(tmp_path, capsys, no_plots):
    sweep = make_sweep(tmp_path)
    assert run_cli(str(sweep / "base"), str(sweep / "roipool"), str(sweep / "wide"),
                   "--baseline", "base", "--output", str(tmp_path / "out")) == 0
    rows = read_csv(tmp_path / "out" / "compare.csv")
    assert rows["roipool"]["config diff vs baseline"] == "model.roi_heads.box_pooler.op: ROIAlign → ROIPool"
    assert rows["wide"]["config diff vs baseline"] == "optimizer.steps.1: 200 → 300"
    assert rows["base"]["config diff vs baseline"] == ""
    out = capsys.readouterr().out
    assert "- **roipool**\n  - `model.roi_heads.box_pooler.op: ROIAlign → ROIPool`\n- **wide**" in out
    assert "seed" not in out.split("## Config differences")[1].replace("seed spread", "")


def test_config_diff_ignores_run_specific_keys(tmp_path):
    a, b = make_config(0, tmp_path / "a"), make_config(1, tmp_path / "b", op="ROIPool")
    b["model"]["new_key"] = None
    assert config_diff(a, b) == [("model.new_key", "(absent)", "null"),
                                 ("model.roi_heads.box_pooler.op", "ROIAlign", "ROIPool")]


def test_resumed_run_keeps_the_last_row_per_iteration(tmp_path, caplog):
    run_dir = write_run(tmp_path / "resumed", [eval_row(10, 0.2), eval_row(20, 0.25)],
                        lines=('{"type": "train", "iteration": 10, "total_loss": 0.7}',
                               '{"type": "eval", "iter',  # a line cut short by the interruption
                               json.dumps(eval_row(20, 0.3)), json.dumps(eval_row(10, 0.9))))
    train, evals = read_metrics(run_dir / "metrics.jsonl")
    assert train[10]["total_loss"] == 0.7 and train[20]["total_loss"] == 1.5
    assert evals[20]["bbox/AP"] == 0.3 and evals[10]["bbox/AP"] == 0.9
    assert "metrics.jsonl:7: skipping malformed JSON line" in caplog.text
    comparison = compare_runs(load_runs([run_dir]))
    stat = comparison.arms[0].stats["bbox/AP"]
    assert (comparison.arms[0].name, stat.mean, stat.spread, stat.n) == ("resumed", 0.3, 0.0, 1)


def test_faster_rcnn_arm_without_segm_gets_blanks(tmp_path, capsys, no_plots):
    write_run(tmp_path / "mask" / "seed0", [eval_row(30, 0.40, 0.36)])
    write_run(tmp_path / "faster" / "seed0", [eval_row(30, 0.38)])
    assert run_cli(str(tmp_path / "mask"), str(tmp_path / "faster"), "--baseline", "mask",
                   "--output", str(tmp_path)) == 0
    rows = read_csv(tmp_path / "compare.csv")
    assert float(rows["faster"]["bbox/AP mean"]) == pytest.approx(38.0)
    assert rows["faster"]["segm/AP mean"] == rows["faster"]["segm/AP delta"] == ""
    assert float(rows["faster"]["bbox/AP delta"]) == pytest.approx(-2.0)
    out = capsys.readouterr().out
    assert "| faster | 1 | 38.0 | -2.0 |" in out and "| – | – |" in out
    assert "- **faster**: (config.yaml missing)" in out


def test_unknown_metric_lists_available_keys(tmp_path, capsys):
    write_run(tmp_path / "run", [eval_row(30, 0.38)])
    assert run_cli(str(tmp_path / "run"), "--metrics", "bbox/AP,segm/AP", "--output", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "segm/AP found in no run" in err
    assert "available: bbox/AP, bbox/AP-circle, bbox/AP50, bbox/AP75, bbox/APl, bbox/APm, bbox/APs, gt_counts/small" in err
    assert not (tmp_path / "compare.md").exists()


def test_chosen_metrics_and_unknown_baseline(tmp_path, capsys, no_plots):
    sweep = make_sweep(tmp_path)
    assert run_cli(str(sweep), "--metrics", "bbox/AP-circle", "--metrics", "gt_counts/small") == 0
    rows = read_csv(sweep / "compare.csv")
    assert float(rows["wide"]["bbox/AP-circle mean"]) == pytest.approx(40.8)
    assert float(rows["wide"]["gt_counts/small mean"]) == 12.0  # not an AP: not scaled
    assert "config diff vs first arm" in rows["wide"]
    assert run_cli(str(sweep), "--baseline", "nope") == 2
    assert "no evaluated arm named 'nope'; arms: base, roipool, wide" in capsys.readouterr().err


def test_bad_paths_and_runs_without_eval_are_reported(tmp_path, capsys, caplog, no_plots):
    (tmp_path / "empty").mkdir()
    write_run(tmp_path / "arm" / "seed0", [eval_row(30, 0.40, 0.36)])
    write_run(tmp_path / "arm" / "seed1", [eval_row(30, 0.42, 0.36)])
    write_run(tmp_path / "arm" / "seed2")  # still training: no evaluation yet
    assert run_cli(str(tmp_path / "empty"), str(tmp_path / "missing"), str(tmp_path / "arm")) == 0
    assert f"{tmp_path / 'empty'}: not a run, arm or sweep directory" in caplog.text
    assert f"{tmp_path / 'missing'}: not a run, arm or sweep directory" in caplog.text
    assert f"{tmp_path / 'arm' / 'seed2'}: no evaluation rows" in caplog.text
    out = capsys.readouterr().out
    assert "| arm | 2 | 41.0 ± 1.0 | 61.0 ± 1.0 |" in out and "| 36.0 ± 0.0 |" in out  # seed2 left out
    assert (tmp_path / "arm" / "compare.md").is_file()


def test_no_usable_run_exits_1(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run_cli(str(tmp_path / "empty")) == 1
    assert "no usable run" in capsys.readouterr().err


def test_png_files_are_written(tmp_path):
    sweep = make_sweep(tmp_path)
    write_run(sweep / "noeval" / "seed0", losses=(3.0, 2.0))
    assert run_cli(str(sweep), "--smooth", "2", "--output", str(tmp_path / "out")) == 0
    for name in ("loss_curves.png", "ap_curves.png", "ap_per_arm.png"):
        data = (tmp_path / "out" / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 1000


def test_smoothing_and_mean_curve():
    np.testing.assert_allclose(moving_average(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1.0, 2.0, 4.0, 6.0])
    its, mean = mean_curve([(np.array([10, 20, 30]), np.array([1.0, 2.0, 3.0])),
                            (np.array([20, 30]), np.array([4.0, 5.0]))])
    assert its.tolist() == [20, 30] and mean.tolist() == [3.0, 4.0]


def test_markdown_without_evaluations(tmp_path):
    write_run(tmp_path / "run")
    assert "No run has evaluation rows." in format_markdown(compare_runs(load_runs([tmp_path / "run"])))


def test_same_arm_name_in_two_sweeps_is_pooled_with_a_warning(tmp_path, caplog):
    write_run(tmp_path / "a" / "base" / "seed0", [eval_row(30, 0.40)])
    write_run(tmp_path / "b" / "base" / "seed0", [eval_row(30, 0.42)])
    write_run(tmp_path / "b" / "other", [eval_row(30, 0.30)])  # not seed<k>: a run dir, its own arm
    runs = load_runs([tmp_path / "a", tmp_path / "b", tmp_path / "a" / "base", tmp_path / "b" / "other"])
    assert [r.arm for r in runs] == ["base", "base", "other"]  # a/base given twice, read once
    assert "Arm base pools the runs of" in caplog.text
    assert compare_runs(runs).arms[0].stats["bbox/AP"].n == 2


def test_keypoint_ap_is_reported_beside_bbox_and_segm_when_runs_have_it(tmp_path):
    keypoint_row = {"keypoints/AP": 0.25, "keypoints/AP50": 0.5, "keypoints/AP75": 0.2, "keypoints/APm": 0.3,
                    "keypoints/APl": float("nan")}
    write_run(tmp_path / "kp" / "seed0", [eval_row(30, 0.4, **keypoint_row)])
    write_run(tmp_path / "kp" / "seed1", [eval_row(30, 0.4, **{**keypoint_row, "keypoints/AP": 0.35})])
    comp = compare_runs(load_runs([tmp_path / "kp"]))
    assert comp.metrics[-5:] == ["keypoints/AP", "keypoints/AP50", "keypoints/AP75", "keypoints/APm", "keypoints/APl"]
    stat = comp.arms[0].stats["keypoints/AP"]
    assert (stat.mean, stat.spread, stat.n) == (pytest.approx(0.30), pytest.approx(0.05), 2)
    assert "keypoints/AP" in format_markdown(comp)
    plain = compare_runs(load_runs([make_sweep(tmp_path / "plain")]))
    assert not any(m.startswith("keypoints/") for m in plain.metrics)


def test_lr_drops_are_found_in_the_train_rows_and_warmup_is_not_one(tmp_path):
    def run(name: str, lrs: list[float]) -> Run:
        train = {20 * (i + 1) - 1: {"lr": lr, "total_loss": 1.0} for i, lr in enumerate(lrs)}
        return Run(tmp_path / name, name, train, {}, None)

    warmup_then_two_drops = run("a", [0.001, 0.01, 0.02, 0.02, 0.002, 0.002, 0.0002])
    later_drop = run("b", [0.02, 0.02, 0.02, 0.02, 0.02, 0.015, 0.0015])  # 0.75x is not a drop
    assert plots.lr_drops([warmup_then_two_drops]) == [99, 139]
    assert plots.lr_drops([warmup_then_two_drops, later_drop]) == [99, 139]
    assert plots.lr_drops([run("c", [0.02])]) == []
