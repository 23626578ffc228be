"""Instance-level augmentations as ``torchvision.transforms.v2`` transforms for the mapper.

Each is a thin wrapper: it converts the sample to numpy, calls the framework-agnostic functions in
:mod:`maskrcnn_ext.data.copy_paste`, and rebuilds the tv_tensors. Randomness is drawn from torch's
generator, which the mapper seeds per sample, so a (record, seed) pair gives the same result in any
data-loader worker or DDP rank.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from .build import get_dataset_records
from .copy_paste import PasteResult, cross_image_copy_paste, small_object_copy_paste
from .image_io import read_image
from .mapper import CROWD_CLASS, annotations_to_targets

__all__ = ["CrossImageCopyPaste", "RandomHorizontalFlip", "SmallObjectCopyPaste"]

logger = logging.getLogger(__name__)


class RandomHorizontalFlip(v2.Transform):
    """Horizontal flip of the mapper's sample that also swaps left and right keypoints.

    Image, boxes and masks flip as with ``v2.RandomHorizontalFlip``. Keypoints (the mapper's
    ``keypoints``, continuous coordinates, and ``keypoint_visibility``) go to ``x' = W - x`` (a point
    at the centre of pixel ``i`` lands at the centre of pixel ``W - 1 - i``) and then trade places
    by ``flip_indices``: a left eye seen in a mirror is a right eye.

    Args:
        p: probability of flipping.
        flip_indices: for each keypoint, the keypoint it becomes (e.g.
            ``L(keypoint_flip_indices)(dataset=...)`` in a config); None for data without keypoints.
    """

    def __init__(self, *, p: float = 0.5, flip_indices: list[int] | None = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = p
        self.flip_indices = None if flip_indices is None else list(flip_indices)
        self._flip = v2.RandomHorizontalFlip(p=1.0)

    def extra_repr(self) -> str:
        return f"p={self.p}, flip_indices={self.flip_indices}"

    def forward(self, *inputs: Any) -> Any:
        sample = inputs[0] if len(inputs) == 1 else inputs
        if torch.rand(()) >= self.p:
            return sample
        if not isinstance(sample, dict) or "keypoints" not in sample:
            return self._flip(sample)
        if self.flip_indices is None or len(self.flip_indices) != sample["keypoints"].shape[-2]:
            raise ValueError(f"RandomHorizontalFlip needs flip_indices for the sample's "
                             f"{sample['keypoints'].shape[-2]} keypoints, got {self.flip_indices}")
        keypoints = sample["keypoints"]
        flipped = self._flip({k: v for k, v in sample.items() if k != "keypoints"})
        xy = keypoints.as_subclass(torch.Tensor).clone()
        xy[..., 0] = keypoints.canvas_size[1] - xy[..., 0]
        order = torch.tensor(self.flip_indices)
        flipped["keypoints"] = tv_tensors.wrap(xy[:, order], like=keypoints)
        flipped["keypoint_visibility"] = sample["keypoint_visibility"][:, order]
        return flipped


def _numpy_rng() -> np.random.Generator:
    """A numpy generator seeded from torch's, so the mapper's per-sample seed governs it."""
    return np.random.default_rng(int(torch.randint(0, 2**62, ())))


class _InstancePaste(v2.Transform):
    """Base of the paste transforms: the sample dict in and out, crowd regions kept aside.

    Subclasses implement :meth:`paste` on numpy arrays. Instances whose mask a paste left unchanged
    keep their annotated box; changed and new ones get the box of their visible mask.
    """

    needs_crowd = True  # the mapper then passes crowd regions as instances of class CROWD_CLASS

    def __init__(self, *, p: float) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = p

    def paste(self, image: np.ndarray, masks: np.ndarray, classes: np.ndarray, boxes: np.ndarray,
              crowd: np.ndarray | None, rng: np.random.Generator) -> PasteResult:
        """``(H, W, 3)`` uint8, ``(N, H, W)`` bool, ``(N,)``, XYXY ``(N, 4)`` and crowd ``(H, W)`` (or
        None) in; see :class:`~maskrcnn_ext.data.copy_paste.PasteResult` for what comes out."""
        raise NotImplementedError

    def forward(self, *inputs: Any) -> Any:
        sample = inputs[0] if len(inputs) == 1 else inputs
        if not isinstance(sample, dict) or "masks" not in sample:
            raise TypeError(f"{type(self).__name__} needs the mapper's sample dict with instance masks "
                            "(DatasetMapper(use_masks=True))")
        if sample["image"].dtype != torch.uint8:
            raise TypeError(f"{type(self).__name__} needs a uint8 image, got {sample['image'].dtype}")
        if torch.rand(()) >= self.p:
            return sample
        masks = _bool_view(sample["masks"].as_subclass(torch.Tensor))
        labels = sample["labels"].numpy()
        xyxy = v2.functional.convert_bounding_box_format(sample["boxes"], new_format=tv_tensors.BoundingBoxFormat.XYXY)
        boxes = xyxy.as_subclass(torch.Tensor).numpy()
        is_crowd = labels == CROWD_CLASS
        crowd = masks[is_crowd].any(axis=0) if is_crowd.any() else None
        things = ~is_crowd if crowd is not None else slice(None)  # indexing copies: only when needed
        # An HWC view of the CHW image: the paste keeps that memory layout, so no transposed copy is
        # made on the way in or out.
        image = sample["image"].as_subclass(torch.Tensor).permute(1, 2, 0).numpy()
        out = self.paste(image, masks[things], labels[things], boxes[things], crowd, _numpy_rng())
        if out.image is image:  # nothing was pasted
            return sample
        out_masks, out_labels, out_boxes = out.masks, out.classes, out.boxes
        if crowd is not None:  # crowd regions go on to the model's ignore handling unchanged
            out_masks = np.concatenate([out_masks, masks[is_crowd]])
            out_labels = np.concatenate([out_labels, labels[is_crowd]])
            out_boxes = np.concatenate([out_boxes, boxes[is_crowd]])
        height, width = out.image.shape[:2]
        return {**sample,
                "image": tv_tensors.Image(torch.from_numpy(out.image).permute(2, 0, 1)),
                "masks": tv_tensors.Mask(_as_dtype(out_masks, sample["masks"].dtype)),
                "labels": torch.from_numpy(out_labels),
                "boxes": tv_tensors.wrap(torch.from_numpy(out_boxes), like=xyxy, canvas_size=(height, width))}


def _bool_view(masks: torch.Tensor) -> np.ndarray:
    """``(N, H, W)`` masks as a numpy bool array; without a copy for the mapper's 0/1 uint8 masks."""
    if masks.dtype == torch.uint8:
        return masks.numpy().view(np.bool_)  # valid because the mapper's masks hold only 0 and 1
    return masks.to(torch.bool).numpy()


