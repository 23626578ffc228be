#!/usr/bin/env python
"""Train or evaluate a Detectron2 LazyConfig with Detectron2's own engine.

A thin launcher for the configs of this project (and any other LazyConfig): Detectron2's
``SimpleTrainer`` (``AMPTrainer`` with ``train.amp.enabled``) with its hooks for the LR schedule,
checkpoints, periodic evaluation and writers, so that ``train.output_dir`` ends up holding Detectron2's
``config.yaml``, ``metrics.json`` (training scalars every ``train.log_period`` iterations and the
evaluator's results, e.g. ``bbox/AP`` and ``segm/AP``, at every evaluation) and ``model_*.pth``.

    python projects/Detectron2Bridge/train_net.py --config-file CONFIG [--eval-only] [--resume]
        [--num-gpus N] [--num-machines M --machine-rank R --dist-url URL] [key=value ...]

Importing this file has no side effects besides what importing ``maskrcnn_ext.d2`` does (it registers
the bridge's components). The toolkit's shapes datasets are registered into Detectron2's catalogs when a
run starts (:func:`register_datasets`), so the CPU-scale configs find them by name.

Config keys read besides Detectron2's usual ``train.*``: ``train.seed`` (seeds every generator,
offset by the process rank; absent or negative: a random seed) and ``train.device`` (``cpu`` trains
without a GPU).
"""
from __future__ import annotations

import logging
import sys
from typing import Any, Sequence

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import LazyConfig, instantiate
from detectron2.engine import AMPTrainer, SimpleTrainer, default_argument_parser, default_setup, hooks, launch
from detectron2.engine.defaults import create_ddp_model
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm
from detectron2.utils.events import CommonMetricPrinter, JSONWriter
from omegaconf import DictConfig

import maskrcnn_ext.d2  # noqa: F401  (registers the bridge's components)
from maskrcnn_ext.checkpoint.pickle_io import load_array_pickle
from maskrcnn_ext.d2 import register_toolkit_dataset
from maskrcnn_ext.data.shapes import SHAPES_SPLITS

__all__ = ["SafeDetectionCheckpointer", "evaluate", "load_config", "main", "parse_args", "register_datasets",
           "train"]

logger = logging.getLogger("detectron2.train_net")


class SafeDetectionCheckpointer(DetectionCheckpointer):
    """Detectron2's checkpointer, reading ``.pkl`` weights (its model zoo's, MSRA's ImageNet files)
    through the toolkit's restricted unpickler, which builds numpy arrays and nothing else. ``.pth``
    files already go through ``torch.load``, whose default reads tensors and containers only."""

    def _load_file(self, filename: str) -> dict[str, Any]:
        if not filename.endswith(".pkl"):
            return super()._load_file(filename)
        data = load_array_pickle(filename)
        if "model" in data and "__author__" in data:  # a Detectron2 model-zoo file
            return data
        # A Caffe2-era file (ImageNet backbones, Detectron1 models): bare arrays, optionally under
        # "blobs"; the optimizer's momenta are not weights.
        blobs = data.get("blobs", data)
        weights = {k: v for k, v in blobs.items() if not k.endswith("_momentum")}
        return {"model": weights, "__author__": "Caffe2", "matching_heuristics": True}


def register_datasets() -> None:
    """Make the toolkit's shapes splits (``shapes_*``, generated on first use) Detectron2 datasets."""
    for name in SHAPES_SPLITS:
        register_toolkit_dataset(name)


def load_config(config_file: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The LazyConfig ``config_file`` with ``key=value`` overrides applied (Hydra's syntax)."""
    cfg = LazyConfig.load(config_file)
    return LazyConfig.apply_overrides(cfg, list(overrides))


def evaluate(cfg: DictConfig, model: torch.nn.Module) -> dict[str, Any]:
    """Run ``cfg.dataloader.evaluator`` over ``cfg.dataloader.test``; ``{}`` when the config has no evaluator.

    Returns:
        The evaluator's results, e.g. ``{"bbox": {"AP": ...}, "segm": {"AP": ...}}``.
    """
    if "evaluator" not in cfg.dataloader:
        return {}
    results = inference_on_dataset(model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator))
    if comm.is_main_process():
        print_csv_format(results)
    return results


def _writers(cfg: DictConfig) -> list:
    # The console and metrics.json; no TensorBoard writer, which would need tensorboard installed.
    return [CommonMetricPrinter(cfg.train.max_iter), JSONWriter(f"{cfg.train.output_dir}/metrics.json")]


def _build_trainer(cfg: DictConfig, model: torch.nn.Module) -> SimpleTrainer:
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    data_loader = instantiate(cfg.dataloader.train)
    ddp_model = create_ddp_model(model, **cfg.train.ddp)
    if cfg.train.amp.enabled:
        return AMPTrainer(ddp_model, data_loader, optimizer)
    return SimpleTrainer(ddp_model, data_loader, optimizer)


def train(cfg: DictConfig, *, resume: bool = False) -> None:
    """Train ``cfg`` from ``train.init_checkpoint`` (or, with ``resume``, from the last checkpoint in
    ``train.output_dir``) for ``train.max_iter`` iterations, evaluating every ``train.eval_period``
    iterations and after the last one."""
    model = instantiate(cfg.model).to(cfg.train.device)
    logger.info("Model:\n%s", model)
    trainer = _build_trainer(cfg, model)
    checkpointer = SafeDetectionCheckpointer(model, cfg.train.output_dir, trainer=trainer)
    main_process = comm.is_main_process()
    trainer.register_hooks([
        hooks.IterationTimer(),
        hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
        hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer) if main_process else None,
        # Before the writer, so that the results of the last evaluation reach metrics.json.
        hooks.EvalHook(cfg.train.eval_period, lambda: evaluate(cfg, model)),
        hooks.PeriodicWriter(_writers(cfg), period=cfg.train.log_period) if main_process else None,
    ])
    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=resume)
    start_iter = trainer.iter + 1 if resume and checkpointer.has_checkpoint() else 0
    trainer.train(start_iter, cfg.train.max_iter)


def main(args) -> dict[str, Any] | None:
    """One process's run: set up logging, seeds and ``config.yaml`` (Detectron2's ``default_setup``),
    then train, or only evaluate ``train.init_checkpoint`` with ``args.eval_only``."""
    register_datasets()
    cfg = load_config(args.config_file, args.opts)
    default_setup(cfg, args)
    if not args.eval_only:
        train(cfg, resume=args.resume)
        return None
    model = instantiate(cfg.model).to(cfg.train.device)
    SafeDetectionCheckpointer(model).load(cfg.train.init_checkpoint)
    model = create_ddp_model(model)
    return evaluate(cfg, model)


def parse_args(argv: Sequence[str] | None = None):
    """Detectron2's launcher arguments: ``--config-file``, ``--eval-only``, ``--resume``, ``--num-gpus``,
    ``--num-machines``, ``--machine-rank``, ``--dist-url`` and trailing ``key=value`` overrides."""
    return default_argument_parser(epilog=__doc__).parse_args(argv)


if __name__ == "__main__":
    cli = parse_args(sys.argv[1:])
    launch(main, cli.num_gpus, num_machines=cli.num_machines, machine_rank=cli.machine_rank,
           dist_url=cli.dist_url, args=(cli,))
