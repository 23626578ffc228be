#!/usr/bin/env python
"""Training and inference speed of the ablation configs at their own scale, on synthetic images.

Each config is built as written, except that frozen batch norm becomes trainable batch norm: with
random weights (nothing is downloaded) frozen statistics let activations grow through the residual
stages until mixed precision overflows. Training runs through the toolkit's own ``SimpleTrainer``
(so ``train.amp`` takes the real AMP path on CUDA) on smooth random images of the configs' test size with a
few random instances each; the table reports the median seconds per iteration after a warm-up,
the peak GPU memory, and the seconds per image of inference.

    python benchmarks/bench_ablation_configs.py                                  # the COCO-scale arms
    python benchmarks/bench_ablation_configs.py --configs projects/MaskRCNN-Ablations/configs/shapes/*.py
"""
from __future__ import annotations

import argparse
import gc
import glob
import itertools
import statistics
import time

import torch
from suite_models import sync, synthetic_batch

from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.engine import HookBase, SimpleTrainer

DEFAULT_GLOB = "projects/MaskRCNN-Ablations/configs/coco/*.py"


class _StepTimer(HookBase):
    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.times: list[float] = []

    def before_step(self) -> None:
        sync(self.device)
        self.start = time.perf_counter()

    def after_step(self) -> None:
        sync(self.device)
        self.times.append(time.perf_counter() - self.start)


def _trainable_bn(cfg) -> None:
    backbone = cfg.model.backbone
    bottom_up = backbone.get("bottom_up", backbone)
    bottom_up.norm = "BN"


def bench_config(path: str, *, device: str, images: int, size: tuple[int, int], steps: int, warmup: int) -> dict:
    cfg = LazyConfig.load(path)
    _trainable_bn(cfg)
    model = instantiate(cfg.model).to(device).train()
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    batch = synthetic_batch(images, size, num_classes=cfg.model.roi_heads.num_classes)
    timer = _StepTimer(torch.device(device))
    trainer = SimpleTrainer(model=model, data_loader=itertools.repeat(batch), optimizer=optimizer,
                            amp=bool(cfg.train.amp.enabled), hooks=[timer])
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.train(0, warmup + steps)
    model.eval()
    with torch.no_grad():
        detections = len(model(batch[:1])[0]["instances"]["boxes"])
        sync(timer.device)
        start = time.perf_counter()
        for _ in range(3):
            model(batch[:1])
        sync(timer.device)
    return {"config": path, "amp": trainer.amp, "s_per_iter": statistics.median(timer.times[warmup:]),
            "infer_s_per_img": (time.perf_counter() - start) / 3,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan"),
            "params_m": sum(p.numel() for p in model.parameters()) / 1e6, "detections": detections}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=None,
                        help=f"config files (default: the arms in {DEFAULT_GLOB})")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=2, help="images per step (the paper: 2 per GPU)")
    parser.add_argument("--size", type=int, nargs=2, default=(800, 1216), metavar=("H", "W"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    # By default every arm; the roots (base_*) are arms already and recipe.py is no model.
    paths = args.configs or [p for p in sorted(glob.glob(DEFAULT_GLOB))
                             if not p.rsplit("/", 1)[-1].startswith(("base_", "recipe"))]
    print(f"device {args.device} ({torch.cuda.get_device_name() if args.device == 'cuda' else 'cpu'}), "
          f"torch {torch.__version__}, {args.images} images of {args.size[0]}x{args.size[1]} per step")
    print("| config | params (M) | AMP | train s/iter | inference s/img | peak GiB | detections |\n"
          "|---|---|---|---|---|---|---|")
    for path in paths:
        torch.manual_seed(0)
        r = bench_config(path, device=args.device, images=args.images, size=tuple(args.size), steps=args.steps,
                         warmup=args.warmup)
        print(f"| {path.rsplit('/', 1)[-1]} | {r['params_m']:.1f} | {r['amp']} | {r['s_per_iter']:.3f} | "
              f"{r['infer_s_per_img']:.3f} | {r['peak_gib']:.1f} | {r['detections']} |",
              flush=True)
        gc.collect()  # the trainer and its hooks reference each other: free the model before the next
        if args.device == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
