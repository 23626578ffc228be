"""Scalars recorded during training and the writers that publish them.

The trainer opens one :class:`EventStorage`; the model, the trainer and the hooks put scalars into it
(``get_event_storage()`` finds it from anywhere), and the writers read it periodically.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import torch
from fvcore.common.history_buffer import HistoryBuffer

from ..utils.env import peak_rss_mib

__all__ = [
    "ConsoleWriter",
    "EventStorage",
    "EventWriter",
    "JSONWriter",
    "TensorboardWriter",
    "get_event_storage",
]

logger = logging.getLogger(__name__)

_STORAGE_STACK: list[EventStorage] = []


def get_event_storage() -> EventStorage:
    """The innermost open :class:`EventStorage`.

    Raises:
        RuntimeError: when called outside ``with EventStorage(...)``.
    """
    if not _STORAGE_STACK:
        raise RuntimeError("get_event_storage() was called outside of an open EventStorage context.")
    return _STORAGE_STACK[-1]


class EventStorage:
    """Per-iteration scalars, plus evaluation results and other records (e.g. a data summary) as whole rows.

    Args:
        start_iter: the iteration the first scalars belong to.
    """

    def __init__(self, start_iter: int = 0) -> None:
        self.iter = start_iter
        self._history: dict[str, HistoryBuffer] = {}
        self._latest: dict[str, tuple[float, int]] = {}
        self._smoothing_hints: dict[str, bool] = {}
        self.eval_rows: list[dict[str, Any]] = []
        self.other_rows: list[dict[str, Any]] = []

    def put_scalar(self, name: str, value: float | torch.Tensor, smoothing_hint: bool = True) -> None:
        """Record ``value`` under ``name`` at the current iteration.

        Args:
            name: scalar name, e.g. ``"loss_cls"``.
            value: a Python number or a one-element tensor.
            smoothing_hint: whether writers should report a windowed median rather than the latest value.
        """
        value = float(value.item() if isinstance(value, torch.Tensor) else value)
        previous_hint = self._smoothing_hints.setdefault(name, smoothing_hint)
        if previous_hint != smoothing_hint:
            raise ValueError(
                f"Scalar {name!r} was put with smoothing_hint={previous_hint} before, now {smoothing_hint}"
            )
        self._history.setdefault(name, HistoryBuffer()).update(value, self.iter)
        self._latest[name] = (value, self.iter)

    def put_eval_row(self, results: Mapping[str, float], *, iteration: int | None = None) -> None:
        """Record flat evaluation results (``{"bbox/AP": 0.31, ...}``).

        Args:
            results: flat results, e.g. ``{"bbox/AP": 0.31}``.
            iteration: the iteration the row is labelled with; the current one by default.
        """
        iteration = self.iter if iteration is None else iteration
        self.eval_rows.append({"iteration": iteration, **{k: float(v) for k, v in results.items()}})

    def put_row(self, kind: str, values: Mapping[str, Any], *, iteration: int | None = None) -> None:
        """Record a row of another type than ``train`` or ``eval``, written as it is to ``metrics.jsonl``.

        Args:
            kind: the row's ``type``, e.g. ``"data"``; readers of train and eval rows pass over it.
            values: JSON-serialisable values (lists and strings too).
            iteration: the iteration the row is labelled with; the current one by default.
        """
        if kind in ("train", "eval"):
            raise ValueError(f"put_row is for other row types than train and eval, got {kind!r}")
        iteration = self.iter if iteration is None else iteration
        self.other_rows.append({"type": kind, "iteration": iteration, **values})

    def history(self, name: str) -> HistoryBuffer:
        """All values of ``name``; ``.median(n)``/``.avg(n)`` summarise the last ``n``.

        Raises:
            KeyError: naming the scalar and the ones that exist.
        """
        if name not in self._history:
            raise KeyError(f"No scalar named {name!r} in the EventStorage; known: {sorted(self._history)}")
        return self._history[name]

    def histories(self) -> dict[str, HistoryBuffer]:
        return dict(self._history)

    def latest(self) -> dict[str, tuple[float, int]]:
        """``{name: (latest value, iteration it was put at)}``."""
        return dict(self._latest)

    def latest_with_smoothing_hint(self, window_size: int = 20) -> dict[str, tuple[float, int]]:
        """Like :meth:`latest`, with smoothed scalars replaced by their median over ``window_size`` values."""
        result = {}
        for name, (value, iteration) in self._latest.items():
            if self._smoothing_hints[name]:
                value = self._history[name].median(window_size)
            result[name] = (value, iteration)
        return result

    def state_dict(self, keep: int = 200) -> dict[str, Any]:
        """The last ``keep`` values of every scalar (primitives only), so that a resumed run's windowed
        medians, and so its logged rows, are those of an uninterrupted run."""
        return {name: {"values": [[float(v), int(i)] for v, i in buffer.values()[-keep:]],
                       "smoothing_hint": self._smoothing_hints[name]}
                for name, buffer in self._history.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore scalar histories saved by :meth:`state_dict` (before any new value is put)."""
        for name, saved in state.items():
            buffer = HistoryBuffer()
            for value, iteration in saved["values"]:
                buffer.update(value, iteration)
            self._history[name] = buffer
            self._smoothing_hints[name] = bool(saved["smoothing_hint"])

    def __enter__(self) -> EventStorage:
        _STORAGE_STACK.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert _STORAGE_STACK[-1] is self, "EventStorage contexts were closed out of order"
        _STORAGE_STACK.pop()


