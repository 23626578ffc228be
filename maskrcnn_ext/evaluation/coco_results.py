"""Conversions between the model-output contract and pycocotools.

Model outputs -> COCO result dicts (json category ids, XYWH boxes, RLE masks), and pycocotools'
accumulated precision array -> AP metrics as fractions in [0, 1].
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pycocotools.mask as mask_util
import torch
from pycocotools.cocoeval import COCOeval

__all__ = ["instances_to_coco_json", "per_category_ap", "summary_metrics", "task_results_for"]

SIZE_METRIC_NAMES = {"small": "APs", "medium": "APm", "large": "APl"}


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def instances_to_coco_json(
    instances: dict[str, Any], image_id: int, contiguous_to_dataset_id: dict[int, int]
) -> list[dict[str, Any]]:
    """Convert one image's predicted instances (model-output contract) to COCO result dicts.

    Args:
        instances: ``boxes`` (D, 4) XYXY, ``scores`` (D,), ``classes`` (D,) contiguous ids, and
            optionally ``masks`` (D, H, W) bool and ``mask_scores`` (D,); tensors or arrays.
        image_id: the json's image id.
        contiguous_to_dataset_id: contiguous class id -> the json's category id.

    Returns:
        One dict per instance with ``image_id, category_id, bbox`` (XYWH) and ``score`` (the box
        score); when masks are present also ``segmentation`` (RLE, str counts) and ``mask_score``
        (``mask_scores``, or ``scores`` when absent); when ``keypoints`` (D, K, 3) ``(x, y, score)``
        are present also ``keypoints``, COCO's flat list, with the continuous coordinates turned
        into COCO's pixel indices (minus 0.5).

    Raises:
        ValueError: a predicted class is not one of the dataset's contiguous ids.
    """
    boxes = _to_numpy(instances["boxes"]).astype(np.float64).reshape(-1, 4)
    scores = _to_numpy(instances["scores"]).astype(np.float64).reshape(-1)
    classes = _to_numpy(instances["classes"]).astype(np.int64).reshape(-1)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    results = []
    for box, score, cls in zip(xywh.tolist(), scores.tolist(), classes.tolist()):
        if cls not in contiguous_to_dataset_id:
            raise ValueError(
                f"Predicted class {cls} for image {image_id} is not a contiguous id of the dataset "
                f"(known: 0..{len(contiguous_to_dataset_id) - 1})."
            )
        category_id = contiguous_to_dataset_id[cls]
        results.append({"image_id": image_id, "category_id": category_id, "bbox": box, "score": score})
    if instances.get("keypoints") is not None:
        keypoints = _to_numpy(instances["keypoints"]).astype(np.float64)  # (D, K, 3), a copy
        keypoints[..., :2] -= 0.5
        for result, points in zip(results, keypoints):
            result["keypoints"] = points.reshape(-1).tolist()
    if instances.get("masks") is None:
        return results
    masks = _to_numpy(instances["masks"]).astype(np.uint8)
    mask_scores = instances.get("mask_scores")
    mask_scores = _to_numpy(instances["scores"] if mask_scores is None else mask_scores)
    for result, mask, mask_score in zip(results, masks, mask_scores.astype(np.float64).tolist()):
        rle = mask_util.encode(np.asfortranarray(mask[:, :, None]))[0]
        rle["counts"] = rle["counts"].decode("utf-8")  # bytes are not JSON-serializable
        result["segmentation"] = rle
        result["mask_score"] = mask_score
    return results


def task_results_for(results: list[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    """Fresh per-task copies of ``results`` (``COCO.loadRes`` mutates its input).

    Args:
        results: dicts from :func:`instances_to_coco_json`.
        task: ``"bbox"`` (ranked by ``score``), ``"segm"`` (ranked by ``mask_score``; instances
            without a mask are left out) or ``"keypoints"`` (ranked by ``score``; instances without
            keypoints are left out).

    Returns:
        COCO result dicts with a single ``score`` key, as pycocotools expects.
    """
    if task == "bbox":
        return [{k: r[k] for k in ("image_id", "category_id", "bbox", "score")} for r in results]
    if task == "keypoints":
        # Without a "bbox" key loadRes derives each result's box and area from its keypoints.
        return [{k: r[k] for k in ("image_id", "category_id", "keypoints", "score")} for r in results
                if "keypoints" in r]
    # Without a "bbox" key loadRes computes areas from the masks, as the segm metric requires.
    return [
        {"image_id": r["image_id"], "category_id": r["category_id"],
         "segmentation": r["segmentation"], "score": r["mask_score"]}
        for r in results
        if "segmentation" in r
    ]


def _mean_precision(precision: np.ndarray) -> float:
    # -1 marks (class, area) cells without ground truth; an all -1 slice has no defined AP.
    valid = precision[precision > -1]
    return float(np.mean(valid)) if valid.size else float("nan")


def _max_dets_index(coco_eval: COCOeval, max_dets: int) -> int:
    # COCOeval.evaluate() sorts params.maxDets, so the value is looked up rather than assumed last.
    max_dets_list = list(coco_eval.params.maxDets)
    if max_dets not in max_dets_list:
        raise ValueError(f"maxDets {max_dets} is not among the evaluated maxDets {max_dets_list}")
    return max_dets_list.index(max_dets)


def summary_metrics(coco_eval: COCOeval, max_dets: int) -> dict[str, float]:
    """AP, AP50, AP75 and one AP per size bucket from an accumulated ``COCOeval``.

    Computed from ``eval["precision"]`` (iou thresholds, recall thresholds, classes, area ranges,
    maxDets) because ``COCOeval.summarize`` assumes maxDets=100.

    Args:
        coco_eval: after ``evaluate()`` and ``accumulate()``.
        max_dets: detections per image to report at; one of ``params.maxDets``.

    Returns:
        ``{"AP", "AP50", "AP75", "APs", "APm", "APl"}`` as fractions; buckets labelled other than
        small/medium/large are named ``AP-area-<label>``; NaN where there is no ground truth.
    """
    precision = coco_eval.eval["precision"][..., _max_dets_index(coco_eval, max_dets)]
    iou_thrs = coco_eval.params.iouThrs
    metrics = {
        "AP": _mean_precision(precision[:, :, :, 0]),
        "AP50": _mean_precision(precision[np.isclose(iou_thrs, 0.5)][:, :, :, 0]),
        "AP75": _mean_precision(precision[np.isclose(iou_thrs, 0.75)][:, :, :, 0]),
    }
    for a, label in enumerate(coco_eval.params.areaRngLbl):
        if label != "all":
            metrics[SIZE_METRIC_NAMES.get(label, f"AP-area-{label}")] = _mean_precision(precision[:, :, :, a])
    return metrics


def per_category_ap(coco_eval: COCOeval, category_names: dict[int, str], max_dets: int) -> dict[str, float]:
    """AP (IoU .50:.95, all areas) per category of an accumulated ``COCOeval``.

    Args:
        coco_eval: after ``evaluate()`` and ``accumulate()``.
        category_names: json category id -> class name.
        max_dets: detections per image to report at; one of ``params.maxDets``.

    Returns:
        ``{"AP-<name>": fraction}``, NaN for a category without ground truth.
    """
    precision = coco_eval.eval["precision"][:, :, :, 0, _max_dets_index(coco_eval, max_dets)]
    return {
        f"AP-{category_names.get(cat_id, str(cat_id))}": _mean_precision(precision[:, :, k])
        for k, cat_id in enumerate(coco_eval.params.catIds)
    }
