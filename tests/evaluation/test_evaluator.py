from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from maskrcnn_ext.data import DatasetMapper, build_test_loader
from maskrcnn_ext.evaluation import DatasetEvaluator, DatasetEvaluators, inference_on_dataset


class RecordingModel(nn.Module):
    """Returns one fixed output per input and records the mode it was called in."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, inputs):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return [{"instances": {"scores": torch.tensor([0.5])}} for _ in inputs]


class RecordingEvaluator(DatasetEvaluator):
    def __init__(self, name: str = "dummy") -> None:
        self.name = name
        self.resets = 0
        self.seen: list[int] = []

    def reset(self) -> None:
        self.resets += 1
        self.seen = []

    def process(self, inputs, outputs) -> None:
        assert len(inputs) == len(outputs)
        self.seen.extend(inp["image_id"] for inp in inputs)

    def evaluate(self):
        return {self.name: {"AP": float(len(self.seen))}}


def make_loader(batch_sizes):
    loader, next_id = [], 0
    for size in batch_sizes:
        loader.append([{"image_id": next_id + i} for i in range(size)])
        next_id += size
    return loader


def test_runs_in_eval_mode_without_grad_and_restores_train_mode():
    model = RecordingModel().train()
    evaluator = RecordingEvaluator()
    results = inference_on_dataset(model, make_loader([2, 2, 1]), evaluator)
    assert model.training is True
    assert model.calls == [(False, False)] * 3
    assert evaluator.resets == 1
    assert evaluator.seen == [0, 1, 2, 3, 4]
    # 3 batches, all within the warm-up: counted, not timed.
    assert results == {"dummy": {"AP": 5.0}, "inference": {"images": 5}}
    assert torch.is_grad_enabled()


def test_eval_mode_is_kept_and_none_evaluator_returns_empty():
    model = RecordingModel().eval()
    assert inference_on_dataset(model, make_loader([1, 1]), None) == {}
    assert model.training is False
    assert len(model.calls) == 2


def test_mode_is_restored_when_the_model_fails():
    class Failing(RecordingModel):
        def forward(self, inputs):
            raise RuntimeError("boom")

    model = Failing().train()
    with pytest.raises(RuntimeError, match="boom"):
        inference_on_dataset(model, make_loader([1]), RecordingEvaluator())
    assert model.training is True


def test_logs_progress_and_total_time(caplog):
    with caplog.at_level(logging.INFO, logger="maskrcnn_ext.evaluation.evaluator"):
        inference_on_dataset(RecordingModel(), make_loader([2] * 4), None, log_period_s=0.0, num_warmup=1)
    text = caplog.text
    assert "Start inference on 4 batches" in text
    assert "8/8 images done" in text  # the last progress line
    assert "warm-up excluded" in text and "over 6 images" in text  # 3 timed batches of 2


def test_too_short_to_time_past_warmup(caplog):
    with caplog.at_level(logging.INFO, logger="maskrcnn_ext.evaluation.evaluator"):
        inference_on_dataset(RecordingModel(), make_loader([1, 1]), None, num_warmup=5)
    assert "Inference done on 2 images" in caplog.text


def test_dataset_evaluators_merge_and_reject_duplicate_tasks():
    first, second = RecordingEvaluator("a"), RecordingEvaluator("b")
    both = DatasetEvaluators([first, second])
    results = inference_on_dataset(RecordingModel(), make_loader([3]), both)
    assert results == {"a": {"AP": 3.0}, "b": {"AP": 3.0}, "inference": {"images": 3}}
    assert first.resets == second.resets == 1
    with pytest.raises(ValueError, match="same task 'a'"):
        DatasetEvaluators([RecordingEvaluator("a"), RecordingEvaluator("a")]).evaluate()


def test_images_a_skipping_loader_left_out_are_counted_and_logged(tmp_path, caplog):
    records = []
    for i in range(6):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(path)
        records.append({"file_name": str(path), "image_id": i, "height": 8, "width": 8})
    (tmp_path / "4.png").write_bytes((tmp_path / "4.png").read_bytes()[:40])  # truncated
    loader = build_test_loader(dataset=records, mapper=DatasetMapper(is_train=False), batch_size=2,
                               on_bad_image="skip", max_bad_fraction=0.2)
    evaluator = RecordingEvaluator()
    with caplog.at_level(logging.INFO, logger="maskrcnn_ext"):
        results = inference_on_dataset(RecordingModel(), loader, evaluator)
    assert evaluator.seen == [0, 1, 2, 3, 5]
    assert results == {"dummy": {"AP": 5.0}, "inference": {"images": 5, "skipped_images": 1}}
    assert "evaluation skipped 1 bad image file(s) of 6" in caplog.text and "4.png" in caplog.text
    assert "The metrics of this evaluation are over the other 5 images" in caplog.text


def test_base_evaluator_is_a_no_op():
    evaluator = DatasetEvaluator()
    evaluator.reset()
    evaluator.process([{}], [{}])
    assert evaluator.evaluate() == {}
