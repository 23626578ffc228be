"""Small inputs for the detectron2 bridge tests (import only after ``pytest.importorskip("detectron2")``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from detectron2.structures import BitMasks, Boxes, BoxMode, Instances, PolygonMasks
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "projects" / "Detectron2Bridge" / "configs"


def rectangle(x0: int, y0: int, x1: int, y1: int) -> list[float]:
    """A polygon covering pixels ``x0 <= x < x1``, ``y0 <= y < y1`` when rasterised."""
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def box_masks(boxes: list[list[int]], size: tuple[int, int], mask_format: str) -> BitMasks | PolygonMasks:
    """Rectangular instance masks covering exactly the integer ``boxes`` (XYXY) of an image of ``size``."""
    if mask_format == "polygon":
        return PolygonMasks([[np.array(rectangle(*b), dtype=np.float64)] for b in boxes])
    masks = torch.zeros((len(boxes), *size), dtype=torch.bool)
    for mask, (x0, y0, x1, y1) in zip(masks, boxes):
        mask[y0:y1, x0:x1] = True
    return BitMasks(masks)


def ground_truth(boxes: list[list[int]], classes: list[int], size: tuple[int, int],
                 mask_format: str = "polygon") -> Instances:
    """Training targets: ``gt_boxes``, ``gt_classes`` and rectangular ``gt_masks``."""
    return Instances(size, gt_boxes=Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)),
                     gt_classes=torch.tensor(classes, dtype=torch.int64), gt_masks=box_masks(boxes, size, mask_format))


def random_image(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """``(3, H, W)`` uint8."""
    return torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def write_record(path: Path, pixels: np.ndarray, annotations: list[dict], image_id: int = 1) -> dict:
    """Save ``pixels`` (RGB) as a PNG and return its detectron2 dataset dict."""
    Image.fromarray(pixels).save(path)
    return {"file_name": str(path), "image_id": image_id, "height": pixels.shape[0], "width": pixels.shape[1],
            "annotations": annotations}


def annotation(box: list[int], category_id: int, iscrowd: int = 0) -> dict:
    """A rectangular instance annotation in detectron2's dataset format."""
    return {"bbox": [float(v) for v in box], "bbox_mode": BoxMode.XYXY_ABS, "category_id": category_id,
            "iscrowd": iscrowd, "segmentation": [rectangle(*box)]}
