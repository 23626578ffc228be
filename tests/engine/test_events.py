"""EventStorage and the writers: JSON lines (append on resume), TensorBoard, console line, eval rows."""
from __future__ import annotations

import json
import math
import re

import pytest
import torch
from engine_toys import ToyModel, toy_loader

from maskrcnn_ext.engine import (
    ConsoleWriter,
    EvalHook,
    EventStorage,
    IterationTimer,
    JSONWriter,
    PeriodicWriter,
    SimpleTrainer,
    TensorboardWriter,
    get_event_storage,
)


def test_storage_history_and_smoothing():
    with EventStorage(start_iter=10) as storage:
        assert get_event_storage() is storage
        for i, value in enumerate([1.0, 5.0, 2.0, 100.0]):
            storage.iter = 10 + i
            storage.put_scalar("loss", value)
            storage.put_scalar("lr", value, smoothing_hint=False)
        assert storage.history("loss").median(3) == 5.0
        assert storage.history("loss").avg(2) == 51.0
        assert storage.latest()["loss"] == (100.0, 13)
        assert storage.latest_with_smoothing_hint(3) == {"loss": (5.0, 13), "lr": (100.0, 13)}
        with pytest.raises(KeyError, match="No scalar named 'los'.*'loss'"):
            storage.history("los")
        with pytest.raises(ValueError, match="smoothing_hint"):
            storage.put_scalar("lr", 1.0)
    with pytest.raises(RuntimeError, match="outside of an open EventStorage"):
        get_event_storage()


def _write_iterations(path, iterations, window=20):
    writer = JSONWriter(str(path), window_size=window)
    with EventStorage(iterations[0]) as storage:
        for i in iterations:
            storage.iter = i
            storage.put_scalar("loss_x", float(i))
            writer.write()
        writer.write()  # nothing new: no duplicate row
    writer.close()


def test_json_writer_appends_across_runs(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _write_iterations(path, [0, 1, 2], window=2)
    _write_iterations(path, [3, 4], window=2)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0, 1, 2, 3, 4]
    assert {r["type"] for r in rows} == {"train"}
    # Medians over a window of two: (0), (0,1), (1,2); the second run starts a new history.
    assert [r["loss_x"] for r in rows] == [0.0, 0.5, 1.5, 3.0, 3.5]


def _train_with_eval(tmp_path, writers_factory):
    model = ToyModel()
    trainer = SimpleTrainer(model=model, data_loader=toy_loader(),
                            optimizer=torch.optim.SGD(model.parameters(), lr=0.05))
    calls = []

    def evaluate():
        calls.append(trainer.iter)
        return {"bbox": {"AP": 0.25 * len(calls), "APs": float("nan")}, "segm": {"AP": 0.5}}

    eval_hook = EvalHook(4, evaluate)
    writers = writers_factory(trainer)
    trainer.register_hooks([IterationTimer(), eval_hook, PeriodicWriter(writers, period=3)])
    trainer.train(0, 10)
    return eval_hook, calls


def test_eval_rows_in_metrics_file(tmp_path):
    path = tmp_path / "metrics.jsonl"
    eval_hook, calls = _train_with_eval(tmp_path, lambda t: [JSONWriter(str(path))])
    # The final evaluation runs in after_train (trainer.iter == max_iter), labelled with the last iteration.
    assert calls == [3, 7, 10]
    assert eval_hook.latest_results["bbox"]["AP"] == 0.75
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["type"], r["iteration"]) for r in rows] == [
        ("train", 2), ("train", 5), ("eval", 3), ("train", 8), ("eval", 7), ("train", 9), ("eval", 9)
    ]
    evals = [r for r in rows if r["type"] == "eval"]
    assert [r["bbox/AP"] for r in evals] == [0.25, 0.5, 0.75]
    assert all(math.isnan(r["bbox/APs"]) and r["segm/AP"] == 0.5 for r in evals)
    assert {"loss_x", "loss_reg", "total_loss", "lr", "time", "data_time"} <= set(rows[0])


def test_resume_from_the_final_checkpoint_still_evaluates(tmp_path):
    # A run killed during its final evaluation resumes at max_iter: no step runs, the evaluation must.
    path = tmp_path / "metrics.jsonl"
    model = ToyModel()
    trainer = SimpleTrainer(model=model, data_loader=toy_loader(), optimizer=torch.optim.SGD(model.parameters()))
    calls = []
    eval_hook = EvalHook(0, lambda: calls.append(trainer.iter) or {"bbox": {"AP": 0.5}})
    trainer.register_hooks([IterationTimer(), eval_hook, PeriodicWriter([JSONWriter(str(path))], period=3)])
    trainer.train(10, 10)
    assert calls == [10] and eval_hook.latest_results == {"bbox": {"AP": 0.5}}
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [{"type": "eval", "iteration": 9, "bbox/AP": 0.5}]


def test_tensorboard_writer(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _train_with_eval(tmp_path, lambda t: [TensorboardWriter(str(tmp_path / "tb"))])
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("eval/bbox/AP")] == [(3, 0.25), (7, 0.5), (9, 0.75)]
    assert [e.step for e in events.Scalars("loss_x")] == [2, 5, 8, 9]


def test_console_line():
    writer = ConsoleWriter(max_iter=400, window_size=3)
    with EventStorage(117) as storage:
        for i, (t, loss) in enumerate([(0.3, 1.0), (0.5, 3.0), (0.4, 2.0)]):
            storage.iter = 117 + i
            for name, value in dict(time=t, data_time=0.002, loss_cls=loss, loss_box=0.5, total_loss=loss + 0.5).items():
                storage.put_scalar(name, value)
            storage.put_scalar("lr", 0.02, smoothing_hint=False)
        line = writer.format_line(storage)
    # 280 iterations left at the median 0.4 s = 112 s.
    assert re.fullmatch(
        r"iter: 120/400  eta: 0:01:52  loss: 2\.5 \(loss_box: 0\.5, loss_cls: 2\)  lr: 0\.0200  "
        r"time: 0\.4000  data: 0\.0020 \(s/iter, medians of the last 3\)  max_mem: \d+M",
        line,
    ), line


def test_console_writer_explains_its_columns_once(caplog):
    writer = ConsoleWriter(max_iter=10, window_size=20)
    with caplog.at_level("INFO", logger="maskrcnn_ext.engine.events"), EventStorage(0) as storage:
        for i in range(3):
            storage.iter = i
            storage.put_scalar("time", 0.1)
            writer.write()
    legends = [r for r in caplog.records if r.getMessage().startswith("Progress lines:")]
    assert len(legends) == 1 and "medians over the last 20 iterations" in legends[0].getMessage()
    assert len(caplog.records) == 4  # the legend and one line per iteration


def test_other_rows_are_written_as_they_are(tmp_path):
    path = tmp_path / "metrics.jsonl"
    writer = JSONWriter(str(path))
    with EventStorage(4) as storage:
        storage.put_scalar("loss_x", 1.0)
        storage.put_row("data", {"bad_images_skipped": 2, "bad_image_files": ["a.png", "b.png"]})
        writer.write()
        writer.write()  # nothing new
        with pytest.raises(ValueError, match="other row types than train and eval"):
            storage.put_row("eval", {})
    writer.close()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [{"iteration": 4, "type": "train", "loss_x": 1.0},
                    {"type": "data", "iteration": 4, "bad_images_skipped": 2, "bad_image_files": ["a.png", "b.png"]}]
