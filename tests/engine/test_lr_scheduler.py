"""warmup_multistep + LRMultiplier against hand-computed learning rates."""
from __future__ import annotations

import pytest
import torch

from maskrcnn_ext.engine import LRMultiplier, warmup_multistep


def _lrs(scheduler: LRMultiplier, optimizer: torch.optim.Optimizer, steps: int) -> list[float]:
    values = []
    for _ in range(steps):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return values


def _optimizer(lr: float = 0.02) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_warmup_then_steps():
    optimizer = _optimizer()
    multiplier = warmup_multistep(steps=[6, 8], max_iter=10, gamma=0.1, warmup_iters=4, warmup_factor=0.1)
    scheduler = LRMultiplier(optimizer, multiplier, max_iter=10)
    # Warmup factor at iteration i < 4: 0.1 * (1 - i/4) + i/4; then 1, x0.1 at 6, x0.01 at 8.
    expected = [0.1, 0.325, 0.55, 0.775, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
    assert _lrs(scheduler, optimizer, 10) == pytest.approx([0.02 * f for f in expected])
    # The hook also steps after the last iteration; that must not fail.
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.02 * 0.01)


def test_each_param_group_keeps_its_base_lr():
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(2)]
    optimizer = torch.optim.SGD([{"params": [params[0]], "lr": 0.1}, {"params": [params[1]], "lr": 0.01}])
    scheduler = LRMultiplier(optimizer, warmup_multistep(steps=[2], max_iter=4, warmup_iters=0), max_iter=4)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.01, 0.001])


def test_state_dict_round_trip():
    multiplier = warmup_multistep(steps=[5], max_iter=10, warmup_iters=2, warmup_factor=0.5)
    optimizer = _optimizer(1.0)
    scheduler = LRMultiplier(optimizer, multiplier, max_iter=10)
    _lrs(scheduler, optimizer, 6)
    state = scheduler.state_dict()
    assert state == {"base_lrs": [1.0], "last_epoch": 6}

    fresh_optimizer = _optimizer(1.0)
    fresh = LRMultiplier(fresh_optimizer, multiplier, max_iter=10)
    fresh.load_state_dict(state)
    assert fresh_optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
    assert _lrs(fresh, fresh_optimizer, 2) == pytest.approx([0.1, 0.1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": [6, 4], "max_iter": 10}, "strictly increasing"),
        ({"steps": [10], "max_iter": 10}, r"in \(0, max_iter=10\)"),
        ({"steps": [5], "max_iter": 10, "warmup_iters": 11}, "warmup_iters must be in"),
        ({"steps": [5], "max_iter": 10, "warmup_iters": 2, "warmup_method": "cosine"}, "warmup_method"),
    ],
)
def test_invalid_schedules_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        warmup_multistep(**kwargs)
