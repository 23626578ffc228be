"""What a run says at its end: the timing summary (wall clock vs. step-time mean and median) and the
summary of the bad images a skipping training loader left out."""
from __future__ import annotations

import json
import logging
import re
from types import SimpleNamespace

import torch
from engine_toys import ToyModel, toy_batch

from maskrcnn_ext.data.bad_images import BadImageReport, SkippedImage
from maskrcnn_ext.engine import BadImageSummary, EventStorage, IterationTimer, JSONWriter, PeriodicWriter, SimpleTrainer


def test_timing_summary_gives_the_step_times_mean_and_median(caplog):
    timer = IterationTimer(warmup_iter=2)
    # Two warm-up steps, then six quick ones and two slow ones (a busy machine): the mean is twice
    # the median, which the progress lines show.
    times = [5.0, 5.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 2.5, 2.5]
    with EventStorage(0) as storage:
        for i, seconds in enumerate(times):
            storage.iter = i
            storage.put_scalar("time", seconds)
        timer.trainer = SimpleNamespace(storage=storage, iter=len(times), start_iter=0)
        with caplog.at_level(logging.INFO, logger="maskrcnn_ext.engine.hooks"):
            timer.before_train()
            timer.after_train()
    text = caplog.text
    assert re.search(r"Total training time: 0:00:00 for 10 iterations, \d+\.\d{4} s/iter \(wall clock: steps, "
                     r"data, evaluation, checkpoints and logging\)", text), text
    assert "Step time after the first 2 iterations" in text
    assert "mean 1.0000 s, median 0.5000 s over 8 iterations" in text


class _SkippingLoader:
    """Toy batches; every third one comes after the loader skipped a bad image (files a.png, b.png, a.png...)."""

    def __init__(self) -> None:
        self.bad_images = BadImageReport(on_bad_image="skip", max_bad_fraction=1.0, num_images=10,
                                         purpose="training")

    def __iter__(self):
        for index in range(1000):
            if index % 3 == 0:
                name = "a.png" if index % 2 == 0 else "b.png"
                self.bad_images.add(SkippedImage(file_name=name, reason=f"cannot read image {name}: truncated"))
            yield toy_batch(index)


def test_bad_image_summary_is_logged_and_recorded_at_the_end(tmp_path, caplog):
    model = ToyModel()
    loader = _SkippingLoader()
    trainer = SimpleTrainer(model=model, data_loader=loader, optimizer=torch.optim.SGD(model.parameters(), lr=0.05))
    path = tmp_path / "metrics.jsonl"
    trainer.register_hooks([BadImageSummary(), PeriodicWriter([JSONWriter(str(path))], period=5)])
    with caplog.at_level(logging.INFO, logger="maskrcnn_ext"):
        trainer.train(0, 10)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    # Batches 0, 3, 6, 9 came after a skip: 4 draws of 2 files.
    assert rows[-1] == {"type": "data", "iteration": 9, "bad_images_skipped": 2, "bad_image_draws": 4,
                        "bad_image_files": ["a.png", "b.png"]}
    assert [r["type"] for r in rows] == ["train", "train", "data"]
    warnings = [r.getMessage() for r in caplog.records if "Skipping a bad image" in r.getMessage()]
    assert len(warnings) == 2
    assert ("training skipped 2 bad image file(s) of 10, drawn 4 time(s) in all: cannot read image a.png: "
            "truncated; cannot read image b.png: truncated") in caplog.text


def test_no_summary_without_skip(tmp_path):
    model = ToyModel()
    loader = _SkippingLoader()
    loader.bad_images.on_bad_image = "error"
    trainer = SimpleTrainer(model=model, data_loader=loader, optimizer=torch.optim.SGD(model.parameters(), lr=0.05))
    path = tmp_path / "metrics.jsonl"
    trainer.register_hooks([BadImageSummary(), PeriodicWriter([JSONWriter(str(path))], period=5)])
    trainer.train(0, 5)
    assert [json.loads(line)["type"] for line in path.read_text().splitlines()] == ["train"]
