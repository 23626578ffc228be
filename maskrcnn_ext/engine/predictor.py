"""Run a trained detector on image arrays, with its config's test-time preprocessing."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torchvision import tv_tensors

from ..config import instantiate
from ..data import get_dataset_records

__all__ = ["Predictor", "first_test_input"]


class Predictor:
    """Single-image inference: ``predictor(image) -> instances`` at the image's own size.

    Args:
        model: a detector following the model contracts (put in eval mode here).
        cfg: its config; ``dataloader.test.mapper`` supplies the test-time augmentations (resize).
        device: where the model runs; the model is moved there.
    """

    def __init__(self, model: nn.Module, cfg: Any, *, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.transform = instantiate(cfg.dataloader.test.mapper).transform

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        """uint8 RGB ``(H, W, 3)`` -> the model's uint8 ``(3, H', W')`` input."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a uint8 RGB image of shape (H, W, 3), got {image.dtype} {image.shape}")
        pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        sample = self.transform({"image": tv_tensors.Image(pixels)})
        return sample["image"].as_subclass(torch.Tensor).contiguous()

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> dict[str, torch.Tensor]:
        """The instances found in ``image`` (model-output contract), on the CPU."""
        height, width = image.shape[:2]
        inputs = [{"image": self.preprocess(image).to(self.device), "height": height, "width": width}]
        instances = self.model(inputs)[0]["instances"]
        return {key: value.cpu() if isinstance(value, torch.Tensor) else value for key, value in instances.items()}


def first_test_input(cfg: Any) -> tuple[torch.Tensor, tuple[int, int]]:
    """The model input made from the first image of the config's test set, and its original size."""
    record = get_dataset_records(cfg.dataloader.test.dataset)[0]
    mapped = instantiate(cfg.dataloader.test.mapper)(record)
    return mapped["image"], (mapped["height"], mapped["width"])
