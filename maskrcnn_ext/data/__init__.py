"""Datasets, COCO loading, the synthetic shapes dataset, mapping, sampling and loaders.

Importing this package registers the shapes datasets (``shapes_train``, ``shapes_val``,
``shapes_tiny_train``, ``shapes_tiny_val``; generated on first use) and the COCO 2017 names
(read from the datasets root on first use).
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
