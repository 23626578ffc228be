"""Batch prediction: run a detector over image files, draw the detections, write COCO results."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from torch import nn
from tqdm import tqdm

from ..data.image_io import ImageReadError, read_image
from ..engine.predictor import Predictor
from ..evaluation.coco_results import instances_to_coco_json
from ..utils.visualizer import draw_instances, save_image

__all__ = ["predict_images"]

logger = logging.getLogger(__name__)


def predict_images(model: nn.Module, cfg: Any, classes: dict[str, Any], images: list[Path], out_dir: Path, *,
                   score_thresh: float = 0.5, device: str = "cpu") -> list[Path]:
    """Predict on each image file; write ``<stem>.png`` pictures and ``predictions.json`` to ``out_dir``.

    An image that cannot be read is logged with its path and skipped. ``predictions.json`` holds
    ``{"images": [{"id", "file_name", "height", "width"}], "annotations": [COCO results]}``.

    Args:
        classes: ``class_names`` (contiguous id -> name) and ``contiguous_id_to_dataset_id``
            (str(contiguous id) -> category id written to the results; ``id + 1`` when empty).

    Returns:
        The images that failed.
    """
    predictor = Predictor(model, cfg, device=device)
    names = classes.get("class_names") or []
    id_map = {int(k): int(v) for k, v in (classes.get("contiguous_id_to_dataset_id") or {}).items()}
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
                   draw_instances(image, instances, class_names=names, score_thresh=score_thresh))
        labels = {int(c) for c in instances["classes"].tolist()}
        results += instances_to_coco_json(instances, image_id, {**{c: c + 1 for c in labels}, **id_map})
        entries.append({"id": image_id, "file_name": str(path), "height": image.shape[0], "width": image.shape[1]})
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "predictions.json", "w", encoding="utf-8") as f:
        json.dump({"images": entries, "annotations": results}, f)
    logger.info("Predicted %d of %d images into %s%s", len(entries), len(images), out_dir,
                f"; {len(failed)} could not be read: {', '.join(map(str, failed))}" if failed else "")
    return failed


def _unique_stems(images: list[Path]) -> dict[Path, str]:
    """Output names: the file stem, with a counter where two inputs share one."""
    stems: dict[Path, str] = {}
    seen: dict[str, int] = {}
    for path in images:
        count = seen.get(path.stem, 0)
        seen[path.stem] = count + 1
        stems[path] = path.stem if count == 0 else f"{path.stem}_{count}"
    return stems
