"""Instance-level augmentations as ``torchvision.transforms.v2`` transforms for the mapper.

Each is a thin wrapper: it converts the sample to numpy, calls the framework-agnostic function in
:mod:`maskrcnn_ext.data.copy_paste`, and rebuilds the tv_tensors. Randomness is drawn from torch's
generator, which the mapper seeds per sample, so a (record, seed) pair gives the same result in any
worker or process.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from .copy_paste import boxes_from_masks, small_object_copy_paste
from .mapper import CROWD_CLASS

__all__ = ["SmallObjectCopyPaste"]


def _numpy_rng() -> np.random.Generator:
    """A numpy generator seeded from torch's, so the mapper's per-sample seed governs it."""
    return np.random.default_rng(int(torch.randint(0, 2**62, ())))


class SmallObjectCopyPaste(v2.Transform):
    """Paste each small instance ``copies`` more times in its own image (Kisantal et al. 2019).

    Place it after the resize, so that ``area_threshold`` is measured at the training scale. Needs
    masks; crowd regions are neither copied nor pasted over.

    Args:
        area_threshold: instances with fewer mask pixels are small (default COCO's 32²).
        copies: extra copies of each small instance.
        scale_range: random rescale of each copy.
        max_rotation: random rotation of each copy, degrees either way.
        blend_sigma: Gaussian blur of the paste's alpha (pixels); 0 pastes hard-edged.
        min_visible_area: drop an instance left with fewer visible pixels by a paste.
        max_tries: random positions tried per copy before it is skipped.
        p: probability of augmenting an image at all.
    """

    needs_crowd = True

    def __init__(self, *, area_threshold: float = 32.0 ** 2, copies: int = 1,
                 scale_range: tuple[float, float] = (0.8, 1.2), max_rotation: float = 15.0,
                 blend_sigma: float = 0.0, min_visible_area: int = 4, max_tries: int = 20, p: float = 1.0) -> None:
        super().__init__()
        if copies < 0 or not 0.0 <= p <= 1.0:
            raise ValueError(f"need copies >= 0 and 0 <= p <= 1, got copies={copies}, p={p}")
        self.options = dict(area_threshold=area_threshold, copies=copies, scale_range=tuple(scale_range),
                            max_rotation=max_rotation, blend_sigma=blend_sigma,
                            min_visible_area=min_visible_area, max_tries=max_tries)
        self.p = p

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in {**self.options, "p": self.p}.items())

    def forward(self, *inputs: Any) -> Any:
        sample = inputs[0] if len(inputs) == 1 else inputs
        if not isinstance(sample, dict) or "masks" not in sample:
            raise TypeError("SmallObjectCopyPaste needs the mapper's sample dict with instance masks "
                            "(DatasetMapper(use_masks=True))")
        if torch.rand(()) >= self.p:
            return sample
        image = sample["image"].as_subclass(torch.Tensor).permute(1, 2, 0).numpy()
        masks = sample["masks"].as_subclass(torch.Tensor).numpy().astype(bool)
        labels = sample["labels"].numpy()
        crowd_rows = labels == CROWD_CLASS
        crowd = masks[crowd_rows].any(axis=0) if crowd_rows.any() else None
        things = np.nonzero(~crowd_rows)[0]
        new_image, new_masks, new_labels, origin = small_object_copy_paste(
            image, masks[things], labels[things], _numpy_rng(), crowd=crowd, **self.options)
        boxes = torch.from_numpy(boxes_from_masks(new_masks))
        kept = origin >= 0  # instances already there keep their annotated box (pasting never covers them)
        boxes[torch.from_numpy(kept)] = sample["boxes"].as_subclass(torch.Tensor)[torch.from_numpy(things[origin[kept]])]
        height, width = new_image.shape[:2]
        return {**sample,
                "image": tv_tensors.Image(torch.from_numpy(np.ascontiguousarray(new_image)).permute(2, 0, 1)),
                "masks": tv_tensors.Mask(torch.from_numpy(np.concatenate([new_masks, masks[crowd_rows]]))),
                "labels": torch.from_numpy(np.concatenate([new_labels, labels[crowd_rows]])),
                "boxes": tv_tensors.BoundingBoxes(
                    torch.cat([boxes, sample["boxes"].as_subclass(torch.Tensor)[torch.from_numpy(crowd_rows)]]),
                    format="XYXY", canvas_size=(height, width))}
