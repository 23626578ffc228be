"""Turn a dataset record into the model's input dict: read, decode targets, augment, to tensors."""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import pycocotools.mask as mask_util
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from maskrcnn_ext.data.image_io import ImageReadError, read_image
from maskrcnn_ext.data.keypoints import keypoints_array

logger = logging.getLogger(__name__)

__all__ = ["CROWD_CLASS", "DatasetMapper", "annotations_to_targets", "segmentation_to_mask"]


def segmentation_to_mask(segm: Any, height: int, width: int) -> np.ndarray:
    """Decode COCO polygons or RLE (compressed or uncompressed counts) to a mask.

    Args:
        segm: list of flat ``[x0, y0, x1, y1, ...]`` polygons, or an RLE dict ``{size, counts}``.
        height, width: image size the segmentation refers to.

    Returns:
        uint8 array (H, W) with values in {0, 1}.
    """
    if isinstance(segm, list):
        rle = mask_util.merge(mask_util.frPyObjects(segm, height, width))
    elif isinstance(segm, dict):
        if isinstance(segm.get("counts"), list):
            rle = mask_util.frPyObjects(segm, height, width)  # uncompressed -> compressed
        else:
            rle = segm
    else:
        raise TypeError(f"segmentation must be a polygon list or an RLE dict, got {type(segm).__name__}")
    mask = mask_util.decode(rle)
    if mask.shape != (height, width):
        raise ValueError(f"segmentation decodes to size {mask.shape}, expected {(height, width)}")
    return mask


# Class of crowd regions carried through the augmentations for those that must avoid them; they
# never reach the model.
CROWD_CLASS = -1


def annotations_to_targets(
    annotations: list[dict], height: int, width: int, *, use_masks: bool = True, keep_crowd: bool = False,
    num_keypoints: int = 0,
) -> dict[str, torch.Tensor]:
    """Stack the non-crowd annotations of one image into target tensors.

    Args:
        annotations: dataset-record annotations (XYXY absolute boxes).
        height, width: image size.
        use_masks: also decode masks.
        keep_crowd: also stack the crowd regions, with class ``CROWD_CLASS``.
        num_keypoints: K > 0 also stacks the keypoints (an annotation without any has K unlabelled ones).

    Returns:
        ``boxes`` float32 (N, 4) XYXY, ``classes`` int64 (N,), with ``use_masks`` ``masks`` uint8
        (N, H, W), and with ``num_keypoints`` ``keypoints`` float32 (N, K, 3) ``(x, y, v)`` in
        continuous coordinates (see :func:`~maskrcnn_ext.data.keypoints.keypoints_array`).

    Raises:
        ValueError: an annotation's keypoints are not K triplets.
    """
    anns = [a for a in annotations if keep_crowd or not a.get("iscrowd", 0)]
    boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
    classes = [CROWD_CLASS if a.get("iscrowd", 0) else a["category_id"] for a in anns]
    targets = {"boxes": boxes, "classes": torch.tensor(classes, dtype=torch.int64)}
    if use_masks:
        masks = [segmentation_to_mask(a.get("segmentation"), height, width) for a in anns]
        stacked = np.stack(masks) if masks else np.zeros((0, height, width), np.uint8)
        targets["masks"] = torch.from_numpy(stacked)
    if num_keypoints:
        targets["keypoints"] = torch.from_numpy(_stack_keypoints(anns, num_keypoints))
    return targets


def _stack_keypoints(annotations: list[dict], num_keypoints: int) -> np.ndarray:
    arrays = []
    for a in annotations:
        flat = a.get("keypoints") or [0.0] * (3 * num_keypoints)
        if len(flat) != 3 * num_keypoints:
            raise ValueError(f"an annotation has {len(flat)} keypoint values, expected {3 * num_keypoints} "
                             f"({num_keypoints} keypoints)")
        arrays.append(keypoints_array(flat, num_keypoints))
    return np.stack(arrays) if arrays else np.zeros((0, num_keypoints, 3), np.float32)


