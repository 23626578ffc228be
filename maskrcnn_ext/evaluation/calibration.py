"""How well a model's scores predict the quality of its masks (Mask Scoring R-CNN's calibration).

Every predicted mask matched to a ground-truth instance (same class, box IoU >= 0.5) gets its
actual mask IoU with that instance. Against it stand two predictors: the predicted MaskIoU
(``mask_score / score``, since a mask-scoring model outputs ``mask_score = score x predicted IoU``)
and, as the baseline, the classification score. The report gives Pearson and Spearman correlation,
the mean absolute error and a binned reliability curve for each.

Inputs are the COCO result dicts the evaluator writes (``coco_instances_results.json``) and the
ground truth as a ``pycocotools.coco.COCO``.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Sequence

import numpy as np
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

from .coco_evaluation import _pycocotools_to_debug_log

__all__ = ["calibration_report", "calibration_stats", "match_to_ground_truth", "plot_reliability",
           "reliability_bins", "segm_ap_by_ranking"]

logger = logging.getLogger(__name__)


def match_to_ground_truth(results: Sequence[dict[str, Any]], coco_gt: COCO, *,
                          box_iou_threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Pair each predicted mask with the same-class ground truth its box overlaps most.

    Args:
        results: COCO result dicts with ``image_id, category_id, bbox`` (XYWH), ``score``,
            ``segmentation`` (RLE) and ``mask_score``; results without a mask are skipped.
        coco_gt: the ground truth; crowd instances are ignored.
        box_iou_threshold: the least box IoU for a match (the mask head's positives use 0.5).

    Returns:
        Arrays over the matched detections: ``score``, ``predicted_iou`` (``mask_score / score``)
        and ``actual_iou`` (mask IoU with the matched instance).
    """
    by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        if "segmentation" in r and r["score"] > 0:
            by_image[r["image_id"]].append(r)
    score, predicted, actual = [], [], []
    for image_id, detections in by_image.items():
        anns = [a for a in coco_gt.loadAnns(coco_gt.getAnnIds(imgIds=[image_id])) if not a.get("iscrowd", 0)]
        for category in {d["category_id"] for d in detections}:
            gts = [a for a in anns if a["category_id"] == category]
            dets = [d for d in detections if d["category_id"] == category]
            if not gts:
                continue
            box_iou = mask_util.iou([d["bbox"] for d in dets], [g["bbox"] for g in gts], [0] * len(gts))
            mask_iou = mask_util.iou([d["segmentation"] for d in dets], [coco_gt.annToRLE(g) for g in gts],
                                     [0] * len(gts))
            for i, d in enumerate(dets):
                best = int(np.argmax(box_iou[i]))
                if box_iou[i, best] >= box_iou_threshold:
                    score.append(d["score"])
                    predicted.append(d["mask_score"] / d["score"])
                    actual.append(mask_iou[i, best])
    return {"score": np.asarray(score, dtype=np.float64), "predicted_iou": np.asarray(predicted, dtype=np.float64),
            "actual_iou": np.asarray(actual, dtype=np.float64)}


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties sharing their mean rank (as Spearman's coefficient needs)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")  # undefined for a constant predictor (e.g. a model without MaskIoU head)
    return float(np.corrcoef(x, y)[0, 1])


def calibration_stats(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """``pearson``, ``spearman``, ``mae`` (mean |predicted - actual|) and ``n``; NaN where undefined."""
    predicted, actual = np.asarray(predicted, np.float64), np.asarray(actual, np.float64)
    if len(predicted) == 0:
        return {"pearson": float("nan"), "spearman": float("nan"), "mae": float("nan"), "n": 0}
    return {"pearson": _pearson(predicted, actual), "spearman": _pearson(_ranks(predicted), _ranks(actual)),
            "mae": float(np.mean(np.abs(predicted - actual))), "n": len(predicted)}


def reliability_bins(predicted: np.ndarray, actual: np.ndarray, *, bins: int = 10) -> list[dict[str, float]]:
    """Equal-width bins of ``predicted`` over [0, 1]: each non-empty bin's edges, mean predicted,
    mean actual and count."""
    predicted, actual = np.asarray(predicted, np.float64), np.asarray(actual, np.float64)
    index = np.clip((predicted * bins).astype(int), 0, bins - 1)
    out = []
    for b in range(bins):
        inside = index == b
        if inside.any():
            out.append({"lo": b / bins, "hi": (b + 1) / bins, "mean_predicted": float(predicted[inside].mean()),
                        "mean_actual": float(actual[inside].mean()), "count": int(inside.sum())})
    return out


def calibration_report(results: Sequence[dict[str, Any]], coco_gt: COCO, *, bins: int = 10) -> dict[str, Any]:
    """Statistics and reliability bins of the predicted MaskIoU and of the classification score
    against the actual mask IoU of matched detections (see :func:`match_to_ground_truth`)."""
    matched = match_to_ground_truth(results, coco_gt)
    report: dict[str, Any] = {"matched_detections": len(matched["actual_iou"]),
                              "mean_actual_iou": float(matched["actual_iou"].mean()) if len(matched["actual_iou"]) else None}
    for name, key in (("maskiou", "predicted_iou"), ("score", "score")):
        report[name] = {**calibration_stats(matched[key], matched["actual_iou"]),
                        "bins": reliability_bins(matched[key], matched["actual_iou"], bins=bins)}
    if len(matched["predicted_iou"]) and np.allclose(matched["predicted_iou"], 1.0):
        logger.warning("Every mask score equals its box score: the model has no MaskIoU head, so only the "
                       "classification score's calibration is meaningful.")
    return report


def segm_ap_by_ranking(results: Sequence[dict[str, Any]], coco_gt: COCO, *, img_ids: Sequence[int] | None = None,
                       max_dets: int = 100) -> dict[str, float]:
    """Mask AP of the same detections ranked two ways: by ``mask_score`` and by the box ``score``.

    The difference is the ranking's own effect, free of any change in the masks themselves.

    Args:
        results: COCO result dicts with ``segmentation``, ``score`` and ``mask_score``.
        coco_gt: the ground truth.
        img_ids: images evaluated (default: every image of ``coco_gt``, as when the run evaluated
            the whole dataset; images without detections then count as misses).
        max_dets: detections per image kept (the evaluator's ``max_dets_per_image``).

    Returns:
        ``{"ranked_by_mask_score": AP, "ranked_by_box_score": AP}`` as fractions; NaN without masks.
    """
    from pycocotools.cocoeval import COCOeval

    masks = [r for r in results if "segmentation" in r]
    if not masks:  # COCO.loadRes refuses an empty list
        return {"ranked_by_mask_score": float("nan"), "ranked_by_box_score": float("nan")}
    img_ids = sorted(coco_gt.getImgIds() if img_ids is None else img_ids)
    out = {}
    for name, key in (("ranked_by_mask_score", "mask_score"), ("ranked_by_box_score", "score")):
        ranked = [{k: r[k] for k in ("image_id", "category_id", "segmentation")} | {"score": r[key]} for r in masks]
        with _pycocotools_to_debug_log():
            evaluation = COCOeval(coco_gt, coco_gt.loadRes(ranked), "segm")
            evaluation.params.imgIds = img_ids
            evaluation.params.maxDets = [1, 10, max_dets]
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
        out[name] = float(evaluation.stats[0])
    return out


def plot_reliability(report: dict[str, Any], path: str, *, title: str = "") -> None:
    """Reliability diagram: mean actual IoU per bin of each predictor, the diagonal for reference."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5))  # no pyplot: leaves the process-wide backend and open figures alone
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", label="perfect calibration")
    for name, label, color in (("maskiou", "predicted MaskIoU", "tab:blue"), ("score", "classification score", "tab:orange")):
        stats = report[name]
        if not stats["bins"]:
            continue
        x = [b["mean_predicted"] for b in stats["bins"]]
        y = [b["mean_actual"] for b in stats["bins"]]
        sizes = [20 + 180 * b["count"] / max(1, stats["n"]) for b in stats["bins"]]
        ax.plot(x, y, color=color, marker="o", markersize=0, linewidth=1.5,
                label=f"{label} (Pearson {stats['pearson']:.2f}, MAE {stats['mae']:.2f})")
        ax.scatter(x, y, s=sizes, color=color, alpha=0.7)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted (bin mean; dot area = detections)",
           ylabel="actual mask IoU (bin mean)",
           title=title or f"Mask quality calibration, {report['matched_detections']} matched detections")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
