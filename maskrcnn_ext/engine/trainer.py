"""The training loop: a hook-driven base class and the standard single-optimizer trainer."""
from __future__ import annotations

import logging
import math
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from maskrcnn_ext.layers.precision import resolve_amp_dtype
from maskrcnn_ext.utils import comm

from .events import EventStorage

__all__ = ["HookBase", "SimpleTrainer", "TrainerBase"]

logger = logging.getLogger(__name__)


class HookBase:
    """Callbacks around the training loop; ``self.trainer`` is set when the hook is registered.

    During ``after_step`` the trainer's ``iter`` is the iteration that just ran. ``after_train`` runs
    however training ends, so that hooks can write what is pending and release what they hold: after a
    run that reached ``max_iter``, the trainer's ``completed`` is True and ``iter`` equals ``max_iter``;
    after an exception, ``completed`` is False, ``iter`` is the iteration that raised, and the exception
    propagates once every ``after_train`` has run. Work that only makes sense at the end of a whole run
    (a final evaluation) must check ``completed``.
    """

    trainer: TrainerBase

    def before_train(self) -> None:
        pass

    def after_train(self) -> None:
        pass

    def before_step(self) -> None:
        pass

    def after_step(self) -> None:
        pass


class TrainerBase:
    """Runs ``run_step`` from ``start_iter`` to ``max_iter`` and calls the hooks around it.

    Args:
        hooks: hooks to register, called in this order.

    Attributes:
        iter: the current iteration.
        start_iter: the first iteration of this ``train`` call.
        max_iter: one past the last iteration.
        storage: the :class:`EventStorage` open during ``train``.
        completed: whether the last ``train`` call ran every iteration (False while it runs).
    """

    def __init__(self, *, hooks: Sequence[HookBase] = ()) -> None:
        self._hooks: list[HookBase] = []
        self.iter = 0
        self.start_iter = 0
        self.max_iter = 0
        self.completed = False
        self.storage: EventStorage
        self._restored_history: Mapping[str, Any] | None = None
        self.register_hooks(hooks)

    def register_hooks(self, hooks: Iterable[HookBase | None]) -> None:
        """Append hooks (``None`` entries are skipped, so callers can write ``a if cond else None``)."""
        for hook in hooks:
            if hook is None:
                continue
            if not isinstance(hook, HookBase):
                raise TypeError(f"Hooks must subclass HookBase, got {type(hook).__name__}")
            # A proxy avoids a reference cycle trainer -> hook -> trainer.
            hook.trainer = weakref.proxy(self)
            self._hooks.append(hook)

    def train(self, start_iter: int, max_iter: int) -> None:
        """Train for iterations ``start_iter .. max_iter - 1``.

        ``after_train`` hooks run however the loop ends (see :class:`HookBase`). An exception from the
        loop is logged with the iteration it happened at and re-raised unchanged: ``after_train`` hooks
        that fail meanwhile are logged, never raised in its place.
        """
        logger.info("Starting training from iteration %d to %d", start_iter, max_iter)
        self.iter = self.start_iter = start_iter
        self.max_iter = max_iter
        self.completed = False
        with EventStorage(start_iter) as self.storage:
            if self._restored_history:
                self.storage.load_state_dict(self._restored_history)
            try:
                self.before_train()
                for self.iter in range(start_iter, max_iter):
                    self.before_step()
                    self.run_step()
                    self.after_step()
                self.iter = max_iter
                self.completed = True
            except Exception:
                logger.exception("Exception during training at iter %d", self.iter)
                raise
            finally:
                self.after_train()

    def before_train(self) -> None:
        for hook in self._hooks:
            hook.before_train()

    def after_train(self) -> None:
        """Call every hook's ``after_train``, each one even when an earlier one raised.

        After a completed run, the first exception is raised once all have run (later ones are logged);
        after a failed run all are only logged, so that the exception that stopped training propagates.
        """
        self.storage.iter = self.iter
        error: Exception | None = None
        for hook in self._hooks:
            try:
                hook.after_train()
            except Exception as exc:
                if self.completed and error is None:
                    error = exc
                    continue
                reason = "an earlier after_train failed" if self.completed else "training had already failed"
                logger.exception("Exception in %s.after_train, not raised: %s", type(hook).__name__, reason)
        if error is not None:
            raise error

    def before_step(self) -> None:
        # Scalars put during this step (by the model, the trainer or hooks) belong to this iteration.
        self.storage.iter = self.iter
        for hook in self._hooks:
            hook.before_step()

    def after_step(self) -> None:
        for hook in self._hooks:
            hook.after_step()

    def run_step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"iteration": self.iter}
        if hasattr(self, "storage"):
            state["history"] = self.storage.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.iter = int(state["iteration"])
        self._restored_history = state.get("history")  # restored into the storage train() opens


def _model_is_on_cuda(model: nn.Module) -> bool:
    return any(p.is_cuda for p in model.parameters())


