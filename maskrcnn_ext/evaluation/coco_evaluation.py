"""COCO box, mask and keypoint AP with pycocotools, the reference implementation of the metric, or
with faster-coco-eval, which gives the same numbers faster (see :mod:`.coco_backend`).

Boxes are ranked by the model's ``scores`` and masks by its ``mask_scores`` (they differ when the
mask-scoring head is on), so each task gets its own result list; keypoints are ranked by ``scores``.
AP values are fractions in [0, 1] as pycocotools computes them; a size bucket with no ground truth
gives NaN. Keypoint AP uses COCO's keypoint settings: OKS instead of IoU, 20 detections per image,
the medium and large buckets only.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from typing import Any, Sequence

import numpy as np

from maskrcnn_ext.data.catalog import DatasetCatalog, MetadataCatalog
from maskrcnn_ext.data.keypoints import keypoint_metadata
from maskrcnn_ext.evaluation.coco_backend import coco_backend
from maskrcnn_ext.evaluation.coco_results import (
    instances_to_coco_json,
    per_category_ap,
    summary_metrics,
    task_results_for,
)
from maskrcnn_ext.evaluation.evaluator import DatasetEvaluator, Results
from maskrcnn_ext.evaluation.results_table import format_per_category_table, format_results_table
from maskrcnn_ext.utils import comm

__all__ = ["COCOEvaluator"]

logger = logging.getLogger(__name__)

_TASKS = ("bbox", "segm")
_SUPPORTED_TASKS = ("bbox", "segm", "keypoints")
_KEYPOINT_MAX_DETS = 20  # COCO's keypoint metric counts 20 detections per image
# pycocotools' default buckets, in pixels² (bounds inclusive, as COCOeval applies them)
_COCO_SIZE_RANGES = {"small": [0.0, 32.0**2], "medium": [32.0**2, 96.0**2], "large": [96.0**2, 1e10]}
RESULTS_FILE = "coco_instances_results.json"
METRICS_FILE = "coco_eval_metrics.json"


@contextlib.contextmanager
def _pycocotools_to_debug_log():
    """Capture pycocotools' prints and forward them to the logger at DEBUG."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        text = buffer.getvalue().strip()
        if text:
            logger.debug("pycocotools:\n%s", text)


def _check_area_ranges(area_ranges: dict[str, list[float]] | None) -> dict[str, list[float]] | None:
    if area_ranges is None:
        return None
    for label, bounds in area_ranges.items():
        if len(bounds) != 2 or not float(bounds[0]) <= float(bounds[1]):
            raise ValueError(f"area_ranges[{label!r}] must be [lo, hi] with lo <= hi, got {bounds}")
    return {label: [float(lo), float(hi)] for label, (lo, hi) in area_ranges.items()}


def _resolve_dataset(
    dataset_name: str | None, json_file: str | None
) -> tuple[str, dict[int, int] | None, list[str] | None]:
    """(json file, json id -> contiguous id, class names); None entries are read from the json."""
    if (dataset_name is None) == (json_file is None):
        raise ValueError("COCOEvaluator needs exactly one of dataset_name= and json_file=.")
    if json_file is not None:
        if not os.path.isfile(json_file):
            raise FileNotFoundError(f"COCO json file {json_file} does not exist.")
        return json_file, None, None
    # Loading (cached) lets lazily registered datasets generate their files and fill their metadata.
    if dataset_name in DatasetCatalog:
        DatasetCatalog.get(dataset_name)
    meta = MetadataCatalog.get(dataset_name)
    meta_json = meta.get("json_file")
    if meta_json is None:
        raise ValueError(
            f"Metadata of dataset {dataset_name!r} has no json_file; register it with "
            "register_coco_instances or pass json_file= instead."
        )
    # The catalog fills the id mapping when the dataset is first loaded; before that the json's
    # sorted category ids give the same mapping.
    mapping = meta.get("thing_dataset_id_to_contiguous_id")
    names = meta.get("thing_classes") if mapping is not None else None
    return meta_json, (dict(mapping) if mapping is not None else None), (list(names) if names else None)