class DatasetMapper:
    """Map a dataset record to the model-input dict.

    Augmentations are ``torchvision.transforms.v2`` transforms; they receive the image, boxes and
    masks together, so geometry stays consistent. Instances whose box becomes empty are removed.
    An augmentation with a true ``needs_crowd`` attribute (e.g. copy-paste, which must not paste
    over crowd regions) also receives the crowd regions as instances of class ``CROWD_CLASS``;
    they are removed before the model sees the sample.

    Keypoints travel as a ``tv_tensors.KeyPoints`` ``(N, K, 2)`` beside their visibility, so the
    geometric transforms move them. A horizontal flip must also swap left and right keypoints, which
    only :class:`~maskrcnn_ext.data.augmentations.RandomHorizontalFlip` (given the flip indices) does;
    torchvision's own flip is refused with keypoints. Keypoints that end up outside the image become
    unlabelled (v = 0).
    """

    def __init__(self, *, is_train: bool, augmentations: Sequence[Any] = (), use_masks: bool = True,
                 num_keypoints: int = 0) -> None:
        """
        Args:
            is_train: load and transform annotations into ``instances``.
            augmentations: v2 transforms applied in order; they must keep the image uint8.
            use_masks: decode masks into ``instances["masks"]`` (training only).
            num_keypoints: K > 0 loads ``instances["keypoints"]`` (N, K, 3) (training only).

        Raises:
            ValueError: keypoints with torchvision's horizontal flip (it cannot swap left and right)
                or with a transform that adds instances (copy-paste).
        """
        self.is_train = is_train
        self.use_masks = use_masks
        self.num_keypoints = num_keypoints
        self.augmentations = list(augmentations)
        if num_keypoints and is_train:
            _check_keypoint_transforms(self.augmentations)
        self.keep_crowd = is_train and use_masks and any(_needs_crowd(a) for a in self.augmentations)
        steps = list(self.augmentations)
        if is_train:
            # Clamp first: geometric transforms may push boxes off the canvas, which Sanitize only
            # removes once they have no area left inside it.
            steps += [v2.ClampBoundingBoxes(), v2.SanitizeBoundingBoxes(min_size=1.0, labels_getter=_labels)]
        self.transform = v2.Compose(steps or [v2.Identity()])  # Compose refuses an empty list

    def __repr__(self) -> str:
        keypoints = f", num_keypoints={self.num_keypoints}" if self.num_keypoints else ""
        return (
            f"DatasetMapper(is_train={self.is_train}, use_masks={self.use_masks}{keypoints}, "
            f"augmentations={self.augmentations})"
        )

    def __call__(self, record: dict, seed: int | None = None) -> dict:
        """Read and transform one record.

        Args:
            record: a dataset record.
            seed: when given, the random transforms run under this torch seed in a forked RNG, so a
                (record, seed) pair gives the same output in any process.

        Returns:
            ``image`` uint8 (3, H', W'), ``height``/``width`` (original size), ``image_id``,
            ``file_name`` and, when training, ``instances`` with ``boxes`` float32 (N, 4),
            ``classes`` int64 (N,) and ``masks`` bool (N, H', W'); with a ``seed``, ``sample_seed``.
        """
        image = self._read(record)
        height, width = image.shape[:2]
        sample: dict[str, Any] = {"image": tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1))}
        if self.is_train:
            sample.update(self._targets(record, height, width))
        if seed is None:
            return self._to_model_input(record, self.transform(sample))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = self.transform(sample)
        # The model seeds its training-time RoI/anchor sampling from it, see GeneralizedRCNN.
        return {**self._to_model_input(record, out), "sample_seed": seed}

    def _read(self, record: dict) -> np.ndarray:
        image = read_image(record["file_name"])
        expected = (record["height"], record["width"])
        if image.shape[:2] != expected:
            raise ImageReadError(
                f"{record['file_name']}: decoded image size (h={image.shape[0]}, w={image.shape[1]}) "
                f"differs from the annotated size (h={expected[0]}, w={expected[1]})"
            )
        return image

    def _targets(self, record: dict, height: int, width: int) -> dict[str, Any]:
        try:
            t = annotations_to_targets(record.get("annotations", []), height, width, use_masks=self.use_masks,
                                       keep_crowd=self.keep_crowd, num_keypoints=self.num_keypoints)
        except ValueError as e:  # e.g. keypoints of another K than the mapper's num_keypoints
            raise ValueError(f"{record['file_name']}: {e}") from e
        out = {
            "boxes": tv_tensors.BoundingBoxes(t["boxes"], format="XYXY", canvas_size=(height, width)),
            "labels": t["classes"],
        }
        if self.use_masks:
            out["masks"] = tv_tensors.Mask(t["masks"])
        if self.num_keypoints:
            out["keypoints"] = tv_tensors.KeyPoints(t["keypoints"][..., :2], canvas_size=(height, width))
            out["keypoint_visibility"] = t["keypoints"][..., 2]
            # Sanitize filters these with the labels, telling which instances' keypoints survive.
            out["instance_ids"] = torch.arange(len(t["classes"]))
        return out

    def _to_model_input(self, record: dict, out: dict[str, Any]) -> dict:
        image = out["image"].as_subclass(torch.Tensor)
        if image.dtype != torch.uint8:
            raise TypeError(
                f"DatasetMapper: augmentations turned the image into {image.dtype}; they must keep uint8 "
                "(normalization happens inside the model)"
            )
        result = {
            "image": image.contiguous(),
            "height": int(record["height"]),
            "width": int(record["width"]),
            "image_id": record["image_id"],
            "file_name": record["file_name"],
        }
        if self.is_train:
            instances = {
                "boxes": out["boxes"].as_subclass(torch.Tensor).to(torch.float32),
                "classes": out["labels"].as_subclass(torch.Tensor).to(torch.int64),
            }
            if self.use_masks:
                instances["masks"] = out["masks"].as_subclass(torch.Tensor).bool()
            if self.num_keypoints:
                instances["keypoints"] = _surviving_keypoints(out, tuple(image.shape[-2:]))
            if self.keep_crowd:
                instances = {k: v[instances["classes"] != CROWD_CLASS] for k, v in instances.items()}
            result["instances"] = instances
        return result


