"""Side-by-side pictures (ground truth | predictions) of a model's output on a few dataset images."""
from __future__ import annotations

import logging
import os
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from ..data.catalog import DatasetCatalog, MetadataCatalog
from ..data.image_io import read_image
from ..utils.visualizer import (
    PREDICTED_KEYPOINT_THRESH,
    draw_ground_truth,
    draw_instances,
    keypoint_connection_indices,
    save_image,
)

__all__ = ["save_prediction_visualizations", "side_by_side"]

logger = logging.getLogger(__name__)


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 8) -> np.ndarray:
    """Two uint8 (H, W, 3) images of equal height joined with a white gap."""
    spacer = np.full((left.shape[0], gap, 3), 255, dtype=np.uint8)
    return np.concatenate([left, spacer, right], axis=1)


def save_prediction_visualizations(model: nn.Module, data_loader: Iterable[list[dict[str, Any]]], out_dir: str,
                                   *, dataset_name: str, max_images: int = 4,
                                   score_thresh: float = 0.5) -> list[str]:
    """Run ``model`` on the first ``max_images`` images of ``data_loader`` and save PNGs.

    Each PNG shows the dataset's ground truth on the left and the predictions scoring at least
    ``score_thresh`` on the right, on the original image.

    Args:
        model: a detector following the model-output contract.
        data_loader: a test loader over ``dataset_name`` (batches of model inputs with ``image_id``).
        out_dir: folder for ``<image stem>.png``.
        dataset_name: registered dataset, for class names and ground truth.

    Returns:
        The paths written.
    """
    meta = MetadataCatalog.get(dataset_name)
    class_names = meta.thing_classes
    connections = keypoint_connection_indices(meta.get("keypoint_names"), meta.get("keypoint_connection_rules"))
    records = {r["image_id"]: r for r in DatasetCatalog.get(dataset_name)}
    written: list[str] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in data_loader:
                for inputs, outputs in zip(batch, model(batch)):
                    record = records[inputs["image_id"]]
                    image = read_image(record["file_name"])
                    picture = side_by_side(
                        draw_ground_truth(image, record["annotations"], class_names,
                                          keypoint_connections=connections),
                        draw_instances(image, outputs["instances"], class_names=class_names,
                                       score_thresh=score_thresh, keypoint_connections=connections,
                                       keypoint_threshold=PREDICTED_KEYPOINT_THRESH))
                    stem = os.path.splitext(os.path.basename(record["file_name"]))[0]
                    written.append(os.path.join(out_dir, f"{stem}.png"))
                    save_image(written[-1], picture)
                if len(written) >= max_images:
                    break
    finally:
        model.train(was_training)
    logger.info("Wrote %d prediction pictures (ground truth | predictions) to %s", len(written), out_dir)
    return written
