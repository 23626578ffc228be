"""The end of a run is one code path: ``after_train`` runs however training ends, the writers publish
what a crash would otherwise lose, and the final evaluation runs once, only after a completed run."""
from __future__ import annotations

import json
import logging
import re

import pytest
import torch
from engine_toys import ToyModel, toy_loader

from maskrcnn_ext.engine import (
    ConsoleWriter,
    EvalHook,
    HookBase,
    IterationTimer,
    JSONWriter,
    PeriodicWriter,
    SimpleTrainer,
    TensorboardWriter,
)

TIMING = ("time", "data_time")


class _RaiseAt(HookBase):
    """Raises ``exc`` as iteration ``iteration`` starts: a crash, or a kill with ``KeyboardInterrupt``."""

    def __init__(self, iteration: int, exc: BaseException) -> None:
        self.iteration = iteration
        self.exc = exc

    def before_step(self) -> None:
        if self.trainer.iter == self.iteration:
            raise self.exc


class _FailingAfterTrain(HookBase):
    def __init__(self, message: str) -> None:
        self.message = message

    def after_train(self) -> None:
        raise ValueError(self.message)


def _trainer(*hooks: HookBase) -> SimpleTrainer:
    model = ToyModel()
    return SimpleTrainer(model=model, data_loader=toy_loader(), optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
                         hooks=hooks)


def _rows(path, kind: str = "train") -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows if row["type"] == kind]


@pytest.mark.parametrize("exc", [RuntimeError("simulated crash"), KeyboardInterrupt()], ids=["error", "kill"])
def test_a_crash_still_writes_the_last_completed_iteration_and_propagates(tmp_path, caplog, exc):
    reference = tmp_path / "reference.jsonl"
    _trainer(IterationTimer(), PeriodicWriter([JSONWriter(str(reference))], period=1)).train(0, 10)
    every_row = {row["iteration"]: row for row in _rows(reference)}

    path = tmp_path / "metrics.jsonl"
    json_writer = JSONWriter(str(path))
    writers = [json_writer, ConsoleWriter(max_iter=10), TensorboardWriter(str(tmp_path / "tb"))]
    trainer = _trainer(IterationTimer(), _RaiseAt(7, exc), PeriodicWriter(writers, period=4))
    with caplog.at_level(logging.INFO, logger="maskrcnn_ext"), pytest.raises(type(exc)) as excinfo:
        trainer.train(0, 10)

    assert excinfo.value is exc and excinfo.value.__context__ is None
    assert not trainer.completed and trainer.iter == 7
    # The period wrote iteration 3; the write at the end adds iteration 6, whose smoothed values cover
    # iterations 4..6 exactly as in a run that writes every iteration.
    assert _rows(path) == [every_row[3], every_row[6]]
    assert json_writer._file.closed
    assert re.findall(r"iter: \d+/10", caplog.text) == ["iter: 4/10", "iter: 7/10"]
    assert "for 7 iterations" in caplog.text  # IterationTimer's summary of the iterations that ran

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("loss_x")] == [3, 6]


def test_failing_after_train_hooks_hide_no_crash_and_stop_no_other_hook(tmp_path, caplog):
    path = tmp_path / "crashed.jsonl"
    crash = RuntimeError("simulated crash")
    trainer = _trainer(_RaiseAt(7, crash), _FailingAfterTrain("cleanup failed"),
                       PeriodicWriter([JSONWriter(str(path))], period=4))
    with caplog.at_level(logging.ERROR, logger="maskrcnn_ext"), pytest.raises(RuntimeError) as excinfo:
        trainer.train(0, 10)
    assert excinfo.value is crash and excinfo.value.__context__ is None
    assert [row["iteration"] for row in _rows(path)] == [3, 6]  # the writer after the failing hook still ran
    assert "Exception in _FailingAfterTrain.after_train, not raised: training had already failed" in caplog.text
    assert "ValueError: cleanup failed" in caplog.text

    # After a completed run, the first after_train error is raised once every hook has run.
    caplog.clear()
    path = tmp_path / "completed.jsonl"
    json_writer = JSONWriter(str(path))
    trainer = _trainer(_FailingAfterTrain("first"), _FailingAfterTrain("second"),
                       PeriodicWriter([json_writer], period=4))
    with caplog.at_level(logging.ERROR, logger="maskrcnn_ext"), pytest.raises(ValueError, match="^first$"):
        trainer.train(0, 10)
    assert trainer.completed
    assert [row["iteration"] for row in _rows(path)] == [3, 7, 9] and json_writer._file.closed
    assert "Exception in _FailingAfterTrain.after_train, not raised: an earlier after_train failed" in caplog.text
    assert "ValueError: second" in caplog.text


@pytest.mark.parametrize(
    ("period", "start_iter", "max_iter", "raise_at", "evaluated_at"),
    [
        (4, 0, 10, None, [3, 7, 9]),  # the periodic evaluations, then the final one
        (4, 0, 8, None, [3, 7]),      # a period ending at max_iter: the final evaluation, not a second one
        (0, 0, 10, None, [9]),        # period 0: only the final one
        (4, 9, 10, None, [9]),        # resumed for its last iteration
        (4, 10, 10, None, [9]),       # resumed after its last iteration: no step, still evaluated once
        (4, 0, 10, 9, [3, 7]),        # a crash at the last iteration: no final evaluation
        (4, 0, 10, 5, [3]),
    ],
)
def test_the_final_evaluation_runs_once_after_a_completed_run_only(
    tmp_path, period, start_iter, max_iter, raise_at, evaluated_at
):
    path = tmp_path / "metrics.jsonl"
    calls: list[int] = []
    hooks: list[HookBase] = [_RaiseAt(raise_at, RuntimeError("simulated crash"))] if raise_at is not None else []
    trainer = _trainer(*hooks)
    eval_hook = EvalHook(period, lambda: calls.append(trainer.iter) or {"bbox": {"AP": float(len(calls))}})
    trainer.register_hooks([IterationTimer(), eval_hook, PeriodicWriter([JSONWriter(str(path))], period=5)])
    if raise_at is None:
        trainer.train(start_iter, max_iter)
    else:
        with pytest.raises(RuntimeError, match="simulated crash"):
            trainer.train(start_iter, max_iter)

    assert [row["iteration"] for row in _rows(path, "eval")] == evaluated_at
    assert [row["bbox/AP"] for row in _rows(path, "eval")] == [float(i + 1) for i in range(len(evaluated_at))]
    # Periodic evaluations run after their step, the final one in after_train (trainer.iter == max_iter).
    periodic = [i for i in evaluated_at if i != max_iter - 1]
    assert calls == periodic + ([max_iter] if trainer.completed else [])
    assert eval_hook.latest_results == ({"bbox": {"AP": float(len(calls))}} if calls else None)


def test_console_lines_only_for_new_iterations(caplog):
    trainer = _trainer(IterationTimer(), PeriodicWriter([ConsoleWriter(max_iter=10)], period=4))
    with caplog.at_level(logging.INFO, logger="maskrcnn_ext"):
        trainer.train(0, 10)
        trainer.train(10, 10)  # resumed after its last iteration: nothing new to report
    # No line for the write in after_train, which has nothing new after a completed run.
    assert re.findall(r"iter: \d+/10", caplog.text) == ["iter: 4/10", "iter: 8/10", "iter: 10/10"]
