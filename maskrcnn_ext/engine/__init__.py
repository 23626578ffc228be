"""The training engine: trainer loop and hooks, events and writers, checkpoints, lr schedules, launch."""
from __future__ import annotations

from .checkpoint import Checkpointer
from .defaults import default_argument_parser, default_setup
from .events import ConsoleWriter, EventStorage, EventWriter, JSONWriter, TensorboardWriter, get_event_storage
from .hooks import (
    BadImageSummary,
    EvalHook,
    IterationTimer,
    LRScheduler,
    PeriodicCheckpointer,
    PeriodicWriter,
    flatten_results,
)
from .launch import create_ddp_model, launch
from .lr_scheduler import LRMultiplier, WarmupParamScheduler, warmup_multistep
from .trainer import HookBase, SimpleTrainer, TrainerBase

__all__ = [
    "BadImageSummary",
    "Checkpointer",
    "ConsoleWriter",
    "EvalHook",
    "EventStorage",
    "EventWriter",
    "HookBase",
    "IterationTimer",
    "JSONWriter",
    "LRMultiplier",
    "LRScheduler",
    "PeriodicCheckpointer",
    "PeriodicWriter",
    "SimpleTrainer",
    "TensorboardWriter",
    "TrainerBase",
    "WarmupParamScheduler",
    "create_ddp_model",
    "default_argument_parser",
    "default_setup",
    "flatten_results",
    "get_event_storage",
    "launch",
    "warmup_multistep",
]
