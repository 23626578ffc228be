"""The synthetic "shapes" dataset: deterministic COCO json + PNG files, generated on demand.

Layout under a datasets root: ``<root>/shapes/<split>/images/*.png`` and
``<root>/shapes/<split>/annotations.json``. The json's ``info.params`` records the generation
parameters; a later call with the same parameters reuses the files. The json is written last and
atomically, so an interrupted generation is simply redone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import shutil
from typing import Any, Iterable, Iterator

import cv2
import numpy as np
import pycocotools.mask as mask_util

from maskrcnn_ext.data.catalog import DatasetCatalog, MetadataCatalog
from maskrcnn_ext.data.coco import load_coco_json
from maskrcnn_ext.data.shapes_draw import (
    CLASS_NAMES,
    area_to_extent,
    draw_background,
    pick_contrasting_color,
    shape_mask,
    shape_radius,
)
from maskrcnn_ext.data.shapes_keypoints import image_keypoints, shapes_keypoint_category, shapes_keypoint_metadata
from maskrcnn_ext.utils.file_io import atomic_file

logger = logging.getLogger(__name__)

__all__ = ["CLASS_NAMES", "SHAPES_SPLITS", "generate_shapes", "register_shapes", "shapes_split_dir"]

GENERATOR_VERSION = 1
ENV_DATASETS = "MASKRCNN_EXT_DATASETS"
# dataset name -> (split folder, number of images, seed, other generate_shapes arguments)
SHAPES_SPLITS: dict[str, tuple[str, int, int, dict[str, Any]]] = {
    "shapes_train": ("train", 1000, 0, {}),
    "shapes_val": ("val", 100, 1, {}),
    "shapes_tiny_train": ("tiny_train", 32, 2, {}),
    "shapes_tiny_val": ("tiny_val", 16, 3, {}),
    # The CPU-scale ablation study's data: small images (128-160 px) with 1-3 medium or large shapes,
    # which a from-scratch model learns in a few hundred iterations. An object spans only a few
    # cells of a stride-16 or stride-32 map, so how a pooler rounds RoIs shows in mask quality.
    "shapes_ablation_train": ("ablation_train", 1000, 4, dict(min_size=128, max_size=160, max_instances=3,
                                                                small_fraction=0.0)),
    "shapes_ablation_val": ("ablation_val", 200, 5, dict(min_size=128, max_size=160, max_instances=3,
                                                          small_fraction=0.0)),
    # The small-object study's data: up to 6 shapes per 192-224 px image, 80% of them aimed at
    # COCO's small bucket (10-31 px on a side), so APs dominates the result.
    "shapes_small_train": ("small_train", 1000, 6, dict(min_size=192, max_size=224, max_instances=6,
                                                          small_fraction=0.8)),
    "shapes_small_val": ("small_val", 200, 7, dict(min_size=192, max_size=224, max_instances=6,
                                                      small_fraction=0.8)),
    # Keypoint R-CNN on shapes (shapes_keypoints.py): the ablation study's image sizes and shapes,
    # with the centre of circles and the corners of the polygons as keypoints.
    "shapes_kp_train": ("kp_train", 1000, 8, dict(min_size=128, max_size=160, max_instances=3,
                                                   small_fraction=0.0, keypoints=True)),
    "shapes_kp_val": ("kp_val", 200, 9, dict(min_size=128, max_size=160, max_instances=3,
                                              small_fraction=0.0, keypoints=True)),
    "shapes_kp_tiny_train": ("kp_tiny_train", 32, 10, dict(min_size=128, max_size=160, max_instances=3,
                                                            small_fraction=0.0, keypoints=True)),
    "shapes_kp_tiny_val": ("kp_tiny_val", 16, 11, dict(min_size=128, max_size=160, max_instances=3,
                                                        small_fraction=0.0, keypoints=True)),
}
_MIN_VISIBLE_FRACTION = 0.5  # a new shape may hide at most half of any earlier one
_MIN_VISIBLE_PIXELS = 16
_SMALL_AREA = (10.0**2, 31.0**2)  # COCO "small" is area < 32^2
_MEDIUM_AREA = (32.0**2, 95.0**2)  # COCO "medium" is 32^2 <= area < 96^2


def shapes_split_dir(root: str, split: str) -> str:
    """Folder of one split under a datasets root."""
    return os.path.join(root, "shapes", split)


def _sample_area(rng: np.random.Generator, height: int, width: int, small_fraction: float) -> float:
    """Target pixel area, log-uniform inside a COCO size bucket chosen at random."""
    u = rng.random()
    if u < small_fraction:
        lo, hi = _SMALL_AREA
    elif u < small_fraction + (1.0 - small_fraction) * 0.6:
        lo, hi = _MEDIUM_AREA
    else:
        lo = 97.0**2
        hi = max(lo * 1.3, 0.3 * min(height, width) ** 2)
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _propose_shape(
    rng: np.random.Generator, height: int, width: int, small_fraction: float
) -> tuple[int, np.ndarray, dict[str, Any]]:
    """Random class, size, position and rotation; returns (class index, bool mask (H, W), geometry:
    the ``center``, ``extent`` and ``angle`` it was drawn with)."""
    cls = int(rng.integers(len(CLASS_NAMES)))
    name = CLASS_NAMES[cls]
    extent = area_to_extent(name, _sample_area(rng, height, width, small_fraction))
    # Shrink shapes that would not fit so every shape lies fully inside the image.
    max_radius = 0.5 * min(height, width) - 1.0
    extent *= min(1.0, max_radius / shape_radius(name, extent))
    radius = shape_radius(name, extent)
    center = (rng.uniform(radius, width - radius), rng.uniform(radius, height - radius))
    angle = 0.0 if name == "circle" else float(rng.uniform(0.0, 2.0 * math.pi))
    geometry = dict(center=center, extent=extent, angle=angle)
    return cls, shape_mask(name, height=height, width=width, **geometry), geometry


def _occludes_too_much(new: np.ndarray, visible: list[np.ndarray], full_areas: list[int]) -> bool:
    for vis, full in zip(visible, full_areas):
        remaining = int(np.count_nonzero(vis & ~new))
        if remaining < _MIN_VISIBLE_FRACTION * full or remaining < _MIN_VISIBLE_PIXELS:
            return True
    return False


def _render_image(
    rng: np.random.Generator, params: dict[str, Any]
) -> tuple[np.ndarray, list[tuple[int, np.ndarray, list[float] | None]]]:
    """Draw one image and return it with its (class index, visible mask, keypoints) instances; the
    keypoints (see :func:`~maskrcnn_ext.data.shapes_keypoints.image_keypoints`) are None unless
    ``params`` asks for them."""
    height, width = (int(v) for v in rng.integers(params["min_size"], params["max_size"] + 1, size=2))
    img = draw_background(rng, height, width)
    wanted = int(rng.integers(1, params["max_instances"] + 1))
    classes: list[int] = []
    visible: list[np.ndarray] = []
    full_areas: list[int] = []
    geometries: list[dict[str, Any]] = []
    for _ in range(4 * wanted):
        if len(classes) == wanted:
            break
        cls, mask, geometry = _propose_shape(rng, height, width, params["small_fraction"])
        full = int(np.count_nonzero(mask))
        if full < _MIN_VISIBLE_PIXELS or _occludes_too_much(mask, visible, full_areas):
            continue
        for vis in visible:
            vis &= ~mask  # later shapes occlude earlier ones
        img[mask] = pick_contrasting_color(rng, img[mask].mean(axis=0))
        classes.append(cls)
        visible.append(mask)
        full_areas.append(full)
        geometries.append(geometry)
    keypoints: list = [None] * len(classes)
    if params.get("keypoints"):
        keypoints = image_keypoints(classes, visible, geometries, height=height, width=width)
    return img, list(zip(classes, visible, keypoints))


def _annotation(ann_id: int, image_id: int, cls: int, mask: np.ndarray,
                keypoints: list[float] | None = None) -> dict[str, Any]:
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    extra = {} if keypoints is None else {"keypoints": keypoints,
                                          "num_keypoints": sum(1 for v in keypoints[2::3] if v > 0)}
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": cls + 1,
        "segmentation": rle,
        "bbox": [float(v) for v in mask_util.toBbox(rle)],
        "area": float(mask_util.area(rle)),
        "iscrowd": 0,
        **extra,
    }


def _params_match(json_path: str, params: dict[str, Any]) -> bool:
    if not os.path.isfile(json_path):
        return False
    try:
        with open(json_path, encoding="utf-8") as f:
            info = json.load(f).get("info", {})
    except (OSError, ValueError):
        return False
    return info.get("params") == params


def generate_shapes(
    root: str,
    *,
    split: str,
    num_images: int,
    seed: int,
    min_size: int = 224,
    max_size: int = 320,
    max_instances: int = 6,
    small_fraction: float = 0.3,
    keypoints: bool = False,
) -> str:
    """Generate (or reuse) one split of the shapes dataset.

    Image ``i`` is drawn from its own generator spawned from ``seed``, so a split's first images do
    not depend on ``num_images``.

    Args:
        root: datasets root; files go to ``<root>/shapes/<split>/``.
        split: split folder name, e.g. ``"train"``.
        num_images: number of images.
        seed: base seed of ``numpy.random.default_rng``.
        min_size, max_size: range of image height and width (drawn independently), in pixels.
        max_instances: at most this many shapes per image (at least one is drawn).
        small_fraction: probability that a proposed shape targets the COCO "small" area bucket.
        keypoints: also annotate keypoints (:mod:`~maskrcnn_ext.data.shapes_keypoints`); the images,
            boxes and masks are those drawn without them.

    Returns:
        path of the COCO annotation json.
    """
    if not 0 < min_size <= max_size:
        raise ValueError(f"generate_shapes: need 0 < min_size <= max_size, got {min_size}, {max_size}")
    if num_images < 1 or max_instances < 1:
        raise ValueError(
            f"generate_shapes: num_images and max_instances must be >= 1, got {num_images}, {max_instances}"
        )
    params = dict(
        version=GENERATOR_VERSION, num_images=num_images, seed=seed, min_size=min_size,
        max_size=max_size, max_instances=max_instances, small_fraction=float(small_fraction),
    )  # fmt: skip
    if keypoints:  # only then, so that the files of splits without keypoints stay as they were
        params["keypoints"] = True
    split_dir = shapes_split_dir(root, split)
    json_path = os.path.join(split_dir, "annotations.json")
    if _params_match(json_path, params):
        return json_path
    logger.info("Generating shapes split '%s' (%d images, seed %d) in %s", split, num_images, seed, split_dir)
    image_dir = os.path.join(split_dir, "images")
    shutil.rmtree(image_dir, ignore_errors=True)  # stale files of an older generation
    os.makedirs(image_dir, exist_ok=True)

    images, annotations = [], []
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(num_images)):
        img, instances = _render_image(np.random.default_rng(child), params)
        file_name = f"{i:06d}.png"
        if not cv2.imwrite(os.path.join(image_dir, file_name), img[:, :, ::-1]):
            raise OSError(f"generate_shapes: could not write {os.path.join(image_dir, file_name)}")
        images.append({"id": i + 1, "file_name": file_name, "height": img.shape[0], "width": img.shape[1]})
        for cls, mask, points in instances:
            annotations.append(_annotation(len(annotations) + 1, i + 1, cls, mask, points))
    categories = [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(CLASS_NAMES)]
    if keypoints:
        for category in categories:
            category.update(shapes_keypoint_category())
    info = {"description": "maskrcnn_ext synthetic shapes", "params": params}
    data = {"info": info, "images": images, "annotations": annotations, "categories": categories}
    with atomic_file(json_path, "w") as f:
        json.dump(data, f)
    return json_path


def datasets_root(root: str | None = None) -> str:
    """Absolute datasets folder: ``root`` if given, else ``$MASKRCNN_EXT_DATASETS``, else ``./datasets``."""
    return os.path.abspath(root or os.environ.get(ENV_DATASETS) or "datasets")


@contextlib.contextmanager
def _exclusive_lock(path: str) -> Iterator[None]:
    """An inter-process lock held while the block runs (advisory ``flock`` on ``path``)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _shapes_loader(name: str, root: str | None):
    split, num_images, seed, options = SHAPES_SPLITS[name]

    def _load() -> list[dict]:
        resolved = datasets_root(root)  # resolved now, so the env var may be set after import
        # Data-parallel ranks (or several runs) may ask for the same split at once: one generates,
        # the others wait and then find it complete.
        with _exclusive_lock(os.path.join(resolved, "shapes", f".{split}.lock")):
            json_path = generate_shapes(resolved, split=split, num_images=num_images, seed=seed, **options)
        image_root = os.path.join(os.path.dirname(json_path), "images")
        MetadataCatalog.get(name).set(json_file=json_path, image_root=image_root)
        return load_coco_json(json_path, image_root, dataset_name=name)

    return _load


def register_shapes(*, root: str | None = None, names: Iterable[str] = tuple(SHAPES_SPLITS)) -> None:
    """Register shapes splits in the catalogs; files are generated on the first ``get``.

    Args:
        root: datasets root; default: env var ``MASKRCNN_EXT_DATASETS``, else ``./datasets``,
            looked up when the dataset is first loaded.
        names: which of :data:`SHAPES_SPLITS` to register.
    """
    for name in names:
        if name not in SHAPES_SPLITS:
            raise KeyError(f"register_shapes: unknown split '{name}'; known: {', '.join(SHAPES_SPLITS)}")
        DatasetCatalog.register(name, _shapes_loader(name, root))
        split_dir = shapes_split_dir(datasets_root(root), SHAPES_SPLITS[name][0])
        MetadataCatalog.get(name).set(
            thing_classes=list(CLASS_NAMES),
            thing_dataset_id_to_contiguous_id={i + 1: i for i in range(len(CLASS_NAMES))},
            json_file=os.path.join(split_dir, "annotations.json"),
            image_root=os.path.join(split_dir, "images"),
            evaluator_type="coco",
            **(shapes_keypoint_metadata() if SHAPES_SPLITS[name][3].get("keypoints") else {}),
        )
