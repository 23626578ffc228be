"""Run a trained detector on image arrays, with its config's test-time preprocessing."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torchvision import tv_tensors

__all__ = ["Predictor", "first_test_input", "predict_images"]

logger = logging.getLogger(__name__)


class Predictor:
    """Single-image inference: ``predictor(image) -> instances`` at the image's own size.

    Args:
        model: a detector following the model contracts (put in eval mode here).
        cfg: its config; ``dataloader.test.mapper`` supplies the test-time augmentations (resize).
        device: where the model runs; the model is moved there.
    """

    def __init__(self, model: nn.Module, cfg: Any, *, device: str | torch.device = "cpu") -> None:
        from ..config import instantiate

        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.transform = instantiate(cfg.dataloader.test.mapper).transform

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        """uint8 RGB ``(H, W, 3)`` -> the model's uint8 ``(3, H', W')`` input."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a uint8 RGB image of shape (H, W, 3), got {image.dtype} {image.shape}")
        pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        sample = self.transform({"image": tv_tensors.Image(pixels)})
        return sample["image"].as_subclass(torch.Tensor).contiguous()

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> dict[str, torch.Tensor]:
        """The instances found in ``image`` (model-output contract), on the CPU."""
        height, width = image.shape[:2]
        inputs = [{"image": self.preprocess(image).to(self.device), "height": height, "width": width}]
        instances = self.model(inputs)[0]["instances"]
        return {key: value.cpu() if isinstance(value, torch.Tensor) else value for key, value in instances.items()}


def first_test_input(cfg: Any) -> tuple[torch.Tensor, tuple[int, int]]:
    """The model input made from the first image of the config's test set, and its original size."""
    from ..config import instantiate
    from ..data import get_dataset_records

    record = get_dataset_records(cfg.dataloader.test.dataset)[0]
    mapped = instantiate(cfg.dataloader.test.mapper)(record)
    return mapped["image"], (mapped["height"], mapped["width"])


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
    from tqdm import tqdm

    from ..data.image_io import ImageReadError, read_image
    from ..evaluation.coco_results import instances_to_coco_json
    from ..utils.visualizer import draw_instances, save_image

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