class SimpleTrainer(TrainerBase):
    """One optimizer step per iteration on the summed ``loss_*`` dict returned by the model.

    Args:
        model: a module in train mode mapping a batch (list of input dicts) to a dict of scalar losses.
        data_loader: an iterable of batches; it must not run out before ``max_iter``.
        optimizer: the optimizer over the model's parameters.
        grad_clip: if set, clip the total gradient norm to this value before stepping.
        amp: mixed precision: the forward under autocast (:mod:`maskrcnn_ext.layers.precision` says
            what runs in which dtype), weights, gradients and optimizer state in full precision.
        amp_dtype: ``"auto"`` (CUDA: float16 with loss scaling; CPU: bfloat16), ``"float16"`` (CUDA
            only) or ``"bfloat16"`` (no loss scaling needed: it has float32's exponent range).
        hooks: hooks to register.
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        data_loader: Iterable[list[dict[str, Any]]],
        optimizer: torch.optim.Optimizer,
        grad_clip: float | None = None,
        amp: bool = False,
        amp_dtype: str = "auto",
        hooks: Sequence[HookBase] = (),
    ) -> None:
        super().__init__(hooks=hooks)
        self.model = model
        self.data_loader = data_loader
        self.optimizer = optimizer
        self.grad_clip = grad_clip
        self._data_iter: Iterator[list[dict[str, Any]]] | None = None
        self.device_type = "cuda" if _model_is_on_cuda(model) else "cpu"
        self.amp_dtype = resolve_amp_dtype(amp_dtype, self.device_type) if amp else None
        self.amp = self.amp_dtype is not None
        # float16 underflows small gradients unless the loss is scaled up; bfloat16 does not.
        scale = self.amp_dtype == torch.float16
        self.grad_scaler = torch.amp.GradScaler(self.device_type) if scale else None
        if self.amp:
            logger.info("Mixed precision: %s autocast on %s%s", self.amp_dtype, self.device_type,
                        ", with loss scaling" if scale else "")

    def _next_batch(self) -> list[dict[str, Any]]:
        if self._data_iter is None:
            self._data_iter = iter(self.data_loader)
        try:
            return next(self._data_iter)
        except StopIteration:
            raise RuntimeError(
                f"The data loader ran out of batches at iteration {self.iter}; training needs an infinite loader."
            ) from None

    def current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def _reduced_loss_values(self, loss_dict: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """Loss values averaged over all processes, for logging and the finiteness check.

        Reducing before the check makes every rank see the same values, so a NaN on one rank stops all
        of them together instead of leaving the others waiting in the next collective.
        """
        names = sorted(loss_dict)
        # float64 so that a float64 model's losses are logged (and compared across runs) unrounded.
        stacked = torch.stack([loss_dict[name].detach().double().reshape(()) for name in names])
        world_size = comm.get_world_size()
        if world_size > 1:
            torch.distributed.all_reduce(stacked)
            stacked /= world_size
        return dict(zip(names, stacked.tolist()))

    def _check_losses(self, values: Mapping[str, float]) -> None:
        if not all(math.isfinite(v) for v in values.values()):
            raise FloatingPointError(
                f"Loss became infinite or NaN at iteration={self.iter}, lr={self.current_lrs()}; "
                f"losses: {dict(values)}"
            )

    def _validate_loss_dict(self, loss_dict: Any) -> Mapping[str, torch.Tensor]:
        if not isinstance(loss_dict, Mapping) or not loss_dict:
            raise TypeError(
                f"The model must return a non-empty dict of losses in train mode, got {type(loss_dict).__name__}"
            )
        bad = [name for name in loss_dict if not str(name).startswith("loss_")]
        if bad:
            raise KeyError(f"Every loss key must start with 'loss_'; got {bad}")
        return loss_dict

    def _backward_and_step(self, total: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        scaler = self.grad_scaler
        if scaler is not None:
            scaler.scale(total).backward()
            if self.grad_clip is not None:
                # Clip the true gradients, not the loss-scaled ones.
                scaler.unscale_(self.optimizer)
                self._clip_gradients()
            scaler.step(self.optimizer)
            scaler.update()
            return
        total.backward()
        if self.grad_clip is not None:
            self._clip_gradients()
        self.optimizer.step()

    def _clip_gradients(self) -> None:
        params = [p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, self.grad_clip)

    def run_step(self) -> None:
        """Load a batch, compute the losses, check them, step the optimizer, record scalars."""
        if not self.model.training:
            raise RuntimeError("SimpleTrainer.run_step: the model is in eval mode; call model.train() first")
        start = time.perf_counter()
        batch = self._next_batch()
        data_time = time.perf_counter() - start

        autocast = torch.autocast(self.device_type, dtype=self.amp_dtype) if self.amp else nullcontext()
        with autocast:
            loss_dict = self._validate_loss_dict(self.model(batch))
        values = self._reduced_loss_values(loss_dict)
        self._check_losses(values)
        # Record the lr this step used, before a scheduler hook moves it on in after_step.
        lr = self.optimizer.param_groups[0]["lr"]
        self._backward_and_step(sum(loss_dict.values()))

        storage = self.storage
        storage.put_scalar("total_loss", sum(values.values()))
        for name, value in values.items():
            storage.put_scalar(name, value)
        storage.put_scalar("data_time", data_time)
        storage.put_scalar("lr", lr, smoothing_hint=False)

    @property
    def precision(self) -> str:
        """``"float32"`` (no autocast) or the autocast dtype's name, as checkpoints record it."""
        return str(self.amp_dtype).removeprefix("torch.") if self.amp else "float32"

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["precision"] = self.precision
        if self.grad_scaler is not None:
            state["grad_scaler"] = self.grad_scaler.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a checkpoint's trainer state.

        Raises:
            ValueError: the checkpoint was trained in another precision (``train.amp``) than this
                trainer runs in: a resumed run continues in its own precision, never silently in another.
        """
        recorded = state.get("precision")
        if recorded is not None and recorded != self.precision:
            raise ValueError(f"The checkpoint was trained with precision {recorded}, this run is set to "
                             f"{self.precision}: resume with the run's train.amp (enabled/dtype), or start "
                             "a new run from these weights (train.init_checkpoint) to change precision")
        super().load_state_dict(state)
        if "grad_scaler" in state:
            if self.grad_scaler is None:
                logger.warning("The checkpoint has a grad scaler state but AMP is off; ignoring it.")
            else:
                self.grad_scaler.load_state_dict(state["grad_scaler"])