def _needs_crowd(transform: Any) -> bool:
    """Whether a transform, or one it wraps (``RandomApply``, ``Compose``...), asks for crowd regions."""
    return bool(getattr(transform, "needs_crowd", False)) or any(
        _needs_crowd(t) for t in getattr(transform, "transforms", ()))


def _labels(sample: dict[str, Any]) -> Any:
    # Explicit getter so Sanitize filters our "labels" entry regardless of torchvision's key heuristics.
    if "instance_ids" in sample:
        return sample["labels"], sample["instance_ids"]
    return sample["labels"]


def _check_keypoint_transforms(transforms: Sequence[Any]) -> None:
    """Refuse the transforms that would corrupt keypoints (see :class:`DatasetMapper`)."""
    for t in transforms:
        if type(t) in (v2.RandomHorizontalFlip, v2.RandomVerticalFlip):
            raise ValueError(f"{type(t).__name__} cannot swap left and right keypoints; use "
                             "maskrcnn_ext.data.augmentations.RandomHorizontalFlip(flip_indices=...) with keypoints")
        if _needs_crowd(t):
            raise ValueError(f"{type(t).__name__} adds instances without keypoints; it is not supported with keypoints")
        _check_keypoint_transforms(getattr(t, "transforms", ()))


def _surviving_keypoints(out: dict[str, Any], size: tuple[int, int]) -> torch.Tensor:
    """``(N, K, 3)`` keypoints of the instances Sanitize kept; those outside the ``(h, w)`` image
    become unlabelled (v = 0, x = y = 0)."""
    ids = out["instance_ids"]
    xy = out["keypoints"].as_subclass(torch.Tensor).to(torch.float32)[ids]
    v = out["keypoint_visibility"].to(torch.float32)[ids]
    inside = (xy[..., 0] >= 0) & (xy[..., 0] <= size[1]) & (xy[..., 1] >= 0) & (xy[..., 1] <= size[0])
    v = torch.where(inside, v, 0.0)
    return torch.cat([xy * (v > 0).unsqueeze(-1), v.unsqueeze(-1)], dim=-1)
