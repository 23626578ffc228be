"""Helpers: write small COCO jsons (category ids 3 -> 0, 7 -> 1), ground truth as predictions."""
from __future__ import annotations

import json

import numpy as np
import torch
from pycocotools.coco import COCO

CATEGORIES = [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}]
DATASET_TO_CONTIGUOUS = {3: 0, 7: 1}


def square(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    """A rectangle polygon, flat [x, y, ...]."""
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE: run lengths over the column-major flattening, zeros first."""
    flat = mask.astype(np.uint8).flatten(order="F")
    counts, current, run = [], 0, 0
    for value in flat:
        if value == current:
            run += 1
        else:
            counts.append(run)
            current, run = value, 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": counts}


def make_ann(ann_id, image_id, category_id, x0, y0, x1, y1, iscrowd=0, segmentation=None):
    return {
        "id": ann_id, "image_id": image_id, "category_id": category_id,
        "bbox": [x0, y0, x1 - x0, y1 - y0], "area": float((x1 - x0) * (y1 - y0)),
        "segmentation": segmentation if segmentation is not None else [square(x0, y0, x1, y1)],
        "iscrowd": iscrowd,
    }


def write_coco(path, images, annotations, categories=CATEGORIES) -> str:
    with open(path, "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, f)
    return str(path)


def gt_as_predictions(json_file: str, image_ids=None, score: float = 1.0):
    """Model (inputs, outputs) that reproduce the non-crowd ground truth exactly."""
    coco = COCO(json_file)
    inputs, outputs = [], []
    for image_id in image_ids if image_ids is not None else sorted(coco.getImgIds()):
        info = coco.loadImgs(image_id)[0]
        anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id)) if not a["iscrowd"]]
        boxes = [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)]
        masks = [coco.annToMask(a).astype(bool) for a in anns]
        inputs.append({"image_id": image_id, "height": info["height"], "width": info["width"]})
        outputs.append({"instances": {
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "scores": torch.full((len(anns),), score),
            "classes": torch.tensor([DATASET_TO_CONTIGUOUS[a["category_id"]] for a in anns], dtype=torch.int64),
            "masks": torch.from_numpy(np.stack(masks)) if masks
            else torch.zeros((0, info["height"], info["width"]), dtype=torch.bool),
        }})
    return inputs, outputs
