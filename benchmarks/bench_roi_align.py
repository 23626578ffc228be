#!/usr/bin/env python
"""RoIAlign forward + backward: our separable backward pass against torchvision's CPU kernel.

Feature maps and RoIs mimic one FPN level of the CPU demo's training step: a batch of 2 maps with 32
channels at stride 4, 256 box RoIs (7x7) or 8 mask RoIs (14x14) with sides up to 112 px. Both
implementations alternate for ``--rounds`` rounds; medians are reported, ratio = ours / torchvision.

    python benchmarks/bench_roi_align.py [--rounds 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torchvision.ops import roi_align

from maskrcnn_ext.layers.roi_align_separable import roi_align_separable


def make_inputs(num_rois: int, max_side: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``(2, 32, 72, 88)`` (a 288x352 image at stride 4) and ``(num_rois, 5)`` RoIs."""
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(2, 32, 72, 88, generator=g, requires_grad=True)
    corner = torch.rand(num_rois, 2, generator=g) * torch.tensor([352.0, 288.0])
    size = 4 + torch.rand(num_rois, 2, generator=g) * (max_side - 4)
    index = torch.randint(0, 2, (num_rois, 1), generator=g).float()
    return features, torch.cat([index, corner, corner + size], dim=1)


def time_fwd_bwd(op, features: torch.Tensor, rois: torch.Tensor, output_size: int, repeats: int) -> float:
    """Seconds per forward + backward pass, averaged over ``repeats``."""
    start = time.perf_counter()
    for _ in range(repeats):
        out = op(features, rois, output_size, 0.25, 2, True)
        out.backward(torch.ones_like(out))
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=10, help="passes per round")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the demo runs 1 per process)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.rounds} rounds x {args.repeats} passes")
    print("| case | torchvision ms | ours ms | ratio (ours / torchvision) |")
    print("|---|---|---|---|")
    for name, num_rois, output_size in (("box pooler, 256 RoIs, 7x7", 256, 7), ("mask pooler, 8 RoIs, 14x14", 8, 14)):
        features, rois = make_inputs(num_rois, max_side=112.0)
        times: dict[str, list[float]] = {"torchvision": [], "ours": []}
        ops = {"torchvision": roi_align, "ours": roi_align_separable}
        for op in ops.values():  # warm-up
            time_fwd_bwd(op, features, rois, output_size, 2)
        for _ in range(args.rounds):
            for key, op in ops.items():
                times[key].append(time_fwd_bwd(op, features, rois, output_size, args.repeats))
        tv, ours = statistics.median(times["torchvision"]), statistics.median(times["ours"])
        print(f"| {name} | {tv * 1e3:.1f} | {ours * 1e3:.1f} | {ours / tv:.2f} |")


if __name__ == "__main__":
    main()
