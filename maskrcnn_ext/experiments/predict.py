"""Batch prediction: run a detector over image files, draw the detections, write COCO results."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from torch import nn
from tqdm import tqdm

from ..data.classes import ClassInfo
from ..data.image_io import ImageReadError, read_image
from ..engine.predictor import Predictor
from ..evaluation.coco_results import instances_to_coco_json
from ..utils.visualizer import PREDICTED_KEYPOINT_THRESH, draw_instances, save_image

__all__ = ["predict_images"]

logger = logging.getLogger(__name__)


def predict_images(model: nn.Module, cfg: Any, classes: ClassInfo | None, images: list[Path], out_dir: Path, *,
                   score_thresh: float = 0.5, device: str = "cpu") -> list[Path]:
    """Predict on each image file; write ``<stem>.png`` pictures and ``predictions.json`` to ``out_dir``.

    An image that cannot be read is logged with its path and skipped. ``predictions.json`` holds
    ``{"images": [{"id", "file_name", "height", "width"}], "annotations": [COCO results],
    "categories": [{"id", "name"}], "category_ids": "dataset" | "contiguous", "inference_dtype"}``
    (the precision the model ran in). Without a recorded category map the results carry the model's
    class indices, and say so, rather than guessed ids.

    Args:
        classes: what the model's class indices mean (names label the pictures; the dataset's
            category ids go into the results); None when unknown.
        score_thresh: detections below it are not drawn (all are written to the results).

    Returns:
        The images that failed.
    """
    classes = classes or ClassInfo()
    if not classes.known:
        logger.warning("No category map is recorded for this model: predictions.json carries its class indices "
                       "0..K-1 as category_id (\"category_ids\": \"contiguous\"), not a dataset's ids")
    predictor = Predictor(model, cfg, device=device)
    names = list(classes.names or ())
    failed: list[Path] = []
    entries: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    stems = _unique_stems(images)
    for image_id, path in enumerate(tqdm(images, desc="predict", unit="img", disable=len(images) < 2), 1):
        try:
            image = read_image(path)
        except ImageReadError as e:
            logger.error("%s", e)
            failed.append(path)
            continue
        instances = predictor(image)
        save_image(str(out_dir / f"{stems[path]}.png"),
                   draw_instances(image, instances, class_names=names, score_thresh=score_thresh,
                                  keypoint_threshold=PREDICTED_KEYPOINT_THRESH))
        labels = {int(c) for c in instances["classes"].tolist()}
        results += instances_to_coco_json(instances, image_id, {c: classes.category_id(c) for c in labels})
        entries.append({"id": image_id, "file_name": str(path), "height": image.shape[0], "width": image.shape[1]})
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "predictions.json", "w", encoding="utf-8") as f:
        json.dump({"images": entries, "annotations": results, "categories": _categories(classes),
                   "category_ids": "dataset" if classes.known else "contiguous",
                   "inference_dtype": getattr(model, "inference_dtype", "float32")}, f)
    _log_summary(entries, results, images, failed, out_dir, score_thresh)
    return failed


def _categories(classes: ClassInfo) -> list[dict[str, Any]]:
    return [{"id": classes.category_id(i), "name": name} for i, name in enumerate(classes.names or ())]


def _log_summary(entries: list[dict[str, Any]], results: list[dict[str, Any]], images: list[Path],
                 failed: list[Path], out_dir: Path, score_thresh: float) -> None:
    shown = sum(1 for r in results if r["score"] >= score_thresh)
    logger.info("Predicted %d of %d images into %s: %d detections, %d of them at score >= %.2f (drawn)%s",
                len(entries), len(images), out_dir, len(results), shown, score_thresh,
                f"; {len(failed)} could not be read: {', '.join(map(str, failed))}" if failed else "")
    if entries and not shown:
        logger.warning("No detection reached score %.2f: the pictures show the images unchanged (lower "
                       "--score-thresh to see weaker detections)", score_thresh)


def _unique_stems(images: list[Path]) -> dict[Path, str]:
    """Output names: the file stem, with a counter where two inputs share one."""
    stems: dict[Path, str] = {}
    seen: dict[str, int] = {}
    for path in images:
        count = seen.get(path.stem, 0)
        seen[path.stem] = count + 1
        stems[path] = path.stem if count == 0 else f"{path.stem}_{count}"
    return stems