class EventWriter:
    """Base class: ``write()`` publishes what is new in the current storage; ``close()`` frees resources."""

    def write(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _IncrementalWriter(EventWriter):
    """Shared bookkeeping: which scalars and eval rows were already written by this writer."""

    def __init__(self, window_size: int) -> None:
        self._window_size = window_size
        self._last_written_iter = -1
        self._eval_rows_written = 0
        self._other_rows_written = 0

    def _new_scalars(self, storage: EventStorage) -> dict[int, dict[str, float]]:
        """Scalars put since the previous write, grouped by iteration."""
        by_iter: dict[int, dict[str, float]] = {}
        for name, (value, iteration) in storage.latest_with_smoothing_hint(self._window_size).items():
            if iteration > self._last_written_iter:
                by_iter.setdefault(iteration, {})[name] = value
        if by_iter:
            self._last_written_iter = max(by_iter)
        return by_iter

    def _new_eval_rows(self, storage: EventStorage) -> list[dict[str, Any]]:
        rows = storage.eval_rows[self._eval_rows_written :]
        self._eval_rows_written = len(storage.eval_rows)
        return rows

    def _new_other_rows(self, storage: EventStorage) -> list[dict[str, Any]]:
        rows = storage.other_rows[self._other_rows_written :]
        self._other_rows_written = len(storage.other_rows)
        return rows


class JSONWriter(_IncrementalWriter):
    """Append one JSON object per line: ``{"iteration", "type": "train", scalars...}``, eval rows and the
    storage's other rows (see :meth:`EventStorage.put_row`).

    Args:
        path: the ``metrics.jsonl`` file; opened in append mode so a resumed run continues it.
        window_size: number of values the median of smoothed scalars is taken over.
    """

    def __init__(self, path: str, window_size: int = 20) -> None:
        super().__init__(window_size)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across writes

    def write(self) -> None:
        storage = get_event_storage()
        for iteration, scalars in sorted(self._new_scalars(storage).items()):
            self._file.write(json.dumps({"iteration": iteration, "type": "train", **scalars}, sort_keys=True) + "\n")
        for row in self._new_eval_rows(storage):
            self._file.write(json.dumps({"type": "eval", **row}, sort_keys=True) + "\n")
        for row in self._new_other_rows(storage):
            self._file.write(json.dumps(row, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


class TensorboardWriter(_IncrementalWriter):
    """Write every new scalar and eval result to TensorBoard event files in ``log_dir``."""

    def __init__(self, log_dir: str, window_size: int = 20) -> None:
        super().__init__(window_size)
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=log_dir)

    def write(self) -> None:
        storage = get_event_storage()
        for iteration, scalars in sorted(self._new_scalars(storage).items()):
            for name, value in scalars.items():
                self._writer.add_scalar(name, value, iteration)
        for row in self._new_eval_rows(storage):
            iteration = row["iteration"]
            for name, value in row.items():
                if name != "iteration":
                    self._writer.add_scalar(f"eval/{name}", value, iteration)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def _max_memory_mb() -> float:
    """Peak GPU memory of this process on CUDA, else peak resident set size, in MiB."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 1024**2
    return peak_rss_mib()


def _format_lr(lr: float) -> str:
    return f"{lr:.4f}" if lr >= 1e-3 else f"{lr:.3e}"


class ConsoleWriter(EventWriter):
    """Log one progress line: iteration, ETA, losses, lr, iteration and data time, peak memory.

    Losses and times are medians over the last ``window_size`` iterations; the first line is preceded
    by one saying so.

    A write logs a line only when scalars were put since the previous line, for the newest iteration
    they belong to: the write at the end of training logs nothing after a completed run, and the last
    completed iteration's line after a failed one.

    Args:
        max_iter: total number of iterations, for the ETA and the ``iter: i/N`` display.
        window_size: number of recent values the medians are taken over.
    """

    def __init__(self, max_iter: int, window_size: int = 20) -> None:
        self._max_iter = max_iter
        self._window_size = window_size
        self._last_written_iter = -1

    def _eta(self, storage: EventStorage, iteration: int) -> str | None:
        try:
            seconds_per_iter = storage.history("time").median(self._window_size)
        except KeyError:
            return None
        remaining = max(self._max_iter - iteration - 1, 0) * seconds_per_iter
        return str(datetime.timedelta(seconds=int(remaining)))

    def _median(self, storage: EventStorage, name: str) -> float | None:
        histories = storage.histories()
        return histories[name].median(self._window_size) if name in histories else None

    def format_line(self, storage: EventStorage, iteration: int | None = None) -> str:
        """The progress line after ``iteration`` (the storage's current iteration by default)."""
        iteration = storage.iter if iteration is None else iteration
        parts = [f"iter: {iteration + 1}/{self._max_iter}"]
        eta = self._eta(storage, iteration)
        if eta is not None:
            parts.append(f"eta: {eta}")
        losses = sorted(name for name in storage.histories() if name.startswith("loss_"))
        total = self._median(storage, "total_loss")
        if total is not None:
            detail = ", ".join(f"{name}: {self._median(storage, name):.4g}" for name in losses)
            parts.append(f"loss: {total:.4g} ({detail})" if detail else f"loss: {total:.4g}")
        if "lr" in storage.histories():
            parts.append(f"lr: {_format_lr(storage.history('lr').latest())}")
        timing = [f"{label}: {value:.4f}" for label, value in
                  (("time", self._median(storage, "time")), ("data", self._median(storage, "data_time")))
                  if value is not None]
        if timing:
            # Medians, unlike the mean the end-of-training summary gives: say so where the numbers are.
            parts.append("  ".join(timing) + f" (s/iter, medians of the last {self._window_size})")
        parts.append(f"max_mem: {_max_memory_mb():.0f}M")
        return "  ".join(parts)

    def write(self) -> None:
        storage = get_event_storage()
        newest = max((iteration for _, iteration in storage.latest().values()), default=-1)
        if newest > self._last_written_iter:
            if self._last_written_iter < 0:
                logger.info(_LINE_LEGEND, self._window_size)
            self._last_written_iter = newest
            logger.info(self.format_line(storage, newest))


_LINE_LEGEND = ("Progress lines: loss, time and data are medians over the last %d iterations; time is one "
                "training step (waiting for data included; evaluation and checkpointing not), data the wait "
                "for its batch, eta the remaining iterations at the median time")
