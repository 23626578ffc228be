"""Evaluation: the evaluator protocol, the inference loop and COCO box / mask AP."""
from __future__ import annotations

from maskrcnn_ext.evaluation.coco_evaluation import COCOEvaluator
from maskrcnn_ext.evaluation.coco_results import instances_to_coco_json
from maskrcnn_ext.evaluation.evaluator import DatasetEvaluator, DatasetEvaluators, inference_on_dataset
from maskrcnn_ext.evaluation.results_table import format_per_category_table, format_results_table

__all__ = [
    "COCOEvaluator",
    "DatasetEvaluator",
    "DatasetEvaluators",
    "format_per_category_table",
    "format_results_table",
    "inference_on_dataset",
    "instances_to_coco_json",
]
