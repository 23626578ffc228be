"""``compare`` on Detectron2 run directories (its ``metrics.json`` and a ``LazyConfig.save`` yaml),
alone and beside this toolkit's runs. The run directories are written by hand as Detectron2's
``JSONWriter`` and ``EvalHook`` lay them out; Detectron2 itself is not needed."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from compare_helpers import read_csv, run_cli

from maskrcnn_ext.analysis.detectron2_runs import load_yaml_data, read_detectron2_metrics, split_row
from maskrcnn_ext.analysis.plots import run_curve
from maskrcnn_ext.analysis.runs import find_run_dirs, load_runs

MAX_ITER = 60
# arm -> (bbox/AP, segm/AP) of seed0 and seed1 in AP points, as Detectron2's COCOEvaluator reports them
D2_AP = {
    "c_roipool": ((30.0, 28.0), (31.0, 28.4)),    # bbox 30.5 ± 0.5, segm 28.2 ± 0.2
    "c_roialign": ((33.0, 31.0), (33.6, 31.2)),   # bbox 33.3 ± 0.3 (+2.8), segm 31.1 ± 0.1 (+2.9)
}
POOLER = {"c_roipool": "ROIPool", "c_roialign": "ROIAlignV2"}

# What LazyConfig.save writes for a C4 model (trimmed): flow-style maps, ${...} interpolations left
# unresolved, and a Python tag that yaml.safe_load refuses.
D2_CONFIG = """\
dataloader:
  evaluator: {{_target_: detectron2.evaluation.COCOEvaluator, dataset_name: '${{..test.dataset.names}}'}}
  train:
    _target_: detectron2.data.build_detection_train_loader
    dataset: {{_target_: detectron2.data.get_detection_dataset_dicts, names: shapes_train}}
    seed: {seed}
    total_batch_size: 2
model:
  _target_: detectron2.modeling.GeneralizedRCNN
  roi_heads:
    _target_: detectron2.modeling.roi_heads.Res5ROIHeads
    pooler:
      _target_: maskrcnn_ext.d2.ExtROIPooler
      output_size: 14
      pooler_type: {pooler}
      sampling_ratio: 0
      scales: [0.0625]
    res5:
      _target_: detectron2.modeling.ResNet.make_stage
      block_class: !!python/name:detectron2.modeling.backbone.resnet.BottleneckBlock ''
      stride_per_block: [2, 1, 1]
train:
  device: cpu
  max_iter: {max_iter}
  output_dir: {output_dir}
  seed: {seed}
"""


def d2_train_row(iteration: int, loss: float) -> dict[str, Any]:
    """A training row as Detectron2's JSONWriter writes it (median-smoothed scalars)."""
    return {"data_time": 0.01, "eta_seconds": 12.5, "fast_rcnn/cls_accuracy": 0.9, "fast_rcnn/false_negative": 1.0,
            "iteration": iteration, "loss_box_reg": loss / 4, "loss_cls": loss / 2, "lr": 0.0025,
            "mask_rcnn/accuracy": 0.7, "rank_data_time": 0.01, "time": 0.4, "total_loss": loss}


def d2_eval_values(bbox_ap: float, segm_ap: float) -> dict[str, float]:
    """EvalHook's flattened COCO results, in AP points; a class without ground truth gets NaN."""
    values = {}
    for task, ap in (("bbox", bbox_ap), ("segm", segm_ap)):
        values.update({f"{task}/{k}": ap + d for k, d in [("AP", 0), ("AP50", 20), ("AP75", 4), ("APs", -10),
                                                           ("APm", 0), ("APl", 8)]})
        values[f"{task}/AP-circle"], values[f"{task}/AP-ring"] = ap + 1, float("nan")
    return values


