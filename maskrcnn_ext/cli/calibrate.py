"""``maskrcnn-ext calibrate``: how well predicted MaskIoU (and, as the baseline, the box score)
predicts the actual mask IoU of a run's detections.

Reads the detections the evaluator saved (``RUN/inference/coco_instances_results.json``) and the
ground truth of the run's test dataset (from ``RUN/config.yaml``, or ``--dataset`` / ``--gt-json``),
and writes ``calibration.json`` and the reliability plot ``calibration.png`` into the run directory.
RUN is a training run (its final evaluation) or the directory of an evaluation of saved weights
(``train_net.py --eval-only`` writes ``<run>/eval/<weights>/``, laid out the same way).
Exit status: 0 done, 1 missing or unreadable input.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

RESULTS = Path("inference") / "coco_instances_results.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN",
                        help="a run directory with an evaluation, or an --eval-only directory (<run>/eval/<weights>)")
    parser.add_argument("--results", type=Path, metavar="JSON", help=f"detections (default: RUN/{RESULTS})")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--dataset", metavar="NAME", help="registered dataset of the ground truth "
                                                          "(default: the run config's dataloader.test.dataset)")
    source.add_argument("--gt-json", type=Path, metavar="JSON", help="COCO ground-truth json instead of a dataset")
    parser.add_argument("--bins", type=int, default=10, help="reliability bins over [0, 1] (default: 10)")
    parser.add_argument("--output", type=Path, metavar="DIR", help="where to write (default: RUN)")


class CalibrateError(Exception):
    """Input the report cannot be made from; the message names the file and the problem."""


def _test_dataset(run_dir: Path) -> str:
    from omegaconf import OmegaConf

    path = run_dir / "config.yaml"
    if not path.is_file():
        raise CalibrateError(f"{path} does not exist; give --dataset or --gt-json")
    try:
        name = OmegaConf.select(OmegaConf.load(path), "dataloader.test.dataset", throw_on_missing=True)
    except Exception as e:  # omegaconf raises several types for a malformed or incomplete file
        raise CalibrateError(f"{path}: cannot read dataloader.test.dataset ({e}); give --dataset or --gt-json") from e
    if not isinstance(name, str):
        raise CalibrateError(f"{path} names no dataloader.test.dataset; give --dataset or --gt-json")
    return name


def _ground_truth_json(args: argparse.Namespace) -> str:
    if args.gt_json is not None:
        if not args.gt_json.is_file():
            raise CalibrateError(f"{args.gt_json} does not exist")
        return str(args.gt_json)
    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    from maskrcnn_ext.data import DatasetCatalog, MetadataCatalog

    name = args.dataset or _test_dataset(args.run_dir)
    if name not in DatasetCatalog:
        raise CalibrateError(f"dataset {name!r} is not registered; give --gt-json with its COCO json")
    DatasetCatalog.get(name)  # lazily generated datasets write their json on first use
    json_file = MetadataCatalog.get(name).get("json_file")
    if json_file is None:
        raise CalibrateError(f"dataset {name!r} has no COCO json; give --gt-json")
    return json_file


def _load_results(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise CalibrateError(f"{path} does not exist: evaluate the run first (its evaluator writes this file; "
                             "after train_net.py --eval-only, pass its <run>/eval/<weights> directory)")
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CalibrateError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise CalibrateError(f"{path}: expected a list of COCO result dicts")
    if not any("segmentation" in r for r in results):
        raise CalibrateError(f"{path} holds no masks: calibration needs a model with a mask branch")
    return results


def _summary(report: dict[str, Any]) -> str:
    ap = report["segm_ap"]
    def row(name: str, stats: dict[str, Any]) -> str:
        cells = [f"{stats[k]:.3f}" if not math.isnan(stats[k]) else "n/a" for k in ("pearson", "spearman", "mae")]
        return f"| {name} | {' | '.join(cells)} |"

    mean_iou = report["mean_actual_iou"]
    return "\n".join([f"{report['matched_detections']} detections matched to ground truth "
                      f"(mean actual mask IoU {float('nan') if mean_iou is None else mean_iou:.3f})",
                      "| predictor | Pearson | Spearman | MAE |", "|---|---:|---:|---:|",
                      row("predicted MaskIoU", report["maskiou"]), row("classification score", report["score"]),
                      f"mask AP of these detections ranked by mask score {100 * ap['ranked_by_mask_score']:.1f}, "
                      f"by box score {100 * ap['ranked_by_box_score']:.1f}", ""])


def _without_nan(value: Any) -> Any:
    """NaN (an undefined statistic) as JSON null, which every JSON reader accepts."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _without_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nan(v) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    from pycocotools.coco import COCO

    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    from maskrcnn_ext.evaluation.calibration import calibration_report, plot_reliability, segm_ap_by_ranking
    from maskrcnn_ext.evaluation.coco_evaluation import _pycocotools_to_debug_log

    try:
        results = _load_results(args.results or args.run_dir / RESULTS)
        gt_json = _ground_truth_json(args)
    except CalibrateError as e:
        sys.stderr.write(f"calibrate: {e}\n")
        return 1
    try:
        with _pycocotools_to_debug_log():
            coco_gt = COCO(gt_json)
        report = calibration_report(results, coco_gt, bins=args.bins)
        report["segm_ap"] = segm_ap_by_ranking(results, coco_gt)
    except (ValueError, KeyError, AssertionError, OSError) as e:  # pycocotools asserts on mismatched files
        sys.stderr.write(f"calibrate: {gt_json} and the detections do not fit together: {type(e).__name__}: {e}\n")
        return 1
    out_dir = args.output or args.run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "calibration.json").write_text(json.dumps(_without_nan({"ground_truth": gt_json, **report}), indent=2))
    plot_reliability(report, str(out_dir / "calibration.png"), title=f"{args.run_dir.name}: mask quality calibration")
    logger.info("Wrote calibration.json and calibration.png to %s", out_dir)
    sys.stdout.write(_summary(report))
    return 0
