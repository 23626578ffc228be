"""What a model's class indices mean: class names and the dataset's category id of each index.

A model predicts contiguous class indices ``0..K-1``; a COCO-format dataset names its categories by
ids that may have gaps (COCO's run to 90 for 80 classes). The map between the two is fixed by the
training dataset, so it is recorded with everything a trained model travels in: ``classes.json`` in
every run directory, the manifest of every published model, the ``.json`` beside converted weights.
Predictions read it from there instead of from the dataset catalog, which only knows datasets
registered (and loaded) in the current process.

The JSON form (also the zoo manifest's keys)::

    {"dataset": "my_train", "class_names": ["person", ...],
     "contiguous_id_to_dataset_id": {"0": 1, "1": 2, ...}}
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..utils.file_io import atomic_file
from .catalog import DatasetCatalog, MetadataCatalog

__all__ = ["CLASSES_FILE", "ClassInfo", "dataset_classes", "read_run_classes", "write_run_classes"]

logger = logging.getLogger(__name__)

CLASSES_FILE = "classes.json"


@dataclass(frozen=True)
class ClassInfo:
    """Class names and category ids of a model's contiguous class indices.

    Attributes:
        names: index -> name, or None when unknown.
        dataset_ids: index -> the dataset's category id, or None when unknown (then results carry
            the contiguous index and say so).
        dataset: the dataset the map comes from, for messages.
    """

    names: tuple[str, ...] | None = None
    dataset_ids: Mapping[int, int] | None = None
    dataset: str | None = None

    @property
    def known(self) -> bool:
        return self.dataset_ids is not None

    def category_id(self, index: int) -> int:
        """The dataset's category id of class ``index`` (the index itself when no map is known)."""
        return int(self.dataset_ids[index]) if self.dataset_ids is not None else int(index)

    def to_json(self) -> dict[str, Any]:
        ids = None if self.dataset_ids is None else {str(k): int(v) for k, v in sorted(self.dataset_ids.items())}
        return {"dataset": self.dataset, "class_names": None if self.names is None else list(self.names),
                "contiguous_id_to_dataset_id": ids}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClassInfo:
        """From :meth:`to_json`'s form (a zoo manifest has the same keys)."""
        names, ids = data.get("class_names"), data.get("contiguous_id_to_dataset_id")
        return cls(names=None if names is None else tuple(names),
                   dataset_ids=None if not ids else {int(k): int(v) for k, v in ids.items()},
                   dataset=data.get("dataset"))


def _from_json_categories(json_file: str) -> tuple[list[str], dict[int, int]] | None:
    """Names and ``dataset id -> index`` from a COCO json's ``categories`` (sorted by id, as the
    loader numbers them), or None when the file cannot be read."""
    try:
        with open(json_file, encoding="utf-8") as f:
            categories = json.load(f).get("categories") or []
    except (OSError, ValueError, AttributeError) as e:
        logger.warning("cannot read the categories of %s: %s", json_file, e)
        return None
    ordered = sorted(categories, key=lambda c: c["id"])
    return [c["name"] for c in ordered], {int(c["id"]): i for i, c in enumerate(ordered)}


def dataset_classes(dataset: str | Sequence[str] | None) -> ClassInfo | None:
    """The classes of a registered dataset (the first one of a list: concatenated datasets share
    their classes), from its metadata or, before it was loaded, its json's categories.

    Returns:
        None when the dataset is not registered in this process or records no classes.
    """
    name = dataset if isinstance(dataset, str) or dataset is None else next(iter(dataset), None)
    if not isinstance(name, str) or name not in DatasetCatalog:
        return None
    meta = MetadataCatalog.get(name)
    names, id_map = meta.get("thing_classes"), meta.get("thing_dataset_id_to_contiguous_id")
    if names is None and meta.get("json_file") and os.path.isfile(meta.get("json_file")):
        names, id_map = _from_json_categories(meta.get("json_file")) or (None, None)
    if names is None:
        return None
    ids = None if id_map is None else {int(index): int(cat) for cat, index in id_map.items()}
    return ClassInfo(names=tuple(names), dataset_ids=ids, dataset=name)


def write_run_classes(run_dir: str | os.PathLike, classes: ClassInfo) -> Path:
    """Record ``classes`` as ``run_dir/classes.json``."""
    path = Path(run_dir) / CLASSES_FILE
    with atomic_file(path, "w") as f:
        json.dump(classes.to_json(), f, indent=2)
    return path


def read_run_classes(run_dir: str | os.PathLike) -> ClassInfo | None:
    """The classes recorded in ``run_dir`` (a run directory, or the folder of its checkpoint), or None."""
    path = Path(run_dir) / CLASSES_FILE
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return ClassInfo.from_json(json.load(f))
