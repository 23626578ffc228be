"""Learning-rate schedules: a multiplier over training progress, applied by a torch LR scheduler.

Configs describe the *shape* of the schedule as an ``fvcore`` ``ParamScheduler`` of the training
progress ``where = iter / max_iter`` in ``[0, 1]`` (``lr_multiplier = L(warmup_multistep)(...)``); the
trainer wraps it in :class:`LRMultiplier`, which scales each parameter group's base lr.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from fvcore.common.param_scheduler import MultiStepParamScheduler, ParamScheduler

__all__ = ["LRMultiplier", "WarmupParamScheduler", "warmup_multistep"]


class WarmupParamScheduler(ParamScheduler):
    """Scale another scheduler by a factor that ramps from ``warmup_factor`` to 1 at the start.

    Args:
        scheduler: the schedule after warmup.
        warmup_factor: multiplier at ``where = 0``.
        warmup_length: length of the warmup as a fraction of training.
        warmup_method: ``"linear"`` ramp or ``"constant"`` (``warmup_factor`` during the whole warmup).
    """

    def __init__(
        self,
        scheduler: ParamScheduler,
        *,
        warmup_factor: float,
        warmup_length: float,
        warmup_method: str = "linear",
    ) -> None:
        if warmup_method not in ("linear", "constant"):
            raise ValueError(f"warmup_method must be 'linear' or 'constant', got {warmup_method!r}")
        if not 0.0 <= warmup_length <= 1.0:
            raise ValueError(f"warmup_length must be a fraction of training in [0, 1], got {warmup_length}")
        self._scheduler = scheduler
        self._warmup_factor = warmup_factor
        self._warmup_length = warmup_length
        self._warmup_method = warmup_method

    def _factor(self, where: float) -> float:
        if where >= self._warmup_length:
            return 1.0
        if self._warmup_method == "constant":
            return self._warmup_factor
        alpha = where / self._warmup_length
        return self._warmup_factor * (1.0 - alpha) + alpha

    def __call__(self, where: float) -> float:
        return self._scheduler(where) * self._factor(where)


def warmup_multistep(
    *,
    steps: Sequence[int],
    max_iter: int,
    gamma: float = 0.1,
    warmup_iters: int = 1000,
    warmup_factor: float = 0.001,
    warmup_method: str = "linear",
) -> ParamScheduler:
    """The Mask R-CNN schedule: linear warmup, then the lr multiplied by ``gamma`` at each step.

    Args:
        steps: absolute iterations at which the lr drops, strictly increasing and below ``max_iter``.
        max_iter: total number of training iterations.
        gamma: factor applied at each step.
        warmup_iters: length of the warmup in iterations (0 disables it).
        warmup_factor: multiplier at iteration 0; it rises linearly to 1 at ``warmup_iters``.
        warmup_method: ``"linear"`` or ``"constant"``.

    Returns:
        A multiplier of ``where = iter / max_iter``; at iteration ``i`` with ``i >= warmup_iters`` it
        equals ``gamma ** (number of steps <= i)``.
    """
    steps = [int(s) for s in steps]
    if max_iter <= 0:
        raise ValueError(f"max_iter must be positive, got {max_iter}")
    if any(b <= a for a, b in zip(steps, steps[1:])) or any(not 0 < s < max_iter for s in steps):
        raise ValueError(f"steps must be strictly increasing iterations in (0, max_iter={max_iter}), got {steps}")
    if not 0 <= warmup_iters <= max_iter:
        raise ValueError(f"warmup_iters must be in [0, max_iter={max_iter}], got {warmup_iters}")
    base = MultiStepParamScheduler(
        values=[gamma**k for k in range(len(steps) + 1)],
        milestones=steps,
        num_updates=max_iter,
    )
    return WarmupParamScheduler(
        base,
        warmup_factor=warmup_factor,
        warmup_length=warmup_iters / max_iter,
        warmup_method=warmup_method,
    )


class LRMultiplier(torch.optim.lr_scheduler.LRScheduler):
    """Set each group's lr to ``base_lr * multiplier(iter / max_iter)``; step it once per iteration.

    Args:
        optimizer: the optimizer whose groups' initial lrs are the base lrs.
        multiplier: schedule of the training progress in ``[0, 1]``.
        max_iter: total number of iterations.
        last_iter: the last finished iteration when resuming; -1 to start from scratch.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        multiplier: ParamScheduler,
        max_iter: int,
        last_iter: int = -1,
    ) -> None:
        if not isinstance(multiplier, ParamScheduler):
            raise TypeError(f"multiplier must be an fvcore ParamScheduler, got {type(multiplier).__name__}")
        self._multiplier = multiplier
        self._max_iter = max_iter
        super().__init__(optimizer, last_epoch=last_iter)

    def get_lr(self) -> list[float]:
        # The hook steps once after the final iteration too; clamp so the multiplier sees at most 1.
        where = min(self.last_epoch / self._max_iter, 1.0)
        factor = self._multiplier(where)
        return [base_lr * factor for base_lr in self.base_lrs]

    def state_dict(self) -> dict[str, Any]:
        # The multiplier is rebuilt from the config; only the position in the schedule is state.
        return {"base_lrs": self.base_lrs, "last_epoch": self.last_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.base_lrs = list(state_dict["base_lrs"])
        self.last_epoch = int(state_dict["last_epoch"])
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr
