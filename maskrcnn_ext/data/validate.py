"""Check a COCO-format dataset before training on it: every problem found, by kind, with where it is.

Reads the json as it is (not through the loader, which drops bad annotations under its policy) and,
unless told not to, opens every image. Problems are errors (training would fail or learn from wrong
labels) or warnings (worth a look).
"""
from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from .catalog import DatasetCatalog, MetadataCatalog
from .coco import resolves_inside
from .image_io import ImageReadError, read_image
from .keypoints import keypoint_problems

__all__ = ["KINDS", "Problem", "ValidationReport", "validate_coco_json", "validate_dataset"]

# kind -> (level, what it means)
KINDS: dict[str, tuple[str, str]] = {
    "malformed": ("error", "a required key is missing or has the wrong type"),
    "duplicate_image_id": ("error", "two images share an id"),
    "duplicate_annotation_id": ("error", "two annotations share an id"),
    "unknown_category": ("error", "category_id absent from 'categories'"),
    "annotation_unknown_image": ("error", "image_id absent from 'images'"),
    "unreadable_image": ("error", "missing, not an image, or truncated"),
    "exif_size_mismatch": ("error", "json size is the stored size, but EXIF rotation swaps it"),
    "size_mismatch": ("error", "json width/height differ from the decoded image"),
    "degenerate_box": ("error", "box with zero or negative width or height"),
    "box_outside_image": ("error", "box reaches outside the image"),
    "polygon_too_few_points": ("error", "polygon with fewer than 3 points"),
    "polygon_odd_coordinates": ("error", "polygon with an odd number of coordinates"),
    "rle_size_mismatch": ("error", "RLE size differs from the image size"),
    "file_outside_root": ("error", "file_name resolves outside the image root"),
    "keypoints_wrong_count": ("error", "keypoints is not 3 values per keypoint of the category"),
    "keypoint_outside_image": ("error", "a labelled keypoint lies outside the image"),
    "keypoint_bad_visibility": ("error", "keypoint visibility outside {0, 1, 2}"),
    "num_keypoints_mismatch": ("error", "num_keypoints differs from the labelled (v > 0) triplets"),
    "no_usable_annotations": ("warning", "image without any usable (non-crowd, valid) annotation"),
    "very_large_image": ("warning", "image larger than the pixel limit"),
}
_EXIF_ORIENTATION = 0x0112
_BOX_TOLERANCE = 1.0  # pixels: rounding in exported boxes is not a problem


@dataclass
class Problem:
    kind: str
    where: str  # e.g. "image 12 (a.jpg)" or "annotation 40 (image 12)"
    detail: str = ""

    @property
    def level(self) -> str:
        return KINDS[self.kind][0]


@dataclass
class ValidationReport:
    """Problems of one dataset, and how much was checked."""

    source: str
    num_images: int = 0
    num_annotations: int = 0
    problems: list[Problem] = field(default_factory=list)

    def add(self, kind: str, where: str, detail: str = "") -> None:
        self.problems.append(Problem(kind, where, detail))

    @property
    def counts(self) -> Counter:
        return Counter(p.kind for p in self.problems)

    @property
    def num_errors(self) -> int:
        return sum(p.level == "error" for p in self.problems)

    def summary(self, examples: int = 3) -> str:
        """One line per problem kind: level, count, meaning, the first few places."""
        lines = [f"{self.source}: {self.num_images} images, {self.num_annotations} annotations, "
                 f"{self.num_errors} errors, {len(self.problems) - self.num_errors} warnings"]
        by_kind: dict[str, list[Problem]] = defaultdict(list)
        for problem in self.problems:
            by_kind[problem.kind].append(problem)
        for kind in KINDS:
            if kind in by_kind:
                found = by_kind[kind]
                shown = "; ".join(f"{p.where}{': ' + p.detail if p.detail else ''}" for p in found[:examples])
                more = f"; ... (+{len(found) - examples} more)" if len(found) > examples else ""
                lines.append(f"  {KINDS[kind][0]:7s} {kind} x{len(found)} ({KINDS[kind][1]}): {shown}{more}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "num_images": self.num_images, "num_annotations": self.num_annotations,
                "num_errors": self.num_errors, "counts": dict(self.counts),
                "problems": [{"kind": p.kind, "level": p.level, "where": p.where, "detail": p.detail}
                             for p in self.problems]}


