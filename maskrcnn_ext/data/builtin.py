"""Standard dataset names (COCO 2017) registered at their conventional places under the datasets root.

The files are not downloaded: put COCO at ``<root>/coco/{train2017,val2017,annotations}`` where
``<root>`` is ``$MASKRCNN_EXT_DATASETS`` (default ``./datasets``). Nothing is read until a dataset is
first used, and a missing file is then reported with its path.
"""
from __future__ import annotations

import os

from .catalog import DatasetCatalog, MetadataCatalog
from .coco import load_coco_json
from .keypoints import COCO_PERSON_KEYPOINT_NAMES, COCO_PERSON_OKS_SIGMAS, infer_flip_map
from .shapes import ENV_DATASETS, datasets_root

__all__ = ["COCO_SPLITS", "register_builtin_coco"]

# name -> (image folder, annotation json), relative to <root>/coco
COCO_SPLITS = {
    "coco_2017_train": ("train2017", "annotations/instances_train2017.json"),
    "coco_2017_val": ("val2017", "annotations/instances_val2017.json"),
    "coco_2017_val_100": ("val2017", "annotations/instances_val2017_100.json"),
    # COCO person keypoints: the person category only, with 17 keypoints per person
    "keypoints_coco_2017_train": ("train2017", "annotations/person_keypoints_train2017.json"),
    "keypoints_coco_2017_val": ("val2017", "annotations/person_keypoints_val2017.json"),
}


def _coco_loader(name: str, image_dir: str, json_rel: str):
    def _load() -> list[dict]:
        root = os.path.join(datasets_root(), "coco")
        json_file, image_root = os.path.join(root, json_rel), os.path.join(root, image_dir)
        if not os.path.isfile(json_file):
            raise FileNotFoundError(
                f"Dataset {name!r}: annotation file {json_file} not found. Place COCO under {root} "
                f"or set ${ENV_DATASETS} to the folder that contains coco/")
        MetadataCatalog.get(name).set(json_file=json_file, image_root=image_root, evaluator_type="coco")
        return load_coco_json(json_file, image_root, dataset_name=name)

    return _load


def register_builtin_coco() -> None:
    """Register every name of :data:`COCO_SPLITS` (cheap: nothing is read until first use)."""
    for name, (image_dir, json_rel) in COCO_SPLITS.items():
        if name not in DatasetCatalog:
            DatasetCatalog.register(name, _coco_loader(name, image_dir, json_rel))
        if name.startswith("keypoints_"):
            # Known before the json is read, so that a config can build its flips from them.
            MetadataCatalog.get(name).set(keypoint_names=list(COCO_PERSON_KEYPOINT_NAMES),
                                          keypoint_flip_map=infer_flip_map(COCO_PERSON_KEYPOINT_NAMES),
                                          keypoint_oks_sigmas=list(COCO_PERSON_OKS_SIGMAS))
