#!/usr/bin/env python
"""R-50-FPN inference at 800x1333 with each CPU inference optimization switched off in turn.

The optimizations (benchmarks/README.md, "What each optimization changed"):

- folded batch norm: the ResNet blocks' conv + frozen BN as one conv (``modeling/backbone/blocks.py``);
- channels-last RoIAlign: the separable forward on NHWC maps instead of torchvision's kernel;
- channels-last pooled features: the pooler keeps the maps' NHWC layout for the heads.

Each variant runs once as a warm-up, then the variants alternate for ``--repeats`` rounds in one
process; medians of the whole call and of its phases are printed. ``--train`` adds training steps
with and without the folded batch norm (the only one of the three that applies to training).

    python benchmarks/bench_inference_opts.py --repeats 3 --train
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite_models as sm  # noqa: E402

from maskrcnn_ext.layers import poolers  # noqa: E402
from maskrcnn_ext.modeling.backbone import blocks  # noqa: E402

# Each folding block and the torchvision forward it overrides.
_UNFOLDED = [(blocks.Bottleneck, resnet.Bottleneck), (blocks.BasicBlock, resnet.BasicBlock),
             (blocks.ConvNorm, nn.Sequential), (blocks.Stem, nn.Sequential)]


@contextlib.contextmanager
def unfolded_batch_norm() -> Iterator[None]:
    saved = [(cls, cls.forward) for cls, _ in _UNFOLDED]
    for cls, base in _UNFOLDED:
        cls.forward = base.forward
    try:
        yield
    finally:
        for cls, forward in saved:
            cls.forward = forward


@contextlib.contextmanager
def torchvision_roi_align(model: nn.Module) -> Iterator[None]:
    ops = [op for pooler in (model.roi_heads.box_pooler, model.roi_heads.mask_pooler) for op in pooler.level_ops]
    saved = [op.impl for op in ops]
    for op in ops:
        op.impl = "torchvision"
    try:
        yield
    finally:
        for op, impl in zip(ops, saved):
            op.impl = impl


@contextlib.contextmanager
def nchw_pooled_features() -> Iterator[None]:
    saved = poolers._is_channels_last
    poolers._is_channels_last = lambda x: False
    try:
        yield
    finally:
        poolers._is_channels_last = saved


def variants(model: nn.Module) -> dict[str, Callable[[], contextlib.AbstractContextManager]]:
    def none_of_them() -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        for switch in (unfolded_batch_norm(), torchvision_roi_align(model), nchw_pooled_features()):
            stack.enter_context(switch)
        return stack

    return {"all three": contextlib.nullcontext, "without folded BN": unfolded_batch_norm,
            "without channels-last RoIAlign": lambda: torchvision_roi_align(model),
            "without channels-last pooled features": nchw_pooled_features, "none of the three": none_of_them}


def time_inference(model: nn.Module, repeats: int) -> None:
    batch = sm.synthetic_batch(1, (800, 1333))
    inputs = [{k: v for k, v in batch[0].items() if k != "instances"}]
    switches = variants(model)
    totals: dict[str, list[float]] = defaultdict(list)
    phases: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with torch.no_grad():
        for switch in switches.values():
            with switch():
                model(inputs)
        for _ in range(repeats):
            for name, switch in switches.items():
                with switch():
                    timer = sm.PhaseTimer(model)
                    start = time.perf_counter()
                    model(inputs)
                    totals[name].append(time.perf_counter() - start)
                    timer.remove()
                for phase, seconds in timer.seconds.items():
                    phases[name][phase].append(seconds)
    print("| variant | s/img | " + " | ".join(sm.PHASES[:-1]) + " |")
    print("|---|---:|" + "---:|" * (len(sm.PHASES) - 1))
    for name in switches:
        cells = " | ".join(f"{statistics.median(phases[name][p]):.3f}" for p in sm.PHASES[:-1])
        print(f"| {name} | {statistics.median(totals[name]):.3f} | {cells} |")


def time_training(model: nn.Module, repeats: int) -> None:
    model.train()
    step = sm._train_call(model, sm.synthetic_batch(2, (800, 1333)))
    switches = {"folded BN": contextlib.nullcontext, "unfolded BN": unfolded_batch_norm}
    times: dict[str, list[float]] = defaultdict(list)
    for switch in switches.values():
        with switch():
            step()
    for _ in range(repeats):
        for name, switch in switches.items():
            with switch():
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        print(f"training step, 2 x 800x1333, {name}: {statistics.median(values):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train", action="store_true", help="also time training steps (about 4 minutes)")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = sm.build_ours(sm.R50_CONFIG).eval()
    time_inference(model, args.repeats)
    if args.train:
        time_training(model, args.repeats)


if __name__ == "__main__":
    main()
