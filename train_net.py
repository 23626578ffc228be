#!/usr/bin/env python
"""Train and evaluate a model described by a Python lazy config.

    python train_net.py --config-file configs/Shapes/mask_rcnn_R_18_FPN_demo.py
    python train_net.py --config-file CONFIG --resume train.max_iter=2000
    python train_net.py --config-file CONFIG --eval-only train.init_checkpoint=output/model_final.pth
    python train_net.py --config-file CONFIG --eval-only --resume    # the run's last checkpoint
    python train_net.py --config-file CONFIG --eval-only train.init_checkpoint=export/model.onnx  # or .pt2
    python train_net.py --config-file CONFIG --num-gpus 2          # data parallel (gloo on CPU)
    torchrun --nproc-per-node 2 train_net.py --config-file CONFIG  # the same under torchrun
"""
from __future__ import annotations

import logging
import os

import torch
from torch.distributed.elastic.multiprocessing.errors import record

from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.data.classes import dataset_classes, write_run_classes
from maskrcnn_ext.engine import (
    BadImageSummary,
    Checkpointer,
    ConsoleWriter,
    EvalHook,
    IterationTimer,
    JSONWriter,
    LRMultiplier,
    LRScheduler,
    PeriodicCheckpointer,
    PeriodicWriter,
    SimpleTrainer,
    TensorboardWriter,
    create_ddp_model,
    default_argument_parser,
    default_setup,
    flatten_results,
    launch,
)
from maskrcnn_ext.engine.eval_dir import evaluation_dir, evaluation_weights, write_eval_row
from maskrcnn_ext.evaluation import inference_on_dataset
from maskrcnn_ext.model_zoo import resolve_checkpoint
from maskrcnn_ext.utils import comm
from maskrcnn_ext.evaluation.vis_predictions import save_prediction_visualizations
from maskrcnn_ext.export import is_exported_file, load_exported

logger = logging.getLogger("maskrcnn_ext.train_net")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and comm.get_world_size() > 1:
        name = f"cuda:{int(os.environ.get('LOCAL_RANK', comm.get_rank()))}"
    return torch.device(name)


def resolve_dtype(name: str) -> torch.dtype:
    """``train.dtype``: the model's parameter and compute dtype."""
    if name not in ("float32", "float64"):
        raise ValueError(f"train.dtype must be 'float32' or 'float64', got {name!r} "
                         "(mixed precision is train.amp)")
    return getattr(torch, name)


def do_test(cfg, model) -> dict:
    """Evaluate ``model`` on ``dataloader.test``; logs the AP tables and returns the results."""
    if cfg.dataloader.evaluator.get("output_dir") is None:
        cfg.dataloader.evaluator.output_dir = os.path.join(cfg.train.output_dir, "inference")
    # The evaluator logs its AP tables itself.
    return inference_on_dataset(model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator))


def do_visualize(cfg, model, output_dir: str) -> None:
    """Draw predictions on the first few test images into ``output_dir/vis``."""
    count = int(cfg.train.get("vis_num_images", 0))
    if count > 0 and comm.is_main_process():
        save_prediction_visualizations(model, instantiate(cfg.dataloader.test), os.path.join(output_dir, "vis"),
                                       dataset_name=cfg.dataloader.test.dataset, max_images=count)


def build_trainer(cfg, model, resume: bool) -> tuple[SimpleTrainer, EvalHook, int]:
    """The trainer with its hooks, resumed from the run's last checkpoint when asked and present.

    Resuming fixes the start iteration, which the training loader needs (it skips the batches already
    seen so that a resumed run sees the same data as an uninterrupted one), so the loader and the
    trainer are built after the checkpoint is read.
    """
    if cfg.train.get("compile_backbone", False):
        # In place (nn.Module.compile): parameter names, state dicts and checkpoints stay the eager ones.
        model.backbone.compile()
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    scheduler = LRMultiplier(optimizer, instantiate(cfg.lr_multiplier), cfg.train.max_iter)
    state = Checkpointer(model, cfg.train.output_dir, resolve_weights=resolve_checkpoint, optimizer=optimizer,
                         scheduler=scheduler).resume_or_load(cfg.train.init_checkpoint, resume=resume)
    start_iter = int(state.get("iteration", -1)) + 1
    cfg.dataloader.train.start_iter = start_iter
    trainer = SimpleTrainer(model=create_ddp_model(model, **cfg.train.ddp), optimizer=optimizer,
                            data_loader=instantiate(cfg.dataloader.train), grad_clip=cfg.train.grad_clip,
                            amp=cfg.train.amp.enabled, amp_dtype=cfg.train.amp.get("dtype", "auto"))
    if "trainer" in state:
        trainer.load_state_dict(state["trainer"])
    checkpointer = Checkpointer(model, cfg.train.output_dir, save_to_disk=comm.is_main_process(),
                                optimizer=optimizer, scheduler=scheduler, trainer=trainer)
    main_process = comm.is_main_process()
    writers = [ConsoleWriter(cfg.train.max_iter),
               JSONWriter(os.path.join(cfg.train.output_dir, "metrics.jsonl")),
               TensorboardWriter(cfg.train.output_dir)] if main_process else []
    # Every rank evaluates with rank 0's buffers: the ones in the checkpoints (see broadcast_buffers).
    eval_hook = EvalHook(cfg.train.eval_period, lambda: do_test(cfg, comm.broadcast_buffers(model)))
    trainer.register_hooks([
        IterationTimer(),
        LRScheduler(scheduler),
        PeriodicCheckpointer(checkpointer, cfg.train.checkpointer.period, cfg.train.max_iter,
                             max_to_keep=cfg.train.checkpointer.max_to_keep) if main_process else None,
        eval_hook,
        BadImageSummary(),
        PeriodicWriter(writers, period=cfg.train.log_period),
    ])
    return trainer, eval_hook, start_iter


