"""Checkpointer: atomic saves, full resume (model, optimizer, scheduler, iteration, RNG), weight loading."""
from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
import torch
from engine_toys import ToyModel, toy_loader
from torch import nn

from maskrcnn_ext.checkpoint import load_model_weights
from maskrcnn_ext.engine import (
    Checkpointer,
    HookBase,
    JSONWriter,
    LRMultiplier,
    LRScheduler,
    PeriodicCheckpointer,
    PeriodicWriter,
    SimpleTrainer,
    warmup_multistep,
)

MAX_ITER = 10


class _RandomProbe(HookBase):
    """Draws from every RNG at each step, like augmentations would."""

    def __init__(self) -> None:
        self.draws: dict[int, tuple[float, float, float]] = {}

    def before_step(self) -> None:
        self.draws[self.trainer.iter] = (torch.rand(1).item(), float(np.random.rand()), random.random())


def _build(output_dir, *, start: int = 0, crash_at: int | None = None):
    model = ToyModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = LRMultiplier(optimizer, warmup_multistep(steps=[6], max_iter=MAX_ITER, warmup_iters=3), MAX_ITER)
    probe = _RandomProbe()
    trainer = SimpleTrainer(model=model, data_loader=toy_loader(start, crash_at), optimizer=optimizer)
    checkpointer = Checkpointer(model, str(output_dir), optimizer=optimizer, scheduler=scheduler, trainer=trainer)
    writer = JSONWriter(os.path.join(output_dir, "metrics.jsonl"))
    trainer.register_hooks([
        LRScheduler(scheduler),
        PeriodicCheckpointer(checkpointer, 5, MAX_ITER),
        probe,
        PeriodicWriter([writer], period=5),
    ])
    return trainer, checkpointer, probe


def _train_rows(output_dir) -> list[int]:
    with open(os.path.join(output_dir, "metrics.jsonl")) as f:
        return [row["iteration"] for row in map(json.loads, f) if row["type"] == "train"]


def test_resume_matches_an_uninterrupted_run(tmp_path):
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    reference, _, reference_probe = _build(tmp_path / "reference")
    reference.train(0, MAX_ITER)

    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    crashed, checkpointer, _ = _build(tmp_path / "run", crash_at=7)
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.train(0, MAX_ITER)
    assert checkpointer.get_checkpoint_file() == str(tmp_path / "run" / "model_0000004.pth")
    # A half-written file from a crash during a later save must be ignored.
    (tmp_path / "run" / "model_0000009.pth.tmp").write_bytes(b"partial")

    torch.manual_seed(123), np.random.seed(123), random.seed(123)  # resuming must overwrite these
    resumed, checkpointer, resumed_probe = _build(tmp_path / "run", start=5)
    extra = checkpointer.resume_or_load("", resume=True)
    assert extra == {"iteration": 4}
    assert resumed.iter == 4
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(reference.storage.history("lr").values()[5][0])
    resumed.train(extra["iteration"] + 1, MAX_ITER)

    assert resumed_probe.draws == {i: reference_probe.draws[i] for i in range(5, MAX_ITER)}
    assert torch.equal(resumed.model.weight, reference.model.weight)
    # The scalar history travels with the checkpoint, so windowed medians continue as if never stopped.
    assert resumed.storage.history("lr").values() == reference.storage.history("lr").values()
    momentum = resumed.optimizer.state[resumed.model.weight]["momentum_buffer"]
    assert torch.equal(momentum, reference.optimizer.state[reference.model.weight]["momentum_buffer"])
    # The crashed run wrote iteration 4 and, as it stopped, its last completed iteration 6; the resumed
    # one appended iteration 9 to the same file.
    assert _train_rows(tmp_path / "run") == [4, 6, 9]
    assert checkpointer.get_checkpoint_file() == str(tmp_path / "run" / "model_final.pth")