def write_d2_run(run_dir: Path, *, bbox_ap: float, segm_ap: float, pooler: str = "ROIAlignV2", seed: int = 0,
                 extra_lines: tuple[str, ...] = ()) -> Path:
    """A Detectron2 run: training rows every 20 iterations (0-based iteration index), a periodic
    evaluation at iteration 39 sharing its row with that iteration's training scalars, and the
    final evaluation alone in a row labelled ``max_iter``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = [d2_train_row(19, 2.0), {**d2_train_row(39, 1.6), **d2_eval_values(bbox_ap / 2, segm_ap / 2)},
            d2_train_row(59, 1.2), {"iteration": MAX_ITER, **d2_eval_values(bbox_ap, segm_ap)}]
    text = [json.dumps(r, sort_keys=True) for r in rows] + list(extra_lines)
    (run_dir / "metrics.json").write_text("\n".join(text) + "\n", encoding="utf-8")
    (run_dir / "config.yaml").write_text(
        D2_CONFIG.format(seed=seed, pooler=pooler, max_iter=MAX_ITER, output_dir=run_dir), encoding="utf-8")
    return run_dir


def make_d2_sweep(root: Path) -> Path:
    for arm, seeds in D2_AP.items():
        for seed, (bbox, segm) in enumerate(seeds):
            write_d2_run(root / arm / f"seed{seed}", bbox_ap=bbox, segm_ap=segm, pooler=POOLER[arm], seed=seed)
    return root


def write_toolkit_run(run_dir: Path, *, bbox_ap: float, segm_ap: float, op: str, seed: int) -> Path:
    """A run of this toolkit's engine: metrics.jsonl rows (AP as fractions) and its config."""
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = [{"type": "train", "iteration": 19, "total_loss": 1.5},
            {"type": "eval", "iteration": MAX_ITER - 1, "bbox/AP": bbox_ap, "segm/AP": segm_ap}]
    (run_dir / "metrics.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n", encoding="utf-8")
    config = {"model": {"roi_heads": {"box_pooler": {"op": op}}}, "train": {"seed": seed, "output_dir": str(run_dir)}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return run_dir


def test_rows_split_into_train_and_eval_with_ap_as_fractions(tmp_path, caplog):
    run_dir = write_d2_run(tmp_path / "run", bbox_ap=30.0, segm_ap=28.0, extra_lines=(
        json.dumps({"iteration": 59, "total_loss": 1.1}),   # a resumed run writes iteration 59 again
        '{"iteration": 6',                                   # a line cut short by the interruption
        json.dumps({"iteration": MAX_ITER, "bbox/AP": 29.0, "segm/AP": 27.5})))
    train, evals = read_detectron2_metrics(run_dir / "metrics.json")
    assert sorted(train) == [19, 39, 59] and sorted(evals) == [39, MAX_ITER]
    assert train[19]["total_loss"] == 2.0 and train[59] == {"total_loss": 1.1}
    assert train[39]["fast_rcnn/cls_accuracy"] == 0.9 and "bbox/AP" not in train[39]
    assert evals[39]["bbox/AP"] == pytest.approx(0.15) and "total_loss" not in evals[39]
    assert evals[MAX_ITER] == {"bbox/AP": pytest.approx(0.29), "segm/AP": pytest.approx(0.275)}
    assert "metrics.json:6: skipping malformed JSON line" in caplog.text
    train_part, eval_part = split_row({"iteration": 5, "segm/AP-ring": float("nan"), "segm/APl": 40.0,
                                       "lr": 0.1, "roi_head/num_fg_samples": 8, "note": "text"})
    assert train_part == {"lr": 0.1, "roi_head/num_fg_samples": 8.0}
    assert eval_part["segm/APl"] == pytest.approx(0.4) and eval_part["segm/AP-ring"] != eval_part["segm/AP-ring"]


def test_lazyconfig_yaml_with_python_tags_is_read_as_plain_data(tmp_path):
    text = "a: !!python/name:pkg.mod.Block ''\nb: !!python/tuple [1, 2]\nc: !!python/object:pkg.Spec {channels: 4}\n"
    assert load_yaml_data(text) == {"a": "pkg.mod.Block", "b": [1, 2], "c": {"channels": 4}}
    run = load_runs([write_d2_run(tmp_path / "run", bbox_ap=30.0, segm_ap=28.0)])[0]
    assert run.engine == "detectron2" and run.arm == "run"
    res5 = run.config["model"]["roi_heads"]["res5"]
    assert res5["block_class"] == "detectron2.modeling.backbone.resnet.BottleneckBlock"
    assert run.config["dataloader"]["evaluator"]["dataset_name"] == "${..test.dataset.names}"


def test_detectron2_sweep_table_deltas_and_config_diff(tmp_path, capsys, no_plots):
    sweep = make_d2_sweep(tmp_path / "d2sweep")
    assert find_run_dirs(sweep)[0] == "sweep" and find_run_dirs(sweep / "c_roipool")[0] == "arm"
    assert run_cli(str(sweep), "--baseline", "c_roipool", "--metrics", "segm/AP,segm/AP50,bbox/AP,bbox/AP75") == 0
    out = capsys.readouterr().out
    assert "| c_roipool (baseline) | 2 | 28.2 ± 0.2 |  | 48.2 ± 0.2 |  | 30.5 ± 0.5 |  | 34.5 ± 0.5 |  |" in out
    assert ("| c_roialign | 2 | 31.1 ± 0.1 | +2.9 | 51.1 ± 0.1 | +2.9 | 33.3 ± 0.3 | +2.8 | 37.3 ± 0.3 "
            "| +2.8 |") in out
    assert "Trained by Detectron2's engine: `c_roialign`, `c_roipool`" in out
    assert "## Config differences vs `c_roipool` (baseline)" in out
    assert "- **c_roialign**\n  - `model.roi_heads.pooler.pooler_type: ROIPool → ROIAlignV2`\n" in out
    rows = read_csv(sweep / "compare.csv")
    assert float(rows["c_roialign"]["bbox/AP mean"]) == pytest.approx(33.3)
    assert float(rows["c_roialign"]["bbox/AP spread"]) == pytest.approx(0.3)
    assert float(rows["c_roialign"]["segm/AP delta"]) == pytest.approx(2.9)
    assert rows["c_roialign"]["segm/AP within_spread"] == "0"
    assert rows["c_roialign"]["config diff vs baseline"] == "model.roi_heads.pooler.pooler_type: ROIPool → ROIAlignV2"


def test_toolkit_and_detectron2_arms_in_one_compare(tmp_path, capsys, no_plots):
    d2 = make_d2_sweep(tmp_path / "d2sweep")
    for seed, (bbox, segm) in enumerate(((0.330, 0.300), (0.336, 0.304))):
        write_toolkit_run(tmp_path / "ours" / "t_roialign" / f"seed{seed}", bbox_ap=bbox, segm_ap=segm,
                          op="ROIAlign", seed=seed)
        write_toolkit_run(tmp_path / "ours" / "t_roipool" / f"seed{seed}", bbox_ap=bbox - 0.04,
                          segm_ap=segm - 0.04, op="ROIPool", seed=seed)
    assert run_cli(str(d2), str(tmp_path / "ours"), "--baseline", "c_roipool", "--metrics", "bbox/AP,segm/AP",
                   "--output", str(tmp_path / "out")) == 0
    out = capsys.readouterr().out
    # the toolkit's t_roialign: bbox 33.3 ± 0.3 against Detectron2's c_roipool 30.5 ± 0.5
    assert "| t_roialign | 2 | 33.3 ± 0.3 | +2.8 | 30.2 ± 0.2 | +2.0 |" in out
    assert "| t_roipool | 2 | 29.3 ± 0.3 | -1.2 | 26.2 ± 0.2 | -2.0 |" in out
    assert ("Trained by Detectron2's engine: `c_roialign`, `c_roipool`; "
            "this toolkit's engine: `t_roialign`, `t_roipool`") in out
    assert "a Δ across engines measures the engines as well as the arms" in out
    assert "## Config differences vs `t_roialign` (first arm of this toolkit's engine)" in out
    assert "- **t_roipool**\n  - `model.roi_heads.box_pooler.op: ROIAlign → ROIPool`" in out
    rows = read_csv(tmp_path / "out" / "compare.csv")
    assert rows["c_roialign"]["config diff vs baseline"] == "model.roi_heads.pooler.pooler_type: ROIPool → ROIAlignV2"
    assert rows["t_roipool"]["config diff vs baseline"] == (
        "vs t_roialign: model.roi_heads.box_pooler.op: ROIAlign → ROIPool")
    assert rows["t_roialign"]["config diff vs baseline"] == ""


def test_curves_and_pngs(tmp_path):
    sweep = make_d2_sweep(tmp_path / "d2sweep")
    run = load_runs([sweep / "c_roipool" / "seed1"])[0]
    its, losses = run_curve(run, "total_loss")
    assert its.tolist() == [19, 39, 59] and losses.tolist() == [2.0, 1.6, 1.2]
    its, ap = run_curve(run, "segm/AP", evals=True)
    assert its.tolist() == [39, MAX_ITER] and ap.tolist() == pytest.approx([0.142, 0.284])
    assert run_cli(str(sweep), "--output", str(tmp_path / "out")) == 0
    for name in ("loss_curves.png", "ap_curves.png", "ap_per_arm.png"):
        data = (tmp_path / "out" / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 1000


def test_an_arm_name_of_both_engines_is_not_pooled(tmp_path, caplog, capsys, no_plots):
    d2 = make_d2_sweep(tmp_path / "d2sweep")  # c_roipool: bbox 30.5 ± 0.5
    for seed, bbox in enumerate((0.290, 0.300)):
        write_toolkit_run(tmp_path / "ours" / "c_roipool" / f"seed{seed}", bbox_ap=bbox, segm_ap=0.2, op="ROIPool",
                          seed=seed)
    with caplog.at_level(logging.INFO, logger="maskrcnn_ext"):
        assert run_cli(str(tmp_path / "ours"), str(d2), "--baseline", "c_roipool@detectron2",
                       "--metrics", "bbox/AP", "--output", str(tmp_path / "out")) == 0
    assert "compared as c_roipool@detectron2" in caplog.text and "pools" not in caplog.text
    out = capsys.readouterr().out
    assert "| c_roipool | 2 | 29.5 ± 0.5 | -1.0~ |" in out
    assert "| c_roipool@detectron2 (baseline) | 2 | 30.5 ± 0.5 |  |" in out
    assert "| c_roialign | 2 | 33.3 ± 0.3 | +2.8 |" in out
