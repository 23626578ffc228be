"""Copy-paste augmentation in detectron2's data pipeline.

:class:`CopyPasteDatasetMapper` is detectron2's ``DatasetMapper`` that, after its augmentations
(so that "small" is measured at the training scale), runs paste operations on the mapped image and
its instances: :class:`SmallObjectPaste` (Kisantal et al. 2019) and :class:`CrossImagePaste`
(Ghiasi et al. 2021), both thin callers of :mod:`maskrcnn_ext.data.copy_paste`. Boxes, masks and
classes stay consistent; crowd regions are never pasted over.

:func:`register_toolkit_dataset` makes a dataset of this toolkit (its dicts are already in detectron2's
format, but for the box mode's spelling) loadable through detectron2's catalogs, e.g. the synthetic
shapes splits that the CPU-scale LazyConfigs train on.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import DatasetCatalog, DatasetMapper, MetadataCatalog
from detectron2.data import detection_utils as utils
from detectron2.structures import BitMasks, Boxes, BoxMode, Instances

from ..data import catalog as toolkit_catalog
from ..data.copy_paste import PasteResult, cross_image_copy_paste, small_object_copy_paste

__all__ = ["CopyPasteDatasetMapper", "CrossImagePaste", "SmallObjectPaste", "crowd_region", "pastes_from_config",
           "register_toolkit_dataset"]

logger = logging.getLogger(__name__)

# (H, W, 3) uint8 image, (N, H, W) bool masks, (N,) classes, (N, 4) XYXY boxes, (H, W) crowd or None, rng
PasteOp = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, "np.ndarray | None", np.random.Generator],
                   PasteResult]


def _check_probability(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")


class SmallObjectPaste:
    """Paste each small instance ``copies`` more times in its own image, where no instance and no
    crowd region lies (:func:`~maskrcnn_ext.data.copy_paste.small_object_copy_paste`).

    Args:
        area_threshold: instances with fewer mask pixels are small (COCO's 32²), at the mapped size.
        copies, scale_range, max_rotation, blend_sigma, max_tries: as ``small_object_copy_paste``.
        p: probability of pasting into an image at all.
    """

    def __init__(self, *, area_threshold: float = 32.0 ** 2, copies: int = 1,
                 scale_range: tuple[float, float] = (0.8, 1.2), max_rotation: float = 15.0, blend_sigma: float = 0.0,
                 max_tries: int = 20, p: float = 1.0) -> None:
        _check_probability(p)
        if copies < 0:
            raise ValueError(f"copies must be >= 0, got {copies}")
        self.p = p
        self.options = dict(area_threshold=area_threshold, copies=copies, scale_range=tuple(scale_range),
                            max_rotation=max_rotation, blend_sigma=blend_sigma, max_tries=max_tries)

    def __repr__(self) -> str:
        return f"SmallObjectPaste({', '.join(f'{k}={v}' for k, v in {**self.options, 'p': self.p}.items())})"

    def __call__(self, image, masks, classes, boxes, crowd, rng) -> PasteResult:
        return small_object_copy_paste(image, masks, classes, rng, boxes=boxes, crowd=crowd, **self.options)


class CrossImagePaste:
    """Paste instances of another training image over this one
    (:func:`~maskrcnn_ext.data.copy_paste.cross_image_copy_paste`).

    Args:
        dataset: detectron2 dataset name(s) to draw sources from (usually the training set), or a
            list of dataset dicts. Records are loaded once per process, on first use.
        image_format: the mapper's ``image_format``, so source pixels arrive in the same channel order.
        max_instances, scale_range, max_rotation, blend_sigma, min_visible_area, max_tries: as
            ``cross_image_copy_paste``.
        p: probability of pasting into an image at all.
    """

    def __init__(self, *, dataset: str | Sequence[str] | Sequence[dict], image_format: str = "BGR",
                 max_instances: int = 10, scale_range: tuple[float, float] = (0.8, 1.2), max_rotation: float = 0.0,
                 blend_sigma: float = 1.0, min_visible_area: int = 16, max_tries: int = 20, p: float = 0.5) -> None:
        _check_probability(p)
        if max_instances < 1:
            raise ValueError(f"max_instances must be >= 1, got {max_instances}")
        self.dataset = dataset
        self.image_format = image_format
        self.p = p
        self.options = dict(max_instances=max_instances, scale_range=tuple(scale_range), max_rotation=max_rotation,
                            blend_sigma=blend_sigma, min_visible_area=min_visible_area, max_tries=max_tries)
        self._records: list[dict] | None = None

    def __repr__(self) -> str:
        names = self.dataset if isinstance(self.dataset, str) else f"<{len(self.dataset)} entries>"
        options = ", ".join(f"{k}={v}" for k, v in self.options.items())
        return f"CrossImagePaste(dataset={names!r}, image_format={self.image_format!r}, {options}, p={self.p})"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_records": None}  # data-loader workers load their own copy

    def records(self) -> list[dict]:
        if self._records is None:
            if isinstance(self.dataset, str):
                records = list(DatasetCatalog.get(self.dataset))
            elif all(isinstance(d, str) for d in self.dataset):
                records = [r for name in self.dataset for r in DatasetCatalog.get(name)]
            else:
                records = list(self.dataset)
            if not records:
                raise ValueError(f"CrossImagePaste: dataset {self.dataset!r} has no records to paste from")
            self._records = records
        return self._records

    def __call__(self, image, masks, classes, boxes, crowd, rng) -> PasteResult:
        records = self.records()
        record = records[int(rng.integers(len(records)))]
        source = utils.read_image(record["file_name"], format=self.image_format)
        if source.shape[:2] != (record["height"], record["width"]):
            logger.warning("CrossImagePaste: %s decodes to %dx%d but is annotated %dx%d; not pasting from it",
                           record["file_name"], source.shape[1], source.shape[0], record["width"], record["height"])
            return PasteResult(image, masks, classes, np.arange(len(masks)), boxes)
        things = [a for a in record.get("annotations", []) if not a.get("iscrowd", 0) and "segmentation" in a]
        if things:
            parsed = utils.annotations_to_instances(things, source.shape[:2], mask_format="bitmask")
            source_masks, source_classes = parsed.gt_masks.tensor.numpy(), parsed.gt_classes.numpy()
        else:
            source_masks, source_classes = np.zeros((0, *source.shape[:2]), dtype=bool), np.zeros(0, dtype=np.int64)
        return cross_image_copy_paste(image, masks, classes, source, source_masks, source_classes, rng, boxes=boxes,
                                      crowd=crowd, **self.options)


class CopyPasteDatasetMapper(DatasetMapper):
    """detectron2's ``DatasetMapper`` followed, in training, by paste operations on its output.

    Each operation runs with its probability ``p`` on the image and instances as the augmentations
    left them; instances then carry ``gt_boxes``, ``gt_classes`` and ``gt_masks`` (``BitMasks``).
    Randomness comes from numpy's global generator, which detectron2 seeds per data-loader worker.

    Args:
        is_train: as ``DatasetMapper``; the pastes run only in training.
        pastes: paste operations, applied in order, e.g. ``[SmallObjectPaste(), CrossImagePaste(...)]``:
            callables ``(image, masks, classes, boxes, crowd, rng) -> PasteResult`` with a probability
            attribute ``p``.
        kwargs: ``DatasetMapper``'s (``augmentations``, ``image_format``, ``use_instance_mask``, ...).
            Pasting needs ``use_instance_mask=True`` and ``instance_mask_format="bitmask"`` (the
            default here), and no keypoints.
    """

    @configurable
    def __init__(self, is_train: bool = True, *, pastes: Sequence[PasteOp] = (), **kwargs) -> None:
        kwargs.setdefault("instance_mask_format", "bitmask")
        super().__init__(is_train, **kwargs)
        self.pastes = list(pastes) if is_train else []
        if self.pastes:
            self._check_can_paste()
        logger.info("[CopyPasteDatasetMapper] pastes after the augmentations: %s", self.pastes)

    def _check_can_paste(self) -> None:
        if not self.use_instance_mask:
            raise ValueError("CopyPasteDatasetMapper pastes instance masks: set use_instance_mask=True")
        if self.instance_mask_format != "bitmask":
            raise ValueError("CopyPasteDatasetMapper produces pixel masks: set instance_mask_format='bitmask' "
                             f"(got {self.instance_mask_format!r})")
        if self.use_keypoint:
            raise ValueError("CopyPasteDatasetMapper cannot paste keypoints: set use_keypoint=False")
        for op in self.pastes:
            image_format = getattr(op, "image_format", self.image_format)
            if image_format != self.image_format:
                raise ValueError(f"{op!r} reads images as {image_format!r} but the mapper's image_format is "
                                 f"{self.image_format!r}; pasted pixels would have their channels swapped")

    @classmethod
    def from_config(cls, cfg, is_train: bool = True) -> dict:
        """yacs: ``INPUT.SMALL_OBJECT_PASTE`` / ``INPUT.CROSS_IMAGE_PASTE`` (added by
        :func:`~maskrcnn_ext.d2.add_maskrcnn_ext_config`) besides detectron2's keys."""
        ret = super().from_config(cfg, is_train)
        ret["pastes"] = pastes_from_config(cfg) if is_train else []
        if ret["pastes"]:
            ret["instance_mask_format"] = "bitmask"
        return ret

    def _transform_annotations(self, dataset_dict: dict, transforms, image_shape: tuple[int, int]) -> None:
        # The parent drops crowd annotations, so their region is taken (and transformed) first.
        crowd = crowd_region(dataset_dict["annotations"], transforms, image_shape) if self.pastes else None
        super()._transform_annotations(dataset_dict, transforms, image_shape)
        if not self.pastes:
            return
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        for op in self.pastes:
            if rng.random() < op.p:
                self._paste(op, dataset_dict, crowd, rng)

    @staticmethod
    def _paste(op: PasteOp, dataset_dict: dict, crowd: np.ndarray | None, rng: np.random.Generator) -> None:
        """Run one paste on ``dataset_dict["image"]`` (``(3, H, W)`` uint8) and its ``instances``."""
        instances = dataset_dict["instances"]
        height, width = instances.image_size
        if instances.has("gt_masks"):
            masks = instances.gt_masks.tensor.numpy()
        elif len(instances) == 0:  # annotations_to_instances sets no masks for an image without instances
            masks = np.zeros((0, height, width), dtype=bool)
        else:
            raise ValueError(f"{dataset_dict.get('file_name')}: copy-paste needs a segmentation on every instance")
        image = np.ascontiguousarray(dataset_dict["image"].permute(1, 2, 0).numpy())
        out = op(image, masks, instances.gt_classes.numpy(), instances.gt_boxes.tensor.numpy(), crowd, rng)
        dataset_dict["image"] = torch.from_numpy(np.ascontiguousarray(out.image.transpose(2, 0, 1)))
        dataset_dict["instances"] = Instances(
            instances.image_size, gt_boxes=Boxes(torch.from_numpy(out.boxes)),
            gt_classes=torch.from_numpy(out.classes).to(torch.int64), gt_masks=BitMasks(torch.from_numpy(out.masks)))


def crowd_region(annotations: Sequence[dict], transforms, image_shape: tuple[int, int]) -> np.ndarray | None:
    """``(H, W)`` bool union of the crowd annotations after ``transforms``; None without any.

    A crowd annotation without a segmentation counts by its box.
    """
    crowd = [utils.transform_instance_annotations({k: v for k, v in a.items() if k != "keypoints"}, transforms,
                                                  image_shape)
             for a in annotations if a.get("iscrowd", 0)]
    if not crowd:
        return None
    region = np.zeros(image_shape, dtype=bool)
    with_masks = [a for a in crowd if "segmentation" in a]
    if with_masks:
        masks = utils.annotations_to_instances(with_masks, image_shape, mask_format="bitmask").gt_masks.tensor
        region |= masks.any(dim=0).numpy()
    for a in crowd:
        if "segmentation" not in a:
            x0, y0, x1, y1 = BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
            region[int(np.floor(y0)):int(np.ceil(y1)), int(np.floor(x0)):int(np.ceil(x1))] = True
    return region


def pastes_from_config(cfg) -> list[PasteOp]:
    """The paste operations a yacs config enables (see :func:`~maskrcnn_ext.d2.add_maskrcnn_ext_config`)."""
    if "SMALL_OBJECT_PASTE" not in cfg.INPUT:
        return []
    pastes: list[PasteOp] = []
    small, cross = cfg.INPUT.SMALL_OBJECT_PASTE, cfg.INPUT.CROSS_IMAGE_PASTE
    if small.ENABLED:
        pastes.append(SmallObjectPaste(area_threshold=small.AREA_THRESHOLD, copies=small.COPIES,
                                       scale_range=tuple(small.SCALE_RANGE), max_rotation=small.MAX_ROTATION,
                                       blend_sigma=small.BLEND_SIGMA, p=small.PROB))
    if cross.ENABLED:
        pastes.append(CrossImagePaste(dataset=list(cfg.DATASETS.TRAIN), image_format=cfg.INPUT.FORMAT,
                                      max_instances=cross.MAX_INSTANCES, scale_range=tuple(cross.SCALE_RANGE),
                                      max_rotation=cross.MAX_ROTATION, blend_sigma=cross.BLEND_SIGMA,
                                      min_visible_area=cross.MIN_VISIBLE_AREA, p=cross.PROB))
    return pastes


# Metadata a detectron2 evaluator or visualizer reads; the other keys stay with the toolkit's catalog.
_METADATA_KEYS = ("thing_classes", "thing_dataset_id_to_contiguous_id", "json_file", "image_root", "evaluator_type")


def _to_detectron2_record(record: dict) -> dict:
    """A toolkit dataset dict as detectron2 reads it: the box mode as ``BoxMode`` (the toolkit spells
    it as a string); keypoints are left out, as detectron2 expects them shifted by half a pixel."""
    annotations = []
    for ann in record.get("annotations", []):
        ann = {k: v for k, v in ann.items() if k not in ("keypoints", "num_keypoints")}
        if isinstance(ann.get("bbox_mode"), str):
            ann["bbox_mode"] = BoxMode[ann["bbox_mode"]]
        annotations.append(ann)
    return {**record, "annotations": annotations}


def register_toolkit_dataset(name: str, *, load: Callable[[], list[dict]] | None = None,
                             metadata: dict[str, Any] | None = None) -> None:
    """Register a dataset of this toolkit into detectron2's ``DatasetCatalog`` and ``MetadataCatalog``.

    Nothing is loaded until detectron2 first asks for the dataset. A name detectron2 already holds is
    left as it is, so that calling this again (every launcher start does) is harmless.

    Args:
        name: the dataset's name in both frameworks, e.g. ``"shapes_ablation_train"``.
        load: returns the toolkit's dataset dicts; default: the toolkit's catalog entry for ``name``
            (``maskrcnn_ext.data.DatasetCatalog``, where the shapes splits and COCO are registered).
        metadata: detectron2 metadata; default: the toolkit's for ``name`` (thing classes, the json's
            category id map, ``json_file`` and ``image_root``, which detectron2's ``COCOEvaluator`` reads).
    """
    if name in DatasetCatalog.list():
        logger.debug("detectron2 already has a dataset %r; keeping it", name)
        return
    loader = load if load is not None else (lambda: toolkit_catalog.DatasetCatalog.get(name))
    DatasetCatalog.register(name, lambda: [_to_detectron2_record(r) for r in loader()])
    if metadata is None:
        source = toolkit_catalog.MetadataCatalog.get(name)
        metadata = {key: source.get(key) for key in _METADATA_KEYS if source.get(key) is not None}
    MetadataCatalog.get(name).set(**metadata)
