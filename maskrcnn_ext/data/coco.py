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

from maskrcnn_ext.data.catalog import DatasetCatalog, MetadataCatalog
from maskrcnn_ext.data.keypoints import keypoint_metadata

logger = logging.getLogger(__name__)

__all__ = ["DROP_REASONS", "DatasetError", "load_coco_json", "register_coco_instances"]

# Reasons under which an annotation (or one of its polygons) is dropped, in summary order. Each drop
# counts once, under its most specific reason: an annotation whose polygons all fail the same way
# counts under that reason, "no valid polygon left" only when they fail in different ways.
DEGENERATE_BOX = "degenerate box"
SHORT_POLYGON = "polygon < 3 points"
ODD_POLYGON = "odd coordinate count"
BAD_COORDINATE = "non-numeric or non-finite polygon coordinate"
NO_VALID_POLYGON = "no valid polygon left"
EMPTY_SEGMENTATION = "empty segmentation"
BAD_RLE = "malformed RLE"
UNKNOWN_IMAGE = "unknown image id"
BAD_KEYPOINTS = "malformed keypoints"
DROP_REASONS = (
    DEGENERATE_BOX,
    SHORT_POLYGON,
    ODD_POLYGON,
    BAD_COORDINATE,
    NO_VALID_POLYGON,
    EMPTY_SEGMENTATION,
    BAD_RLE,
    UNKNOWN_IMAGE,
    BAD_KEYPOINTS,
)


class DatasetError(ValueError):
    """An annotation file that cannot be loaded; the message names the file and the entry."""


# Required keys of each section's entries, and the types their values must have.
_REQUIRED = {
    "images": {"id": (int,), "file_name": (str,), "height": (int,), "width": (int,)},
    "annotations": {"id": (int, str), "image_id": (int, str), "category_id": (int, str)},
    "categories": {"id": (int,), "name": (str,)},
}


def _check_structure(data: dict[str, Any], json_file: str) -> None:
    """Refuse, with the entry named, what the loader (and pycocotools' index) cannot read."""
    for section, required in _REQUIRED.items():
        entries = data.get(section, [])
        if not isinstance(entries, list):
            raise DatasetError(f"{json_file}: '{section}' must be a list, got {type(entries).__name__}")
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise DatasetError(f"{json_file}: {section}[{position}] is a {type(entry).__name__}, not an object")
            for key, types in required.items():
                value = entry.get(key)
                if isinstance(value, bool) or not isinstance(value, types):
                    what = "lacks" if key not in entry else f"has {type(value).__name__} {value!r:.40} for"
                    raise DatasetError(f"{json_file}: {section}[{position}] (id {entry.get('id')!r:.40}) {what} "
                                       f"'{key}' ({' or '.join(t.__name__ for t in types)} expected)")
            if section == "images" and (entry["height"] <= 0 or entry["width"] <= 0):
                raise DatasetError(f"{json_file}: image id {entry['id']!r} has size "
                                   f"{entry['width']}x{entry['height']}; both must be positive")


