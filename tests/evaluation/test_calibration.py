"""Mask-quality calibration: matching, statistics, the report and the ``calibrate`` subcommand."""
from __future__ import annotations

import json

import numpy as np
import pycocotools.mask as mask_util
import pytest
from coco_fixtures import make_ann, write_coco
from pycocotools.coco import COCO

from maskrcnn_ext.cli.main import main
from maskrcnn_ext.evaluation.calibration import (
    _ranks,
    calibration_report,
    calibration_stats,
    match_to_ground_truth,
    reliability_bins,
)


def _rle(mask: np.ndarray) -> dict:
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode()
    return rle


def _result(category, box_xyxy, mask, score, mask_score, image_id=1):
    x0, y0, x1, y1 = box_xyxy
    return {"image_id": image_id, "category_id": category, "bbox": [x0, y0, x1 - x0, y1 - y0], "score": score,
            "segmentation": _rle(mask), "mask_score": mask_score}


@pytest.fixture
def gt(tmp_path):
    """One 40x40 image: a cat covering [0, 20) x [0, 20) and a dog covering [20, 40) x [20, 30)."""
    path = write_coco(tmp_path / "gt.json", [{"id": 1, "file_name": "a.png", "height": 40, "width": 40}],
                      [make_ann(1, 1, 3, 0, 0, 20, 20), make_ann(2, 1, 7, 20, 20, 40, 30)])
    return path


def _cat_mask(rows=slice(0, 20)):
    mask = np.zeros((40, 40), dtype=bool)
    mask[rows, 0:20] = True
    return mask


def test_match_pairs_same_class_boxes_and_measures_mask_iou(gt):
    results = [
        _result(3, (0, 0, 20, 20), _cat_mask(), 0.9, 0.9 * 0.8),             # exact mask: IoU 1
        _result(3, (0, 0, 20, 20), _cat_mask(slice(0, 10)), 0.5, 0.5 * 0.4),  # upper half: IoU 1/2
        _result(7, (0, 0, 20, 20), _cat_mask(), 0.7, 0.7),                    # a dog on the cat: no match
        _result(3, (25, 25, 39, 39), np.zeros((40, 40), bool), 0.6, 0.6),     # no overlap: no match
    ]
    matched = match_to_ground_truth(results, COCO(gt))
    np.testing.assert_allclose(matched["actual_iou"], [1.0, 0.5])
    np.testing.assert_allclose(matched["predicted_iou"], [0.8, 0.4])
    np.testing.assert_allclose(matched["score"], [0.9, 0.5])


def test_ranks_share_ties():
    np.testing.assert_allclose(_ranks(np.array([3.0, 1.0, 3.0, 2.0])), [2.5, 0.0, 2.5, 1.0])


def test_stats_hand_computed():
    stats = calibration_stats(np.array([0.0, 0.5, 1.0]), np.array([0.1, 0.35, 0.6]))
    assert stats["pearson"] == pytest.approx(1.0) and stats["spearman"] == pytest.approx(1.0)
    assert stats["mae"] == pytest.approx((0.1 + 0.15 + 0.4) / 3) and stats["n"] == 3
    flat = calibration_stats(np.ones(4), np.array([0.2, 0.4, 0.6, 0.8]))
    assert np.isnan(flat["pearson"]) and flat["mae"] == pytest.approx(0.5)
    assert np.isnan(calibration_stats(np.zeros(0), np.zeros(0))["mae"])


def test_reliability_bins_average_each_bin():
    bins = reliability_bins(np.array([0.05, 0.15, 0.12, 1.0]), np.array([0.1, 0.3, 0.5, 0.9]), bins=10)
    assert [(b["lo"], b["count"]) for b in bins] == [(0.0, 1), (0.1, 2), (0.9, 1)]
    assert bins[1]["mean_actual"] == pytest.approx(0.4) and bins[1]["mean_predicted"] == pytest.approx(0.135)


def test_true_iou_fed_back_as_prediction_is_perfectly_calibrated(gt):
    results = [_result(3, (0, 0, 20, 20), _cat_mask(slice(0, rows)), 0.9, 0.9 * rows / 20) for rows in (5, 10, 15, 20)]
    report = calibration_report(results, COCO(gt))
    assert report["matched_detections"] == 4
    assert report["maskiou"]["pearson"] == pytest.approx(1.0) and report["maskiou"]["mae"] == pytest.approx(0.0)
    assert np.isnan(report["score"]["pearson"])  # every box score is 0.9: it says nothing about quality


def test_calibrate_command_writes_json_and_plot(gt, tmp_path, capsys):
    run_dir = tmp_path / "run"
    (run_dir / "inference").mkdir(parents=True)
    results = [_result(3, (0, 0, 20, 20), _cat_mask(slice(0, r)), s, s * r / 20) for r, s in ((5, 0.9), (20, 0.6))]
    (run_dir / "inference" / "coco_instances_results.json").write_text(json.dumps(results))
    assert main(["calibrate", str(run_dir), "--gt-json", gt]) == 0
    written = json.loads((run_dir / "calibration.json").read_text())
    assert written["matched_detections"] == 2 and written["maskiou"]["pearson"] == pytest.approx(1.0)
    assert written["score"]["pearson"] == pytest.approx(-1.0)  # the confident box had the worse mask
    assert (run_dir / "calibration.png").stat().st_size > 0
    # Cat AP: ranked by mask score the IoU-1 mask comes first (1.0); by box score the IoU-1/4 one,
    # a false positive at every threshold, does (precision 1/2). The undetected dog has AP 0.
    assert written["segm_ap"]["ranked_by_mask_score"] == pytest.approx((1.0 + 0.0) / 2)
    assert written["segm_ap"]["ranked_by_box_score"] == pytest.approx((0.5 + 0.0) / 2)
    out = capsys.readouterr().out
    assert "predicted MaskIoU | 1.000" in out and "ranked by mask score 50.0, by box score 25.0" in out


def test_calibrate_command_names_the_missing_file(tmp_path, capsys):
    assert main(["calibrate", str(tmp_path), "--gt-json", str(tmp_path / "gt.json")]) == 1
    assert "coco_instances_results.json does not exist" in capsys.readouterr().err
