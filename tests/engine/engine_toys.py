"""Toy model and loader for the engine tests: a linear regression fed as lists of dicts."""
from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

TRUE_WEIGHT = torch.tensor([1.0, -2.0, 3.0])


class ToyModel(nn.Module):
    """``y = w . x``; returns ``{"loss_x": mse}`` in train mode, or NaN from ``nan_at_call`` onwards."""

    def __init__(self, nan_at_call: int | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(3))
        self.nan_at_call = nan_at_call
        self.calls = 0

    def forward(self, batch: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        x = torch.stack([d["x"] for d in batch])
        y = torch.stack([d["y"] for d in batch])
        loss = ((x @ self.weight - y) ** 2).mean()
        if self.nan_at_call is not None and self.calls >= self.nan_at_call:
            loss = loss * float("nan")
        self.calls += 1
        return {"loss_x": loss, "loss_reg": 0.01 * (self.weight**2).sum()}


def toy_batch(index: int, batch_size: int = 4) -> list[dict[str, torch.Tensor]]:
    """A batch that depends only on its index, so a resumed run sees the same data."""
    generator = torch.Generator().manual_seed(1000 + index)
    x = torch.randn(batch_size, 3, generator=generator)
    y = x @ TRUE_WEIGHT
    return [{"x": x[i], "y": y[i]} for i in range(batch_size)]


def toy_loader(start: int = 0, crash_at: int | None = None) -> Iterator[list[dict[str, torch.Tensor]]]:
    """Infinite loader; raises ``RuntimeError`` when asked for batch ``crash_at`` (a simulated crash)."""
    index = start
    while True:
        if crash_at is not None and index == crash_at:
            raise RuntimeError(f"simulated crash at batch {index}")
        yield toy_batch(index)
        index += 1