def _read_json(json_file: str) -> dict[str, Any]:
    try:
        with open(json_file, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise DatasetError(f"{json_file}: not valid JSON ({e})") from e
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{json_file}: cannot read annotation file ({e})") from e
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DatasetError(f"{json_file}: not a COCO annotation file (no 'images' list at top level)")
    _check_structure(data, json_file)
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


def _polygon_problem(poly: Any) -> str | None:
    """Why a polygon is unusable, or None."""
    if not isinstance(poly, (list, tuple)) or len(poly) % 2 != 0:
        return ODD_POLYGON
    if len(poly) < 6:
        return SHORT_POLYGON
    if not all(_is_finite_number(v) for v in poly):
        return BAD_COORDINATE
    return None


def _clean_polygons(polygons: list, drops: Counter) -> list[list[float]]:
    """The usable polygons; the others are counted in ``drops``, or, when none is left, the whole
    annotation is, once (see ``DROP_REASONS``)."""
    problems = [_polygon_problem(poly) for poly in polygons]
    kept = [[float(v) for v in poly] for poly, problem in zip(polygons, problems) if problem is None]
    if kept:
        drops.update(problem for problem in problems if problem is not None)
    else:
        distinct = set(problems)
        drops[distinct.pop() if len(distinct) == 1 else NO_VALID_POLYGON] += 1
    return kept


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _valid_rle(rle: dict, height: int, width: int) -> bool:
    size = rle.get("size")
    counts = rle.get("counts")
    if not isinstance(size, (list, tuple)) or list(size) != [height, width]:
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
        if not polygons:  # counted by _clean_polygons
            return False, None
        return True, polygons
    drops[BAD_RLE] += 1
    return False, None


def _describe_ids(ids: list[int], shown: int = 8) -> str:
    """``[3, 7]``, or for many ids their count, range and first few: a message stays one line long."""
    if len(ids) <= shown:
        return str(ids)
    return f"{len(ids)} ids from {ids[0]} to {ids[-1]}: {', '.join(map(str, ids[:shown]))}, ..."


def _category_mapping(coco: COCO) -> tuple[dict[int, int], list[str]]:
    cat_ids = sorted(coco.getCatIds())
    names = [coco.loadCats(cid)[0]["name"] for cid in cat_ids]
    return {cid: i for i, cid in enumerate(cat_ids)}, names


def _keypoints_ok(keypoints: Any, num_keypoints: int | None) -> bool:
    """Whether a json ``keypoints`` list is K finite ``(x, y, v)`` triplets with v in {0, 1, 2}."""
    if not isinstance(keypoints, list) or num_keypoints is None or len(keypoints) != 3 * num_keypoints:
        return False
    return all(_is_finite_number(v) for v in keypoints) and all(v in (0, 1, 2) for v in keypoints[2::3])


def _convert_annotation(
    ann: dict, image: dict, id_map: dict[int, int], json_file: str, drops: Counter, require_masks: bool,
    num_keypoints: int | None = None,
) -> dict | None:
    cat = ann.get("category_id")
    if cat not in id_map:
        raise DatasetError(
            f"{json_file}: annotation id {ann.get('id')} has category_id {cat}, which is not listed "
            f"in 'categories' (known ids: {_describe_ids(sorted(id_map))})"
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
    if "keypoints" in ann and not _keypoints_ok(ann["keypoints"], num_keypoints):
        drops[BAD_KEYPOINTS] += 1
        return None
    out = {
        "bbox": box,
        "bbox_mode": "XYXY_ABS",
        "category_id": id_map[cat],
        "iscrowd": int(ann.get("iscrowd") in (1, True)),
        "area": _area(ann.get("area"), box),
    }
    if seg is not None:
        out["segmentation"] = seg
    if "keypoints" in ann:
        # Kept as in the json (pixel-index coordinates); the mapper converts them for the model.
        out["keypoints"] = [float(v) for v in ann["keypoints"]]
        out["num_keypoints"] = sum(1 for v in ann["keypoints"][2::3] if v > 0)
    return out


def _area(value: Any, box: list[float]) -> float:
    """The annotated area, or the box's when it is missing or not a finite number."""
    return float(value) if _is_finite_number(value) else (box[2] - box[0]) * (box[3] - box[1])


def resolves_inside(root: str, path: str) -> bool:
    """Whether ``path`` (symlinks and ``..`` resolved) lies under the folder ``root``."""
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, os.path.realpath(path)]) == real_root


