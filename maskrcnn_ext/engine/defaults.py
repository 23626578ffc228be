"""What every training script does first: parse the standard arguments and prepare the run directory."""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
from typing import Any

import torch

from maskrcnn_ext.config import LazyConfig
from maskrcnn_ext.utils import comm
from maskrcnn_ext.utils.env import collect_env_info, seed_all
from maskrcnn_ext.utils.logger import setup_logger

__all__ = ["default_argument_parser", "default_setup"]

logger = logging.getLogger(__name__)


def default_argument_parser(epilog: str | None = None) -> argparse.ArgumentParser:
    """The launcher's arguments: config file, resume/eval-only, processes, and ``key=value`` overrides.

    Args:
        epilog: text shown after the help, e.g. usage examples.

    Returns:
        The parser; ``args.opts`` holds the overrides as a list of ``"key=value"`` strings.
    """
    parser = argparse.ArgumentParser(epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default="", metavar="FILE", help="path to the Python lazy config")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="resume from the last checkpoint in the output directory when there is one",
    )
    parser.add_argument(
        "--eval-only",
        action="store_true",
        help="evaluate the weights (train.init_checkpoint, or with --resume the run's last checkpoint) and exit; "
        "writes into a directory of its own, <train.output_dir>/eval/<weights name>, never into the run's",
    )
    parser.add_argument(
        "--eval-output",
        default=None,
        metavar="DIR",
        help="with --eval-only: the directory to write the evaluation into instead (not a training run's)",
    )
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic algorithms only (an error for ops that have none): on CPU a killed and "
        "resumed run then ends with bit-identical weights",
    )
    parser.add_argument(
        "--num-gpus",
        "--num-processes",
        dest="num_gpus",
        type=int,
        default=1,
        help="number of processes to start on this machine: one per GPU, or data-parallel CPU "
        "processes (gloo) when there is no GPU",
    )
    parser.add_argument(
        "--dist-url",
        default="auto",
        help="rendezvous URL for the spawned processes; 'auto' picks a free localhost port",
    )
    parser.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        default=None,
        help="config overrides as key=value, e.g. train.max_iter=100 optimizer.lr=0.01",
    )
    return parser


def _save_config(cfg: Any, output_dir: str, config_file: str) -> None:
    """Write the resolved config and a copy of its source file into the run directory."""
    path = os.path.join(output_dir, "config.yaml")
    try:
        LazyConfig.save(cfg, path)
        logger.info("Full config saved to %s", path)
    except Exception:
        # A config that cannot be serialised should not prevent training; say so loudly.
        logger.exception("Could not save the resolved config to %s", path)
    if config_file:
        shutil.copyfile(config_file, os.path.join(output_dir, "config_source.py"))
        # Where the config came from, for tools that name it later (the model zoo's table).
        with open(os.path.join(output_dir, "config_source.txt"), "w", encoding="utf-8") as f:
            f.write(os.path.relpath(config_file) + "\n")


def set_deterministic() -> None:
    """Make torch use deterministic algorithms only.

    On CPU this makes a run repeatable bit for bit at a fixed thread count. On GPUs it also turns off
    cuDNN autotuning and fixes cuBLAS's workspace; ops without a deterministic CUDA kernel (for
    example the backward of torchvision's RoIAlign, which adds with atomics) then raise instead of
    running, and results can still differ between GPU models and library versions.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS initialises
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    logger.info("Deterministic algorithms only (--deterministic)")


def _seed(cfg_seed: Any, rank: int) -> int:
    """Seed this process; a negative or missing seed draws a fresh random one."""
    seed = -1 if cfg_seed is None else int(cfg_seed)
    if seed < 0:
        seed = secrets.randbelow(2**31)
        logger.info("No fixed seed configured; using random seed %d", seed)
    seed_all(seed + rank)
    return seed + rank


def default_setup(cfg: Any, args: argparse.Namespace, *, output_dir: str | None = None) -> None:
    """Prepare the run directory and this process: logging, config copies, environment, seed.

    Args:
        cfg: the loaded config; uses ``cfg.train.output_dir`` and ``cfg.train.seed``.
        args: the parsed arguments of :func:`default_argument_parser`.
        output_dir: where the log, the config copies and ``env.txt`` go instead of
            ``cfg.train.output_dir`` (an evaluation's own directory).
    """
    output_dir = str(cfg.train.output_dir if output_dir is None else output_dir)
    rank = comm.get_rank()
    if comm.is_main_process():
        os.makedirs(output_dir, exist_ok=True)
    comm.synchronize()

    setup_logger(output_dir, distributed_rank=rank, name="maskrcnn_ext")
    logger.info("Rank of this process: %d / world size %d", rank, comm.get_world_size())
    logger.info("Command line arguments: %s", args)

    if comm.is_main_process():
        with open(os.path.join(output_dir, "env.txt"), "w", encoding="utf-8") as f:
            f.write(collect_env_info() + "\n")
        _save_config(cfg, output_dir, getattr(args, "config_file", ""))

    _seed(getattr(cfg.train, "seed", -1), rank)
    if getattr(args, "deterministic", False):
        set_deterministic()
