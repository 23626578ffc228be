"""Standard hooks: timing, lr scheduling, periodic checkpoints, periodic evaluation, writers."""
from __future__ import annotations

import datetime
import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from maskrcnn_ext.utils import comm

from .checkpoint import Checkpointer
from .events import EventWriter
from .trainer import HookBase

__all__ = [
    "BadImageSummary",
    "EvalHook",
    "IterationTimer",
    "LRScheduler",
    "PeriodicCheckpointer",
    "PeriodicWriter",
    "flatten_results",
]

logger = logging.getLogger(__name__)


class IterationTimer(HookBase):
    """Put the wall time of every step as ``time``; log the totals at the end.

    Registered first, it times the other hooks' ``before_step`` and the step (with the wait for data),
    not their ``after_step``: evaluations and checkpoints stay out of ``time``. The end-of-training
    summary gives the run's wall time (everything included) and the mean and median of ``time``;
    under load the mean can be several times the median that the progress lines show.

    Args:
        warmup_iter: first iterations left out of the mean and median (they include one-off setup costs).
    """

    def __init__(self, warmup_iter: int = 3) -> None:
        self._warmup_iter = warmup_iter
        self._step_start = 0.0
        self._train_start: float | None = None

    def before_train(self) -> None:
        self._train_start = time.perf_counter()

    def before_step(self) -> None:
        self._step_start = time.perf_counter()

    def after_step(self) -> None:
        self.trainer.storage.put_scalar("time", time.perf_counter() - self._step_start)

    def after_train(self) -> None:
        if self._train_start is None:  # an earlier hook's before_train failed: nothing was timed
            return
        total = time.perf_counter() - self._train_start
        num_iter = self.trainer.iter - self.trainer.start_iter
        overall = f", {total / num_iter:.4f} s/iter" if num_iter > 0 else ""
        logger.info("Total training time: %s for %d iterations%s (wall clock: steps, data, evaluation, "
                    "checkpoints and logging)", datetime.timedelta(seconds=int(total)), num_iter, overall)
        timed = num_iter - self._warmup_iter
        if timed > 0:
            history = self.trainer.storage.history("time")
            logger.info("Step time after the first %d iterations (the progress lines' time, which is its median "
                        "over their window; without evaluation and checkpoints): mean %.4f s, median %.4f s "
                        "over %d iterations", self._warmup_iter, history.avg(timed), history.median(timed), timed)


class LRScheduler(HookBase):
    """Step a per-iteration torch lr scheduler after every optimizer step.

    The lr an iteration used is recorded as ``lr`` by the trainer, before this hook moves it on.
    """

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def after_step(self) -> None:
        self.scheduler.step()


_PERIODIC_NAME = re.compile(r"^model_\d{7}\.pth$")


class PeriodicCheckpointer(HookBase):
    """Save ``model_{iter:07d}.pth`` every ``period`` iterations and ``model_final.pth`` at the end.

    Args:
        checkpointer: writes the files; its ``save_to_disk`` decides whether this rank writes.
        period: iterations between checkpoints.
        max_iter: total number of iterations.
        max_to_keep: keep only this many periodic checkpoints (oldest deleted first); ``None`` keeps all.
    """

    def __init__(self, checkpointer: Checkpointer, period: int, max_iter: int, max_to_keep: int | None = None) -> None:
        if period <= 0:
            raise ValueError(f"PeriodicCheckpointer: period must be positive, got {period}")
        if max_to_keep is not None and max_to_keep < 1:
            raise ValueError(f"PeriodicCheckpointer: max_to_keep must be >= 1 or None, got {max_to_keep}")
        self.checkpointer = checkpointer
        self.period = period
        self.max_iter = max_iter
        self.max_to_keep = max_to_keep

    def after_step(self) -> None:
        iteration = self.trainer.iter
        if iteration >= self.max_iter - 1:
            self.checkpointer.save("model_final", iteration=iteration)
        elif (iteration + 1) % self.period == 0:
            self.checkpointer.save(f"model_{iteration:07d}", iteration=iteration)
            self._delete_old()

    def _delete_old(self) -> None:
        if self.max_to_keep is None or not self.checkpointer.save_to_disk:
            return
        save_dir = self.checkpointer.save_dir
        periodic = sorted(name for name in os.listdir(save_dir) if _PERIODIC_NAME.match(name))
        for name in periodic[: -self.max_to_keep]:
            os.remove(os.path.join(save_dir, name))
            logger.info("Deleted old checkpoint %s", name)