def _as_dtype(masks: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    if dtype == torch.uint8:
        return torch.from_numpy(masks.view(np.uint8))
    return torch.from_numpy(masks).to(dtype)


class SmallObjectCopyPaste(_InstancePaste):
    """Paste each small instance ``copies`` more times in its own image (Kisantal et al. 2019), where
    no instance and no crowd region lies.

    Place it after the resize, so that ``area_threshold`` is measured at the training scale.

    Args:
        area_threshold: instances with fewer mask pixels are small (default COCO's 32²).
        copies: extra copies of each small instance.
        scale_range: random rescale of each copy.
        max_rotation: random rotation of each copy, degrees either way.
        blend_sigma: Gaussian blur of the paste's alpha (pixels); 0 pastes hard-edged.
        max_tries: random positions tried per copy before it is skipped.
        p: probability of augmenting an image at all.
    """

    def __init__(self, *, area_threshold: float = 32.0 ** 2, copies: int = 1,
                 scale_range: tuple[float, float] = (0.8, 1.2), max_rotation: float = 15.0,
                 blend_sigma: float = 0.0, max_tries: int = 20, p: float = 1.0) -> None:
        super().__init__(p=p)
        if copies < 0:
            raise ValueError(f"copies must be >= 0, got {copies}")
        self.options = dict(area_threshold=area_threshold, copies=copies, scale_range=tuple(scale_range),
                            max_rotation=max_rotation, blend_sigma=blend_sigma, max_tries=max_tries)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in {**self.options, "p": self.p}.items())

    def paste(self, image, masks, classes, boxes, crowd, rng):
        return small_object_copy_paste(image, masks, classes, rng, boxes=boxes, crowd=crowd, **self.options)