def _image_record(image: dict, image_root: str, json_file: str, allow_outside_root: bool) -> dict:
    path = os.path.abspath(os.path.join(image_root, image["file_name"]))
    if not allow_outside_root and not resolves_inside(image_root, path):
        raise DatasetError(f"{json_file}: image id {image['id']} has file_name {image['file_name']!r}, which "
                           f"resolves outside the image root {image_root}; pass allow_outside_root=True to accept it")
    return {
        "file_name": path,
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
    allow_outside_root: bool = False,
) -> list[dict]:
    """Read a COCO instances json into dataset records.

    Category ids are mapped, in sorted order, to contiguous ids ``0..K-1``. Crowd annotations are
    kept with ``iscrowd=1``. Image files are not checked here. Person-keypoint files (categories
    listing ``keypoints``) give each annotation ``keypoints`` (the json's flat ``(x, y, v)`` list,
    pixel-index coordinates) and ``num_keypoints`` (labelled ones, recounted); annotations whose
    list is not K triplets of numbers with v in {0, 1, 2} are dropped as "malformed keypoints".

    Args:
        json_file: path of the COCO json.
        image_root: folder that the images' ``file_name`` entries are relative to.
        dataset_name: when given, ``thing_classes`` and ``thing_dataset_id_to_contiguous_id`` are
            stored in ``MetadataCatalog.get(dataset_name)``, and for keypoint files the keypoint
            metadata (:func:`~maskrcnn_ext.data.keypoints.keypoint_metadata`) where the dataset's
            metadata does not already state it.
        require_masks: drop annotations without segmentation (counted as "empty segmentation").
        stats: optional dict filled with ``images``, ``instances`` and ``dropped`` (reason -> count).
        allow_outside_root: accept file names that resolve outside ``image_root`` (through
            ``..`` or an absolute path); refused by default, as a json from elsewhere could otherwise
            make the loader read any file.

    Returns:
        One record per image (images without annotations included), in the json's image order.

    Raises:
        DatasetError (a ValueError): unreadable or invalid json, no ``images`` list, an entry that
            is not an object or lacks a required key (or has the wrong type for it), a non-positive
            image size, a ``file_name`` outside ``image_root``, or an annotation whose category id
            is not in ``categories``.
    """
    data = _read_json(json_file)
    coco = _build_coco(data)
    id_map, names = _category_mapping(coco)
    kp_meta = keypoint_metadata(data.get("categories", []))
    num_keypoints = len(kp_meta["keypoint_names"]) if kp_meta else None
    drops: Counter = Counter()
    known_images = set(coco.imgs)
    drops[UNKNOWN_IMAGE] += sum(1 for a in data.get("annotations", []) if a.get("image_id") not in known_images)

    records, num_instances = [], 0
    for image in data["images"]:
        record = _image_record(image, image_root, json_file, allow_outside_root)
        anns = []
        for ann in coco.imgToAnns.get(image["id"], []):
            converted = _convert_annotation(ann, image, id_map, json_file, drops, require_masks, num_keypoints)
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
        meta = MetadataCatalog.get(dataset_name)
        meta.set(thing_classes=names, thing_dataset_id_to_contiguous_id=id_map)
        # What the registrant stated (e.g. a flip map the names do not reveal, or sigmas) wins.
        meta.set(**{k: v for k, v in kp_meta.items() if meta.get(k) is None})
    return records


def register_coco_instances(
    name: str, *, json_file: str, image_root: str, metadata: dict[str, Any] | None = None
) -> None:
    """Register a COCO-format instance-segmentation dataset under ``name``.

    The json is parsed lazily on the first ``DatasetCatalog.get(name)``, which also fills
    ``thing_classes`` and ``thing_dataset_id_to_contiguous_id`` in the metadata.

    Args:
        name: dataset name.
        json_file: path of the COCO annotation json.
        image_root: folder the json's ``file_name`` entries are relative to.
        metadata: extra metadata attributes to store.
    """
    def _load() -> list[dict]:
        return load_coco_json(json_file, image_root, dataset_name=name)

    DatasetCatalog.register(name, _load)
    meta = MetadataCatalog.get(name)
    meta.set(json_file=json_file, image_root=image_root, evaluator_type="coco", **(metadata or {}))