class COCOEvaluator(DatasetEvaluator):
    """COCO-style AP for boxes (``bbox``) and masks (``segm``) of instance predictions.

    Args:
        dataset_name: a registered dataset; its metadata gives ``json_file``, ``thing_classes`` and
            ``thing_dataset_id_to_contiguous_id``.
        json_file: a COCO json used directly; contiguous ids are the sorted json category ids.
            Give exactly one of ``dataset_name`` and ``json_file``.
        tasks: subset of ``("bbox", "segm")``.
        max_dets_per_image: detections per image kept by COCOeval (its third ``maxDets``).
        output_dir: where to write ``coco_instances_results.json`` (one dict per predicted
            instance, json category ids, ``score`` = box score, ``mask_score`` = mask score) and
            ``coco_eval_metrics.json`` (what :meth:`evaluate` returns); None writes nothing.
        distributed: gather predictions from all ranks to rank 0 before evaluating.
        area_ranges: ``{label: [lo, hi]}`` overriding COCO's size buckets (areas in pixels²);
            ``small/medium/large`` give ``APs/APm/APl``, other labels ``AP-area-<label>``.
        backend: ``"auto"`` (faster-coco-eval when installed, else pycocotools), ``"pycocotools"``
            or ``"faster_coco_eval"``; all give the same numbers.
        kpt_oks_sigmas: K per-keypoint OKS sigmas for the ``keypoints`` task; None takes the
            dataset metadata's ``keypoint_oks_sigmas``, or for a json of COCO's 17 person keypoints
            COCO's sigmas.
    """

    def __init__(
        self,
        *,
        dataset_name: str | None = None,
        json_file: str | None = None,
        tasks: tuple[str, ...] | list[str] = _TASKS,
        max_dets_per_image: int = 100,
        output_dir: str | None = None,
        distributed: bool = True,
        area_ranges: dict[str, list[float]] | None = None,
        backend: str = "auto",
        kpt_oks_sigmas: Sequence[float] | None = None,
    ) -> None:
        tasks = (tasks,) if isinstance(tasks, str) else tuple(tasks)
        unknown = [t for t in tasks if t not in _SUPPORTED_TASKS]
        if unknown:
            raise ValueError(f"Unknown COCOEvaluator tasks {unknown}; supported: {list(_SUPPORTED_TASKS)}")
        if max_dets_per_image < 1:
            raise ValueError(f"max_dets_per_image must be >= 1, got {max_dets_per_image}")
        self._tasks = tasks
        self._max_dets = max_dets_per_image
        self._output_dir = output_dir
        self._distributed = distributed
        self._area_ranges = _check_area_ranges(area_ranges)
        self._json_file, mapping, class_names = _resolve_dataset(dataset_name, json_file)
        self._backend = coco_backend(backend)
        logger.debug("COCO metrics computed with %s", self._backend.name)
        with _pycocotools_to_debug_log():
            self._coco_gt = self._backend.coco(self._json_file)
        if mapping is None:  # contiguous ids follow the sorted json category ids, as in the catalog
            categories = sorted(self._coco_gt.dataset.get("categories", []), key=lambda c: c["id"])
            mapping = {c["id"]: i for i, c in enumerate(categories)}
        if class_names is None:
            categories = self._coco_gt.loadCats(sorted(mapping, key=mapping.__getitem__))
            class_names = [c["name"] for c in categories]
        self._dataset_to_contiguous = mapping
        self._contiguous_to_dataset_id = {c: d for d, c in mapping.items()}
        self._class_names = class_names
        self._kpt_oks_sigmas = None
        if "keypoints" in tasks:
            self._kpt_oks_sigmas = self._resolve_sigmas(kpt_oks_sigmas, dataset_name)
        self.reset()

    def _resolve_sigmas(self, sigmas: Sequence[float] | None, dataset_name: str | None) -> np.ndarray:
        """The keypoint task's OKS sigmas: given, from the metadata, or COCO's for its person keypoints."""
        json_meta = keypoint_metadata(self._coco_gt.dataset.get("categories", []))
        if not json_meta:
            raise ValueError(f"The keypoints task needs keypoint annotations, but no category of {self._json_file} "
                             "lists 'keypoints'")
        if sigmas is None and dataset_name is not None:
            sigmas = MetadataCatalog.get(dataset_name).get("keypoint_oks_sigmas")
        if sigmas is None:
            sigmas = json_meta.get("keypoint_oks_sigmas")
        num = len(json_meta["keypoint_names"])
        if sigmas is None or len(sigmas) != num:
            raise ValueError(f"The keypoints task needs {num} OKS sigmas (kpt_oks_sigmas=, or keypoint_oks_sigmas in "
                             f"the dataset's metadata) for the keypoints of {self._json_file}; got {sigmas}")
        return np.asarray(sigmas, dtype=np.float64)

    def reset(self) -> None:
        self._predictions: list[dict[str, Any]] = []
        self._warned_no_masks = False

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        for inp, out in zip(inputs, outputs):
            if "image_id" not in inp or "instances" not in out:
                raise KeyError(
                    "COCOEvaluator needs 'image_id' in every input and 'instances' in every output; "
                    f"got input keys {sorted(inp)} and output keys {sorted(out)}."
                )
            instances = out["instances"]
            has_masks = instances.get("masks") is not None
            if "segm" in self._tasks and not has_masks and not self._warned_no_masks:
                logger.warning("Model outputs have no 'masks'; the segm task is skipped for them.")
                self._warned_no_masks = True
            image_id = int(inp["image_id"])
            coco = instances_to_coco_json(instances, image_id, self._contiguous_to_dataset_id)
            self._predictions.append({"image_id": image_id, "instances": coco, "has_masks": has_masks})

    def evaluate(self, img_ids: list[int] | None = None) -> Results:
        """Evaluate all processed images (or only ``img_ids``) for each task.

        Returns:
            ``{task: {"AP", "AP50", "AP75", "APs", "APm", "APl", "AP-<class>"...}, "gt_counts":
            {"small": n, ...}}`` on the main process; ``{}`` on other ranks or with no images.
        """
        predictions = self._predictions
        if self._distributed:
            comm.synchronize()
            predictions = [p for part in comm.gather(predictions, dst=0) for p in part]
            if not comm.is_main_process():
                return {}
        if not predictions:
            logger.warning("COCOEvaluator received no images to evaluate.")
            return {}
        if img_ids is None:
            img_ids = sorted({p["image_id"] for p in predictions})
        self._check_image_ids(img_ids)
        results = [r for p in predictions for r in p["instances"]]
        self._write_results(results)
        out: Results = {}
        for task in self._tasks:
            task_results = task_results_for(results, task)
            if task == "segm" and not any(p["has_masks"] for p in predictions):
                logger.warning("No model output had masks: the segm task is not evaluated.")
                continue
            if task == "keypoints" and not any("keypoints" in r for r in results) and results:
                logger.warning("No model output had keypoints: the keypoints task is not evaluated.")
                continue
            out[task] = self._evaluate_task(task, task_results, img_ids)
        out["gt_counts"] = self._gt_counts(img_ids)
        self._write_json(METRICS_FILE, out)
        logger.info(
            "COCO evaluation results (AP in %%) on %d images; non-crowd ground truth per size: %s\n%s",
            len(img_ids), out["gt_counts"], format_results_table(out),
        )
        return out

    def _check_image_ids(self, img_ids: list[int]) -> None:
        missing = sorted(set(img_ids) - set(self._coco_gt.getImgIds()))
        if missing:
            raise ValueError(f"Image ids {missing[:10]} are not in the ground-truth file {self._json_file}.")

    def _write_results(self, results: list[dict[str, Any]]) -> None:
        if self._write_json(RESULTS_FILE, results):
            logger.info("Wrote %d COCO results to %s", len(results), os.path.join(self._output_dir, RESULTS_FILE))

    def _write_json(self, name: str, data: Any) -> bool:
        """Write ``data`` to ``output_dir/name``; False when there is no output directory."""
        if not self._output_dir:
            return False
        os.makedirs(self._output_dir, exist_ok=True)
        with open(os.path.join(self._output_dir, name), "w") as f:
            json.dump(data, f)
        return True

    def _make_coco_eval(self, task: str, task_results: list[dict], img_ids: list[int]) -> Any:
        """The backend's ``COCOeval`` for one task, set up but not yet run."""
        with _pycocotools_to_debug_log():
            if task_results:
                coco_dt = self._coco_gt.loadRes(task_results)
            else:
                # loadRes([]) raises; an empty result set still yields 0 AP where there is ground truth.
                coco_dt = self._backend.coco()
                coco_dt.dataset = {"images": list(self._coco_gt.dataset["images"]),
                                   "categories": list(self._coco_gt.dataset["categories"]),
                                   "annotations": []}
                coco_dt.createIndex()
        coco_eval = self._backend.cocoeval(self._coco_gt, coco_dt, iouType=task)
        coco_eval.params.imgIds = list(img_ids)
        coco_eval.params.maxDets = [1, 10, self._max_dets]
        if task == "keypoints":
            coco_eval.params.maxDets = [_KEYPOINT_MAX_DETS]
            coco_eval.params.kpt_oks_sigmas = self._kpt_oks_sigmas
        if self._area_ranges is not None:
            ranges = {"all": [0.0, 1e10], **self._area_ranges}
            coco_eval.params.areaRngLbl = list(ranges)
            coco_eval.params.areaRng = [ranges[label] for label in ranges]
        return coco_eval

    def _evaluate_task(self, task: str, task_results: list[dict], img_ids: list[int]) -> dict[str, float]:
        if not task_results:
            logger.warning("No %s predictions on %d images: AP is 0 wherever there is ground truth.",
                           task, len(img_ids))
        coco_eval = self._make_coco_eval(task, task_results, img_ids)
        with _pycocotools_to_debug_log():
            coco_eval.evaluate()
            coco_eval.accumulate()
        max_dets = _KEYPOINT_MAX_DETS if task == "keypoints" else self._max_dets
        metrics = summary_metrics(coco_eval, max_dets)
        per_category = per_category_ap(coco_eval, self._category_names(), max_dets)
        logger.info("Per-category %s AP (in %%):\n%s", task, format_per_category_table(per_category))
        metrics.update(per_category)
        return metrics

    def _category_names(self) -> dict[int, str]:
        """json category id -> class name."""
        return {d: self._class_names[c] for d, c in self._dataset_to_contiguous.items()}

    def _gt_counts(self, img_ids: list[int]) -> dict[str, int]:
        """Non-crowd ground-truth instances per size bucket, by the annotations' ``area`` field."""
        ranges = self._area_ranges or _COCO_SIZE_RANGES
        anns = self._coco_gt.loadAnns(self._coco_gt.getAnnIds(imgIds=img_ids))
        areas = [a["area"] for a in anns if not a.get("iscrowd", 0) and not a.get("ignore", 0)]
        return {label: sum(lo <= area <= hi for area in areas) for label, (lo, hi) in ranges.items()}