def record_classes(cfg) -> None:
    """Write what the model's class indices mean (names, dataset category ids) into the run directory,
    from the training dataset (loaded by now), for predictions and publishing in other processes."""
    if not comm.is_main_process():
        return
    classes = dataset_classes(cfg.dataloader.train.get("dataset"))
    if classes is None:
        logger.warning("The training dataset records no class names or category ids: predictions of this run "
                       "will carry class indices")
        return
    write_run_classes(cfg.train.output_dir, classes)


def prepare_evaluation(cfg, args) -> tuple[str, str]:
    """``--eval-only``: the weights to evaluate (the run's last checkpoint with ``--resume``, else
    ``train.init_checkpoint``) and the evaluation's own directory (``--eval-output``, else
    ``<train.output_dir>/eval/<weights name>``), where its results go too; the run's is only read."""
    weights = evaluation_weights(cfg.train.output_dir, cfg.train.init_checkpoint, resume=args.resume)
    eval_dir = evaluation_dir(cfg.train.output_dir, weights, explicit=getattr(args, "eval_output", None))
    cfg.dataloader.evaluator.output_dir = os.path.join(eval_dir, "inference")
    return weights, eval_dir


def evaluate_only(cfg, model, weights: str, eval_dir: str) -> dict:
    """Load ``weights``, which must supply every parameter (randomly initialised heads would report
    meaningless AP), evaluate them and record the results as ``eval_dir/metrics.jsonl``. An exported
    model (``.pt2`` / ``.onnx``, already loaded as ``model``) is evaluated as it is."""
    if not is_exported_file(weights):
        Checkpointer(model, cfg.train.output_dir, resolve_weights=resolve_checkpoint).load_weights(
            weights).require_complete("--eval-only")
    results = do_test(cfg, model)
    if comm.is_main_process():
        write_eval_row(eval_dir, flatten_results(results), weights=weights, run_dir=str(cfg.train.output_dir))
    return results


@record  # under torchrun, a failing rank's exception goes into the job's failure report
def main(args) -> dict:
    cfg = LazyConfig.load(args.config_file)
    cfg = LazyConfig.apply_overrides(cfg, args.opts)
    weights, eval_dir = prepare_evaluation(cfg, args) if args.eval_only else (None, None)
    default_setup(cfg, args, output_dir=eval_dir)
    device = resolve_device(cfg.train.device)
    if args.eval_only and is_exported_file(weights):
        # The same evaluation on an exported program: it takes and returns what the eager model does.
        model = load_exported(weights, device=device)
    else:
        model = instantiate(cfg.model).to(device=device, dtype=resolve_dtype(cfg.train.get("dtype", "float32")))
    logger.info("Model:\n%s", model)

    if args.eval_only:
        results = evaluate_only(cfg, model, weights, eval_dir)
    else:
        trainer, eval_hook, start_iter = build_trainer(cfg, model, args.resume)
        record_classes(cfg)
        trainer.train(start_iter, cfg.train.max_iter)
        results = eval_hook.latest_results or {}
    do_visualize(cfg, model, eval_dir or cfg.train.output_dir)
    return results


if __name__ == "__main__":
    args = default_argument_parser(epilog=__doc__).parse_args()
    launch(main, num_processes=args.num_gpus, args=(args,), dist_url=args.dist_url)
