"""Load COCO-format instance annotations into dataset records.

Bad annotations are dropped under an explicit policy: each drop is counted per reason and a
one-line summary is logged per load, so nothing disappears silently. Problems that make the whole
file untrustworthy (invalid json, unknown category ids) raise instead.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
from collections import Counter
from typing import Any

from pycocotools.coco import COCO

from maskrcnn_ext.data.catalog import MetadataCatalog

logger = logging.getLogger(__name__)

__all__ = ["load_coco_json", "DROP_REASONS"]

# Reasons under which an annotation (or one of its polygons) is dropped, in summary order.
DEGENERATE_BOX = "degenerate box"
SHORT_POLYGON = "polygon < 3 points"
ODD_POLYGON = "odd coordinate count"
NO_VALID_POLYGON = "no valid polygon left"
EMPTY_SEGMENTATION = "empty segmentation"
BAD_RLE = "malformed RLE"
UNKNOWN_IMAGE = "unknown image id"
DROP_REASONS = (
    DEGENERATE_BOX,
    SHORT_POLYGON,
    ODD_POLYGON,
    NO_VALID_POLYGON,
    EMPTY_SEGMENTATION,
    BAD_RLE,
    UNKNOWN_IMAGE,
)


def _read_json(json_file: str) -> dict[str, Any]:
    try:
        with open(json_file, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{json_file}: not valid JSON ({e})") from e
    except OSError as e:
        raise ValueError(f"{json_file}: cannot read annotation file ({e})") from e
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{json_file}: not a COCO annotation file (no 'images' list at top level)")
    return data


def _build_coco(data: dict[str, Any]) -> COCO:
    coco = COCO()
    coco.dataset = data
    # pycocotools reports progress with print(); keep library output on the logging channel only.
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _convert_bbox(bbox: Any) -> list[float] | None:
    """XYWH -> XYXY; ``None`` when the box is malformed, non-finite or has no extent."""
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return None
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        return None
    return [x, y, x + w, y + h]


def _clean_polygons(polygons: list, drops: Counter) -> list[list[float]]:
    kept = []
    for poly in polygons:
        if not isinstance(poly, (list, tuple)) or len(poly) % 2 != 0:
            drops[ODD_POLYGON] += 1
        elif len(poly) < 6:
            drops[SHORT_POLYGON] += 1
        else:
            kept.append([float(v) for v in poly])
    return kept


def _valid_rle(rle: dict, height: int, width: int) -> bool:
    size = rle.get("size")
    counts = rle.get("counts")
    if not isinstance(size, (list, tuple)) or [int(v) for v in size] != [height, width]:
        return False
    return isinstance(counts, (str, bytes, list)) and len(counts) > 0


def _convert_segmentation(
    seg: Any, height: int, width: int, drops: Counter, require_masks: bool
) -> tuple[bool, Any]:
    """Validate one annotation's segmentation.

    Returns:
        ``(keep, segmentation)``; ``keep`` is False when the annotation must be dropped (the reason
        is already counted in ``drops``).
    """
    if seg is None or (isinstance(seg, list) and len(seg) == 0):
        if require_masks:
            drops[EMPTY_SEGMENTATION] += 1
            return False, None
        return True, None
    if isinstance(seg, dict):
        if not _valid_rle(seg, height, width):
            drops[BAD_RLE] += 1
            return False, None
        counts = seg["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("ascii")  # json-friendly, and pycocotools accepts str
        return True, {"size": [height, width], "counts": counts}
    if isinstance(seg, list):
        polygons = _clean_polygons(seg, drops)
        if not polygons:
            drops[NO_VALID_POLYGON] += 1
            return False, None
        return True, polygons
    drops[BAD_RLE] += 1
    return False, None


def _category_mapping(coco: COCO) -> tuple[dict[int, int], list[str]]:
    cat_ids = sorted(coco.getCatIds())
    names = [coco.loadCats(cid)[0]["name"] for cid in cat_ids]
    return {cid: i for i, cid in enumerate(cat_ids)}, names


def _convert_annotation(
    ann: dict, image: dict, id_map: dict[int, int], json_file: str, drops: Counter, require_masks: bool
) -> dict | None:
    cat = ann.get("category_id")
    if cat not in id_map:
        raise ValueError(
            f"{json_file}: annotation id {ann.get('id')} has category_id {cat}, which is not listed "
            f"in 'categories' (known ids: {sorted(id_map)})"
        )
    box = _convert_bbox(ann.get("bbox"))
    if box is None:
        drops[DEGENERATE_BOX] += 1
        return None
    keep, seg = _convert_segmentation(
        ann.get("segmentation"), image["height"], image["width"], drops, require_masks
    )
    if not keep:
        return None
    out = {
        "bbox": box,
        "bbox_mode": "XYXY_ABS",
        "category_id": id_map[cat],
        "iscrowd": int(ann.get("iscrowd", 0)),
        "area": float(ann.get("area", (box[2] - box[0]) * (box[3] - box[1]))),
    }
    if seg is not None:
        out["segmentation"] = seg
    return out


def _image_record(image: dict, image_root: str, json_file: str) -> dict:
    for key in ("id", "file_name", "height", "width"):
        if key not in image:
            raise ValueError(f"{json_file}: image entry {image.get('id', image)} lacks '{key}'")
    return {
        "file_name": os.path.abspath(os.path.join(image_root, image["file_name"])),
        "image_id": int(image["id"]),
        "height": int(image["height"]),
        "width": int(image["width"]),
    }


def _log_summary(name: str, num_images: int, num_instances: int, drops: Counter) -> None:
    parts = [f"{reason} {drops[reason]}" for reason in DROP_REASONS if drops[reason]]
    logger.info(
        "dataset %s: %d images, %d instances, dropped: %s",
        name,
        num_images,
        num_instances,
        ", ".join(parts) if parts else "none",
    )


def load_coco_json(
    json_file: str,
    image_root: str,
    *,
    dataset_name: str | None = None,
    require_masks: bool = True,
    stats: dict | None = None,
) -> list[dict]:
    """Read a COCO instances json into dataset records.

    Category ids are mapped, in sorted order, to contiguous ids ``0..K-1``. Crowd annotations are
    kept with ``iscrowd=1``. Image files are not checked here.

    Args:
        json_file: path of the COCO json.
        image_root: folder that the images' ``file_name`` entries are relative to.
        dataset_name: when given, ``thing_classes`` and ``thing_dataset_id_to_contiguous_id`` are
            stored in ``MetadataCatalog.get(dataset_name)``.
        require_masks: drop annotations without segmentation (counted as "empty segmentation").
        stats: optional dict filled with ``images``, ``instances`` and ``dropped`` (reason -> count).

    Returns:
        One record per image (images without annotations included), in the json's image order.

    Raises:
        ValueError: invalid json, no ``images`` list, an image entry lacking a required key, or an
            annotation whose category id is not in ``categories``.
    """
    data = _read_json(json_file)
    coco = _build_coco(data)
    id_map, names = _category_mapping(coco)
    drops: Counter = Counter()
    known_images = set(coco.imgs)
    drops[UNKNOWN_IMAGE] += sum(1 for a in data.get("annotations", []) if a.get("image_id") not in known_images)

    records, num_instances = [], 0
    for image in data["images"]:
        record = _image_record(image, image_root, json_file)
        anns = []
        for ann in coco.imgToAnns.get(image["id"], []):
            converted = _convert_annotation(ann, image, id_map, json_file, drops, require_masks)
            if converted is not None:
                anns.append(converted)
        record["annotations"] = anns
        num_instances += len(anns)
        records.append(record)

    name = dataset_name or json_file
    _log_summary(name, len(records), num_instances, drops)
    if stats is not None:
        stats.update(images=len(records), instances=num_instances, dropped={k: v for k, v in drops.items() if v})
    if dataset_name is not None:
        MetadataCatalog.get(dataset_name).set(thing_classes=names, thing_dataset_id_to_contiguous_id=id_map)
    return records
