"""Datasets, COCO loading, the synthetic shapes dataset, mapping, sampling and loaders.

Importing this package registers the shapes datasets (``shapes_train``, ``shapes_val``,
``shapes_tiny_train``, ``shapes_tiny_val``, the studies' splits, and ``shapes_kp_*`` with keypoints;
generated on first use) and the COCO 2017 names (``coco_2017_*``, and ``keypoints_coco_2017_*`` for
person keypoints; read from the datasets root on first use).

Keypoints, where a dataset has them, follow COCO: each annotation's ``keypoints`` is a flat list of
K ``(x, y, v)`` triplets in pixel indices (v: 0 unlabelled, 1 occluded, 2 visible), and the metadata
holds ``keypoint_names``, ``keypoint_flip_map``, ``keypoint_connection_rules`` and
``keypoint_oks_sigmas`` (:mod:`maskrcnn_ext.data.keypoints`).
"""

from __future__ import annotations

from maskrcnn_ext.data.builtin import register_builtin_coco
from maskrcnn_ext.data.build import build_test_loader, build_train_loader, get_dataset_records
from maskrcnn_ext.data.catalog import DatasetCatalog, Metadata, MetadataCatalog
from maskrcnn_ext.data.coco import load_coco_json, register_coco_instances
from maskrcnn_ext.data.image_io import ImageReadError, read_image
from maskrcnn_ext.data.mapper import DatasetMapper
from maskrcnn_ext.data.samplers import (
    GroupedBatchSampler,
    InferenceSampler,
    RepeatFactorTrainingSampler,
    SmallObjectRepeatFactors,
    TrainingSampler,
)
from maskrcnn_ext.data.shapes import generate_shapes, register_shapes

__all__ = [
    "DatasetCatalog",
    "DatasetMapper",
    "GroupedBatchSampler",
    "ImageReadError",
    "InferenceSampler",
    "Metadata",
    "MetadataCatalog",
    "RepeatFactorTrainingSampler",
    "SmallObjectRepeatFactors",
    "TrainingSampler",
    "build_test_loader",
    "build_train_loader",
    "generate_shapes",
    "get_dataset_records",
    "load_coco_json",
    "read_image",
    "register_coco_instances",
    "register_shapes",
]

register_shapes()
register_builtin_coco()
