"""Keypoint annotations: COCO's person keypoints, flip maps, OKS sigmas, and checks of one annotation.

A COCO keypoint annotation holds ``keypoints``, a flat list of K ``(x, y, v)`` triplets in pixel
indices, with ``v`` 0 (not labelled, x = y = 0), 1 (labelled but not visible) or 2 (labelled and
visible), and ``num_keypoints``, the number of labelled ones (``v > 0``). The K keypoint names and
the skeleton (pairs of 1-based keypoint numbers) are in the json's category.

Datasets describe their keypoints in their metadata: ``keypoint_names`` (K), ``keypoint_flip_map``
(pairs of names that a horizontal flip swaps), ``keypoint_connection_rules`` (skeleton edges as
pairs of names, for drawing) and ``keypoint_oks_sigmas`` (K per-keypoint sigmas of the OKS metric).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .catalog import DatasetCatalog, MetadataCatalog

__all__ = ["COCO_PERSON_KEYPOINT_NAMES", "COCO_PERSON_OKS_SIGMAS", "infer_flip_map", "keypoint_flip_indices",
           "keypoint_metadata", "keypoint_problems", "keypoints_array"]

COCO_PERSON_KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)
# The per-keypoint sigmas COCO's keypoint metric uses for these 17 keypoints (cocodataset.org, and
# pycocotools' defaults), in that order.
COCO_PERSON_OKS_SIGMAS = tuple(v / 10.0 for v in (
    0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89))


def infer_flip_map(names: Sequence[str]) -> list[tuple[str, str]]:
    """Pairs of names that differ only by ``left`` / ``right`` (e.g. ``left_eye``/``right_eye``)."""
    pairs = []
    for name in names:
        if "left" in name and (other := name.replace("left", "right")) in names:
            pairs.append((name, other))
    return pairs


def flip_indices(names: Sequence[str], flip_map: Sequence[Sequence[str]]) -> list[int]:
    """For each keypoint, the index of the keypoint it becomes after a horizontal flip.

    Raises:
        ValueError: the flip map names a keypoint that is not in ``names``.
    """
    position = {n: i for i, n in enumerate(names)}
    indices = list(range(len(names)))
    for a, b in flip_map:
        if a not in position or b not in position:
            raise ValueError(f"keypoint flip map pair ({a!r}, {b!r}) names a keypoint not in {list(names)}")
        indices[position[a]], indices[position[b]] = position[b], position[a]
    return indices


def keypoint_flip_indices(dataset: str) -> list[int]:
    """:func:`flip_indices` of a registered dataset's ``keypoint_names`` and ``keypoint_flip_map``
    (loading the dataset first if its metadata is filled on load). For configs, e.g.
    ``flip_indices=L(keypoint_flip_indices)(dataset="shapes_kp_train")``."""
    meta = MetadataCatalog.get(dataset)
    if meta.get("keypoint_names") is None and dataset in DatasetCatalog:
        DatasetCatalog.get(dataset)
    names = meta.get("keypoint_names")
    if names is None:
        raise ValueError(f"dataset {dataset!r} has no keypoint_names in its metadata: it has no keypoints")
    return flip_indices(names, meta.get("keypoint_flip_map") or [])


def keypoint_metadata(categories: list[dict[str, Any]]) -> dict[str, Any]:
    """Keypoint metadata from a COCO json's categories (those that list ``keypoints``).

    The flip map is inferred from left/right names, the OKS sigmas are COCO's for COCO's 17 person
    keypoints (other keypoint sets must state theirs in the metadata). Categories with keypoints
    must all list the same ones: COCO's evaluation has one set of sigmas.

    Returns:
        ``{}`` when no category has keypoints, else ``keypoint_names``, ``keypoint_flip_map``,
        ``keypoint_connection_rules`` and, when known, ``keypoint_oks_sigmas``.
    """
    with_keypoints = [c for c in categories if c.get("keypoints")]
    if not with_keypoints:
        return {}
    names = tuple(with_keypoints[0]["keypoints"])
    if any(tuple(c["keypoints"]) != names for c in with_keypoints):
        raise ValueError("categories list different keypoints; one keypoint set per dataset is supported")
    skeleton = with_keypoints[0].get("skeleton") or []
    meta = {"keypoint_names": list(names), "keypoint_flip_map": infer_flip_map(names),
            "keypoint_connection_rules": [(names[a - 1], names[b - 1]) for a, b in skeleton
                                          if 1 <= a <= len(names) and 1 <= b <= len(names)]}
    if names == COCO_PERSON_KEYPOINT_NAMES:
        meta["keypoint_oks_sigmas"] = list(COCO_PERSON_OKS_SIGMAS)
    return meta


def keypoints_array(flat: Sequence[float], num_keypoints: int) -> np.ndarray:
    """A json ``keypoints`` list as a ``(K, 3)`` float32 array in *continuous* coordinates.

    COCO's keypoint coordinates are pixel indices (a keypoint at the centre of pixel ``i`` is at
    ``i``); the models use continuous coordinates, where that pixel spans ``[i, i + 1)``, so 0.5 is
    added to the coordinates of labelled keypoints. The evaluator subtracts it again.
    """
    array = np.asarray(flat, dtype=np.float32).reshape(num_keypoints, 3)
    labelled = array[:, 2] > 0
    array[labelled, :2] += 0.5
    array[~labelled] = 0.0
    return array


def keypoint_problems(ann: dict[str, Any], num_names: int | None,
                      size: tuple[int, int] | None) -> list[tuple[str, str]]:
    """What is wrong with one annotation's ``keypoints`` / ``num_keypoints``.

    Args:
        ann: a json annotation with ``keypoints``.
        num_names: K of its category (None when the category lists no keypoint names).
        size: ``(width, height)`` of its image, or None when unknown.

    Returns:
        ``(kind, detail)`` pairs, kinds as in :data:`maskrcnn_ext.data.validate.KINDS`.
    """
    flat = ann["keypoints"]
    if not isinstance(flat, list) or not all(_is_number(v) for v in flat):
        return [("malformed", "keypoints must be a list of finite numbers")]
    if len(flat) % 3 or (num_names is not None and len(flat) != 3 * num_names):
        expected = f"{3 * num_names}" if num_names is not None else "a multiple of 3"
        return [("keypoints_wrong_count", f"{len(flat)} values, expected {expected}")]
    problems = []
    triplets = [flat[i : i + 3] for i in range(0, len(flat), 3)]
    bad_v = sorted({v for _, _, v in triplets if v not in (0, 1, 2)})
    if bad_v:
        problems.append(("keypoint_bad_visibility", f"visibility values {bad_v}"))
    if size is not None and all(isinstance(s, int) for s in size):
        outside = [i for i, (x, y, v) in enumerate(triplets) if v in (1, 2) and not (
            0 <= x <= size[0] and 0 <= y <= size[1])]
        if outside:
            x, y, _ = triplets[outside[0]]
            problems.append(("keypoint_outside_image", f"keypoints {outside} (first at ({x}, {y})) in a "
                                                       f"{size[0]}x{size[1]} image"))
    labelled = sum(1 for _, _, v in triplets if v in (1, 2))
    if "num_keypoints" in ann and ann["num_keypoints"] != labelled:
        problems.append(("num_keypoints_mismatch", f"num_keypoints {ann['num_keypoints']!r}, "
                                                   f"{labelled} labelled triplets"))
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