def _oriented_size(path: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """((width, height) as stored, (width, height) after EXIF rotation), without decoding pixels."""
    with Image.open(path) as img:
        stored = img.size
        try:
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
        except Exception:  # a broken EXIF block: the reader ignores it too
            orientation = 1
    return stored, (stored[::-1] if orientation in (5, 6, 7, 8) else stored)


def _check_image(image: dict, image_root: str, report: ValidationReport, *, decode: bool, max_pixels: int,
                 allow_outside_root: bool) -> None:
    where = f"image {image['id']} ({image['file_name']})"
    path = os.path.join(image_root, image["file_name"])
    if not allow_outside_root and not resolves_inside(image_root, path):
        report.add("file_outside_root", where, f"resolves to {os.path.realpath(path)}")
        return
    try:
        if decode:
            read_image(path)
        stored, oriented = _oriented_size(path)
    except (ImageReadError, OSError, SyntaxError, ValueError) as e:
        report.add("unreadable_image", where, str(e).replace(f"cannot read image {path}: ", ""))
        return
    expected = (image.get("width"), image.get("height"))
    if expected != oriented:
        kind = "exif_size_mismatch" if expected == stored else "size_mismatch"
        report.add(kind, where, f"json {expected[0]}x{expected[1]}, decoded {oriented[0]}x{oriented[1]}")
    if oriented[0] * oriented[1] > max_pixels:
        report.add("very_large_image", where, f"{oriented[0]}x{oriented[1]}")


def _check_segmentation(seg: Any, size: tuple[int, int] | None, where: str, report: ValidationReport) -> bool:
    """Report what is wrong with one segmentation; whether it is usable."""
    if isinstance(seg, list):
        good = 0
        for polygon in seg:
            if not isinstance(polygon, list):
                report.add("malformed", where, f"polygon {polygon!r}"[:80])
            elif len(polygon) % 2:
                report.add("polygon_odd_coordinates", where, f"{len(polygon)} coordinates")
            elif len(polygon) < 6:
                report.add("polygon_too_few_points", where, f"{len(polygon) // 2} points")
            else:
                good += 1
        return good > 0
    if isinstance(seg, dict) and isinstance(seg.get("size"), list):
        height_width = tuple(seg["size"])
        if size is not None and height_width != (size[1], size[0]):
            report.add("rle_size_mismatch", where, f"RLE {height_width[0]}x{height_width[1]} (HxW), "
                                                   f"image {size[1]}x{size[0]}")
            return False
        return True
    report.add("malformed", where, f"segmentation of type {type(seg).__name__}")
    return False


def _check_annotation(ann: dict, images: dict[Any, dict], categories: set, report: ValidationReport,
                      keypoint_counts: dict[Any, int] | None = None) -> bool:
    """Report an annotation's problems; whether it is a usable non-crowd instance.

    ``keypoint_counts`` maps category ids to the number of keypoints their category names.
    """
    where = f"annotation {ann.get('id')} (image {ann.get('image_id')})"
    if ann.get("image_id") not in images:
        report.add("annotation_unknown_image", where)
        return False
    if ann.get("category_id") not in categories:
        report.add("unknown_category", where, f"category_id {ann.get('category_id')!r}")
        return False
    image = images[ann["image_id"]]
    size = (image.get("width"), image.get("height"))
    usable = True
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
        report.add("malformed", where, f"bbox {bbox!r}")
        usable = False
    elif bbox[2] <= 0 or bbox[3] <= 0:
        report.add("degenerate_box", where, f"bbox {bbox}")
        usable = False
    elif isinstance(size[0], int) and isinstance(size[1], int) and (
            bbox[0] < -_BOX_TOLERANCE or bbox[1] < -_BOX_TOLERANCE
            or bbox[0] + bbox[2] > size[0] + _BOX_TOLERANCE or bbox[1] + bbox[3] > size[1] + _BOX_TOLERANCE):
        report.add("box_outside_image", where, f"bbox {bbox} in a {size[0]}x{size[1]} image")
    if "segmentation" in ann and not _check_segmentation(ann["segmentation"], size, where, report):
        usable = False
    if "keypoints" in ann:
        for kind, detail in keypoint_problems(ann, (keypoint_counts or {}).get(ann["category_id"]), size):
            report.add(kind, where, detail)
            usable = usable and kind not in ("malformed", "keypoints_wrong_count")
    return usable and not ann.get("iscrowd", 0)


def _unique_ids(items: list[dict], kind: str, label: str, report: ValidationReport) -> None:
    for value, count in Counter(item.get("id") for item in items).items():
        if count > 1:
            report.add(kind, f"{label} id {value}", f"{count} times")


def validate_coco_json(json_file: str, image_root: str, *, decode_images: bool = True,
                       max_pixels: int = 50_000_000, allow_outside_root: bool = False) -> ValidationReport:
    """Every problem of a COCO instances json and its images.

    Args:
        json_file: the annotation file.
        image_root: the folder the file names are relative to.
        decode_images: decode every image fully (finds truncated files; slower) rather than only
            reading its header.
        max_pixels: images with more pixels are reported as very large (a warning).
        allow_outside_root: accept file names that resolve outside ``image_root``.
    """
    report = ValidationReport(source=json_file)
    with open(json_file, encoding="utf-8") as f:
        data = json.load(f)
    images = [i for i in data.get("images", []) if _well_formed_image(i, report)]
    annotations = data.get("annotations", [])
    report.num_images, report.num_annotations = len(images), len(annotations)
    _unique_ids(images, "duplicate_image_id", "image", report)
    _unique_ids(annotations, "duplicate_annotation_id", "annotation", report)
    categories = {c.get("id") for c in data.get("categories", []) if isinstance(c, dict)}
    keypoint_counts = {c.get("id"): len(c["keypoints"]) for c in data.get("categories", [])
                       if isinstance(c, dict) and isinstance(c.get("keypoints"), list)}
    by_id = {i["id"]: i for i in images}
    usable: Counter = Counter()
    for ann in annotations:
        if not isinstance(ann, dict):
            report.add("malformed", "annotation", f"not an object: {ann!r}"[:80])
        elif _check_annotation(ann, by_id, categories, report, keypoint_counts):
            usable[ann["image_id"]] += 1
    for image in images:
        _check_image(image, image_root, report, decode=decode_images, max_pixels=max_pixels,
                     allow_outside_root=allow_outside_root)
        if not usable[image["id"]]:
            report.add("no_usable_annotations", f"image {image['id']} ({image['file_name']})")
    return report


def _well_formed_image(image: Any, report: ValidationReport) -> bool:
    if not isinstance(image, dict) or not isinstance(image.get("file_name"), str) or "id" not in image:
        report.add("malformed", "image", f"needs 'id' and a string 'file_name': {image!r}"[:120])
        return False
    return True


def validate_dataset(name: str, **kwargs: Any) -> ValidationReport:
    """:func:`validate_coco_json` on a registered dataset's ``json_file`` and ``image_root``."""
    meta = MetadataCatalog.get(name)
    if meta.get("json_file") is None and name in DatasetCatalog.list():
        DatasetCatalog.get(name)  # generated datasets write their json on first use
    if meta.get("json_file") is None or meta.get("image_root") is None:
        raise ValueError(f"dataset {name!r} has no json_file/image_root in its metadata; "
                         "give --json and --image-root instead")
    return validate_coco_json(meta.json_file, meta.image_root, **kwargs)