class CrossImageCopyPaste(_InstancePaste):
    """Paste instances of another training image onto this one (Simple Copy-Paste, Ghiasi et al. 2021).

    The source is a random record of ``dataset``, read in whatever process runs the mapper (records
    are loaded there once), so it works with data-loader workers and under DDP. A random subset of
    its non-crowd instances is cut out, brought to this image's scale (the ratio of the two images'
    shorter sides, times a random factor from ``scale_range``) and pasted at random positions over
    whatever is there, except crowd regions; instances they cover lose those pixels and are dropped
    when fewer than ``min_visible_area`` remain visible.

    Args:
        dataset: registered training dataset to draw sources from (usually the one being trained on),
            or a list of dataset records.
        max_instances: at most this many instances pasted per image.
        min_visible_area: drop an instance the pastes leave with fewer visible pixels.
        scale_range, max_rotation, blend_sigma, max_tries: as :class:`SmallObjectCopyPaste`.
        p: probability of augmenting an image at all.
    """

    def __init__(self, *, dataset: str | list[dict], max_instances: int = 10, scale_range: tuple[float, float] = (0.8, 1.2),
                 max_rotation: float = 0.0, blend_sigma: float = 1.0, min_visible_area: int = 16,
                 max_tries: int = 20, p: float = 0.5) -> None:
        super().__init__(p=p)
        if max_instances < 1:
            raise ValueError(f"max_instances must be >= 1, got {max_instances}")
        self.dataset = dataset
        self.max_instances = max_instances
        self.scale_range = tuple(scale_range)
        self.paste_options = dict(blend_sigma=blend_sigma, min_visible_area=min_visible_area, max_tries=max_tries)
        self.max_rotation = max_rotation
        self._records: list[dict] | None = None

    def extra_repr(self) -> str:
        return (f"dataset={self.dataset!r}, max_instances={self.max_instances}, scale_range={self.scale_range}, "
                f"max_rotation={self.max_rotation}, p={self.p}, " +
                ", ".join(f"{k}={v}" for k, v in self.paste_options.items()))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_records": None}  # workers load their own copy instead of pickling it

    def records(self) -> list[dict]:
        if self._records is None:
            self._records = get_dataset_records(self.dataset)
        return self._records

    def paste(self, image, masks, classes, boxes, crowd, rng):
        record = self.records()[int(rng.integers(len(self.records())))]
        source = read_image(record["file_name"])
        height, width = source.shape[:2]
        if (height, width) != (record["height"], record["width"]):
            logger.warning("CrossImageCopyPaste: %s decodes to %dx%d but is annotated %dx%d; not pasting from it",
                           record["file_name"], width, height, record["width"], record["height"])
            return PasteResult(image, masks, classes, np.arange(len(masks)), boxes)
        targets = annotations_to_targets(record.get("annotations", []), height, width)
        return cross_image_copy_paste(image, masks, classes, source, targets["masks"].numpy(),
                                      targets["classes"].numpy(), rng, boxes=boxes, crowd=crowd,
                                      max_instances=self.max_instances, scale_range=self.scale_range,
                                      max_rotation=self.max_rotation, **self.paste_options)