def flatten_results(results: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten ``{"bbox": {"AP": 0.3}}`` into ``{"bbox/AP": 0.3}``.

    Raises:
        ValueError: naming the key whose value is not a number.
    """
    flat: dict[str, float] = {}
    for key, value in results.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten_results(value, name))
            continue
        try:
            flat[name] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"Evaluation result {name!r} is not a number: {value!r}") from None
    return flat


class EvalHook(HookBase):
    """Run ``eval_function`` every ``period`` iterations and once at the end of a completed run.

    The final evaluation runs in ``after_train``, and only when training reached ``max_iter`` (also when
    no step was left to run, as in a run resumed from its final checkpoint). After a failed run there is
    none: its weights are those of an unfinished run, and in a data-parallel run the failed rank would
    not join the evaluation's collectives. The final results are labelled with the last iteration,
    ``max_iter - 1``, like the periodic ones, which are labelled with the iteration just run.

    The nested results are flattened with ``/`` and recorded as an eval row of the event storage
    (written to ``metrics.jsonl`` as ``{"type": "eval", ...}`` by the writers; register this hook
    before :class:`PeriodicWriter` so that the final row is written in the same ``after_train``).

    Args:
        period: iterations between evaluations; 0 evaluates only at the end.
        eval_function: no-argument callable returning ``{"bbox": {"AP": ...}, ...}`` (on every rank;
            ranks other than the main one may return ``{}``).

    Attributes:
        latest_results: the results of the most recent evaluation, ``None`` before the first.
    """

    def __init__(self, period: int, eval_function: Callable[[], Mapping[str, Any]]) -> None:
        self.period = period
        self.eval_function = eval_function
        self.latest_results: Mapping[str, Any] | None = None

    def _evaluate(self, *, iteration: int) -> None:
        results = self.eval_function()
        if not isinstance(results, Mapping):
            raise TypeError(f"eval_function must return a dict of results, got {type(results).__name__}")
        flat = flatten_results(results)
        if flat:
            self.trainer.storage.put_eval_row(flat, iteration=iteration)
            shown = ", ".join(f"{k}: {v:.4f}" for k, v in flat.items() if not math.isnan(v))
            logger.info("Evaluation at iteration %d: %s", iteration, shown)
        self.latest_results = results
        # Evaluation may take ranks different times; keep them together before training continues.
        comm.synchronize()

    def after_step(self) -> None:
        next_iter = self.trainer.iter + 1
        # The evaluation after the last step is the final one, made in after_train.
        if self.period > 0 and next_iter % self.period == 0 and next_iter != self.trainer.max_iter:
            self._evaluate(iteration=self.trainer.iter)

    def after_train(self) -> None:
        if self.trainer.completed:
            self._evaluate(iteration=self.trainer.max_iter - 1)


class BadImageSummary(HookBase):
    """At the end of training with ``on_bad_image="skip"``, log which bad images the training loader
    skipped and record them as a ``{"type": "data", ...}`` row (``bad_images_skipped``,
    ``bad_image_draws``, ``bad_image_files``) for ``metrics.jsonl``.

    The report is the trainer's loader's ``bad_images`` (see :func:`maskrcnn_ext.data.build_train_loader`);
    a loader without one, or with ``"error"``, records nothing. After a completed run the ranks' reports
    are merged; after a failed one, only this rank's is given, as another rank may be gone. Register
    it before :class:`PeriodicWriter`.
    """

    def after_train(self) -> None:
        report = getattr(self.trainer.data_loader, "bad_images", None)
        if report is None or report.on_bad_image != "skip":
            return
        if self.trainer.completed:
            report = report.gathered()
        report.log_summary()
        self.trainer.storage.put_row("data", report.summary(), iteration=max(self.trainer.iter - 1, 0))


class PeriodicWriter(HookBase):
    """Call every writer's ``write`` every ``period`` iterations and after the last one (main process
    only), and once more in ``after_train`` however training ended, then close them.

    That last write publishes the scalars of the iterations since the previous write when an iteration
    raised, and what other hooks put in their ``after_train`` (the final evaluation): register this
    hook last.

    Args:
        writers: the writers, e.g. console, JSON, TensorBoard.
        period: iterations between writes.
    """

    def __init__(self, writers: Sequence[EventWriter], period: int = 20) -> None:
        if period <= 0:
            raise ValueError(f"PeriodicWriter: period must be positive, got {period}")
        bad = [type(w).__name__ for w in writers if not isinstance(w, EventWriter)]
        if bad:
            raise TypeError(f"PeriodicWriter: writers must be EventWriter instances, got {bad}")
        self.writers = list(writers)
        self.period = period

    def _write(self) -> None:
        if comm.is_main_process():
            for writer in self.writers:
                writer.write()

    def after_step(self) -> None:
        next_iter = self.trainer.iter + 1
        if next_iter % self.period == 0 or next_iter == self.trainer.max_iter:
            self._write()

    def after_train(self) -> None:
        try:
            self._write()  # the writers skip what they already wrote
        finally:
            for writer in self.writers:
                writer.close()