def test_crash_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = ToyModel()
    checkpointer = Checkpointer(model, str(tmp_path))
    checkpointer.save("model_0000001", iteration=1)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpointer.save("model_0000003", iteration=3)
    monkeypatch.undo()

    assert sorted(p.name for p in tmp_path.iterdir()) == ["last_checkpoint", "model_0000001.pth"]  # no temp file left
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000001.pth"
    assert checkpointer.resume_or_load(None, resume=True) == {"iteration": 1}


def test_periodic_checkpointer_keeps_the_newest(tmp_path):
    model = ToyModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    trainer = SimpleTrainer(model=model, data_loader=toy_loader(), optimizer=optimizer)
    checkpointer = Checkpointer(model, str(tmp_path), optimizer=optimizer)
    trainer.register_hooks([PeriodicCheckpointer(checkpointer, 2, 10, max_to_keep=2)])
    trainer.train(0, 10)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["last_checkpoint", "model_0000005.pth", "model_0000007.pth", "model_final.pth"]
    assert torch.load(tmp_path / "model_final.pth", weights_only=False)["iteration"] == 9


class _Net(nn.Module):
    def __init__(self, out_features: int = 2) -> None:
        super().__init__()
        self.fc = nn.Linear(3, out_features)
        self.head = nn.Linear(2, 1)


def test_load_report_lists_each_case():
    model = _Net()
    fc_weight_before = model.fc.weight.detach().clone()
    source = _Net(out_features=4).state_dict()  # fc.weight (4, 3), fc.bias (4,): wrong shapes
    source["head.weight"] = torch.full((1, 2), 7.0)
    del source["head.bias"]
    source["extra.scale"] = torch.ones(1)

    report = load_model_weights(model, source)
    assert report.loaded == ["head.weight"]
    assert report.shape_mismatch == [("fc.weight", (4, 3), (2, 3)), ("fc.bias", (4,), (2,))]
    assert report.missing == ["head.bias"]
    assert report.unexpected == ["extra.scale"]
    assert torch.equal(model.fc.weight, fc_weight_before)
    assert torch.equal(model.head.weight, torch.full((1, 2), 7.0))
    expected_line = "shape mismatch, kept the model's initialisation for 2: fc.weight (checkpoint (4, 3) vs model (2, 3))"
    assert expected_line in report.summary()


def test_init_weights_are_loaded_weights_only(tmp_path):
    source = _Net()
    torch.save(source.state_dict(), tmp_path / "raw.pth")
    torch.save({"model": source.state_dict(), "iteration": 5}, tmp_path / "wrapped.pth")
    for name in ("raw.pth", "wrapped.pth"):
        model = _Net()
        Checkpointer(model, str(tmp_path / "run")).resume_or_load(str(tmp_path / name), resume=True)
        assert torch.equal(model.fc.weight, source.fc.weight)

    # Arbitrary pickled objects are refused: initial weights may come from anywhere.
    torch.save({"model": source.state_dict(), "payload": _Net}, tmp_path / "unsafe.pth")
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        Checkpointer(_Net(), str(tmp_path / "run")).resume_or_load(str(tmp_path / "unsafe.pth"), resume=False)

    missing = str(tmp_path / "nope.pth")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        Checkpointer(_Net(), str(tmp_path / "run")).resume_or_load(missing, resume=False)


def test_training_checkpoints_load_with_weights_only(tmp_path):
    """Every checkpoint, RNG states included, holds only tensors and primitives."""
    import numpy as np

    from maskrcnn_ext.engine.checkpoint import Checkpointer

    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    path = Checkpointer(model, str(tmp_path), optimizer=optimizer).save("model_final", iteration=7)
    data = torch.load(path, weights_only=True)
    assert data["iteration"] == 7 and "rng_states" in data
    expected = np.random.rand()
    Checkpointer(model, str(tmp_path), optimizer=optimizer).resume_or_load(None, resume=True)
    assert np.random.rand() == expected
