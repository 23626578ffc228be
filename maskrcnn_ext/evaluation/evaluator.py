"""Evaluator protocol and the loop that runs a model over a dataset.

An evaluator sees the model's inputs and outputs batch by batch (``process``) and produces a
``{task: {metric: value}}`` dict at the end (``evaluate``); ``inference_on_dataset`` drives it.
"""
from __future__ import annotations

import contextlib
import datetime
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from maskrcnn_ext.utils import comm

__all__ = ["DatasetEvaluator", "DatasetEvaluators", "inference_on_dataset"]

logger = logging.getLogger(__name__)

Results = dict[str, dict[str, float]]


class DatasetEvaluator:
    """Base class: accumulate (inputs, outputs) pairs, then compute metrics.

    Subclasses override the three hooks. ``evaluate`` may return ``{}`` on non-main ranks in
    distributed evaluation.
    """

    def reset(self) -> None:
        """Clear accumulated state; called before a new evaluation pass."""

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        """Accumulate one batch.

        Args:
            inputs: the model's input dicts for the batch (model-input contract).
            outputs: the model's outputs for the same batch, one dict per input.
        """

    def evaluate(self) -> Results:
        """Compute metrics over everything processed since the last ``reset``.

        Returns:
            ``{task: {metric: value}}``.
        """
        return {}


class DatasetEvaluators(DatasetEvaluator):
    """Runs several evaluators side by side and merges their result dicts.

    Args:
        evaluators: the evaluators; their result dicts must not share a task name.
    """

    def __init__(self, evaluators: Sequence[DatasetEvaluator]) -> None:
        super().__init__()
        self._evaluators = list(evaluators)

    def reset(self) -> None:
        for evaluator in self._evaluators:
            evaluator.reset()

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        for evaluator in self._evaluators:
            evaluator.process(inputs, outputs)

    def evaluate(self) -> Results:
        merged: Results = {}
        for evaluator in self._evaluators:
            for task, metrics in (evaluator.evaluate() or {}).items():
                if task in merged:
                    raise ValueError(
                        f"Two evaluators returned results for the same task {task!r} "
                        f"({type(evaluator).__name__} is the second one)."
                    )
                merged[task] = metrics
        return merged


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
    """Put ``model`` in eval mode for the block and restore its previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _loader_length(data_loader: Iterable) -> int | None:
    try:
        return len(data_loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def _batch_size(inputs: Any) -> int:
    try:
        return len(inputs)
    except TypeError:
        return 1


def _log_progress(done_images: int, total_images: int | None, timed_images: int, timed_s: float) -> None:
    if timed_images == 0:
        logger.info("Inference: %d images done (warming up)", done_images)
        return
    s_per_img = timed_s / timed_images
    if total_images is None:
        logger.info("Inference: %d images done, %.4f s/img", done_images, s_per_img)
        return
    eta = datetime.timedelta(seconds=int(s_per_img * max(total_images - done_images, 0)))
    logger.info(
        "Inference: %d/%d images done, %.4f s/img, ETA=%s", done_images, total_images, s_per_img, eta
    )


def inference_on_dataset(
    model: nn.Module,
    data_loader: Iterable,
    evaluator: DatasetEvaluator | None,
    *,
    log_period_s: float = 5.0,
    num_warmup: int = 5,
) -> Results:
    """Run ``model`` over every batch of ``data_loader`` and evaluate its outputs.

    The model runs in eval mode under ``torch.no_grad()``; its previous train/eval mode is restored
    afterwards. Throughput excludes the first ``num_warmup`` batches (allocator and cudnn warm-up).

    A loader with a ``bad_images`` report (those of :func:`~maskrcnn_ext.data.build_test_loader`) may
    have left bad images out (``on_bad_image="skip"``): they are logged, and the results say how many
    images were evaluated and how many skipped.

    Args:
        model: takes a list of input dicts, returns a list of output dicts.
        data_loader: iterable of batches (lists of input dicts).
        evaluator: receives every (inputs, outputs) pair; ``None`` only runs the model.
        log_period_s: minimum seconds between two progress log lines.
        num_warmup: leading batches left out of the timing.

    Returns:
        ``evaluator.evaluate()`` plus ``{"inference": {"images": n, "skipped_images": k, "s_per_img": s}}``
        (all ranks' images; ``skipped_images`` only from a loader with a report, ``s_per_img`` only
        when images past the warm-up were timed); ``{}`` when ``evaluator`` is None or on ranks other
        than the main one in distributed evaluation.
    """
    total_batches = _loader_length(data_loader)
    logger.info("Start inference on %s batches", total_batches if total_batches is not None else "?")
    if evaluator is not None:
        evaluator.reset()

    done_images = 0
    timed_images = 0
    timed_s = 0.0
    last_log = time.perf_counter()
    with _eval_mode(model), torch.no_grad():
        for batch_idx, inputs in enumerate(data_loader):
            start = time.perf_counter()
            outputs = model(inputs)
            if torch.cuda.is_available():
                # CUDA kernels are asynchronous; without this the timing would miss most of the work.
                torch.cuda.synchronize()
            if evaluator is not None:
                evaluator.process(inputs, outputs)
            n = _batch_size(inputs)
            done_images += n
            if batch_idx >= num_warmup:
                timed_images += n
                timed_s += time.perf_counter() - start

            now = time.perf_counter()
            if now - last_log >= log_period_s:
                total_images = _estimate_total(total_batches, done_images, batch_idx + 1)
                _log_progress(done_images, total_images, timed_images, timed_s)
                last_log = now

    _log_summary(done_images, timed_images, timed_s)
    counts = _image_counts(data_loader, done_images)
    if evaluator is None:
        return {}
    results = evaluator.evaluate()
    if results:  # non-main ranks return {} and stay so
        timing = {"s_per_img": timed_s / timed_images} if timed_images else {}
        results = {**results, "inference": {**counts, **timing}}
    return results


def _image_counts(data_loader: Iterable, done_images: int) -> dict[str, int]:
    """Images evaluated on all ranks and, from a loader that reports them, the bad ones it skipped
    (logged here, on the main process). A collective: every rank must call it."""
    counts = {"images": sum(comm.all_gather(done_images))}
    report = getattr(data_loader, "bad_images", None)
    if report is None:
        return counts
    report = report.gathered()
    counts["skipped_images"] = len(report.files)
    if report.on_bad_image == "skip" and comm.is_main_process():
        report.log_summary()
        if report.files:
            logger.warning("The metrics of this evaluation are over the other %d images", counts["images"])
    return counts


def _estimate_total(total_batches: int | None, done_images: int, done_batches: int) -> int | None:
    # Loaders only know their batch count; the mean batch size so far converts it to images.
    if total_batches is None:
        return None
    return round(total_batches * done_images / max(done_batches, 1))


def _log_summary(done_images: int, timed_images: int, timed_s: float) -> None:
    if timed_images == 0:
        logger.info("Inference done on %d images (too few to time past the warm-up)", done_images)
        return
    logger.info(
        "Total inference time: %s (%.4f s/img over %d images, warm-up excluded); %d images in all",
        datetime.timedelta(seconds=int(timed_s)),
        timed_s / timed_images,
        timed_images,
        done_images,
    )
