#!/usr/bin/env python
"""The performance suite: our Mask R-CNN against torchvision's, and the pieces around it, as one table.

Every figure is a median of several repetitions after a warm-up, with the two sides of a comparison
alternating in one run (shared machines are noisy: ratios measured together hold, absolute times
drift). Prints Markdown and writes the raw numbers as JSON.

    python benchmarks/bench_suite.py                     # everything, about 10 minutes on 2 cores
    python benchmarks/bench_suite.py --quick             # fewer repetitions, no training at 800x1333
    python benchmarks/bench_suite.py --only paste coco   # some parts
    python benchmarks/bench_suite.py --only precision    # bfloat16 against float32, our models
    python benchmarks/bench_suite.py --only export       # eager against the .pt2 program and ONNX Runtime
    python benchmarks/bench_suite.py --only detectron2   # against Detectron2's own R-50-FPN, same weights

The Detectron2 rows run (also by default) only where detectron2 is importable.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite_models as sm  # noqa: E402
import suite_ops as so  # noqa: E402
import suite_export as se  # noqa: E402
import suite_precision as sp  # noqa: E402

try:  # the only part that needs detectron2, which is not on PyPI
    import suite_detectron2 as sd  # noqa: E402
except ImportError as err:
    sd, NO_DETECTRON2 = None, str(err)

PARTS = ("inference", "training", "precision", "export", "detectron2", "paste", "coco", "loader", "limit",
         "memory")
R50_SIZE = (800, 1333)
DEMO_SIZE = (256, 320)
logger = logging.getLogger("bench_suite")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads{gpu}"


def _devices() -> list[torch.device]:
    return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


def run_inference(repeats: int) -> dict:
    out = {}
    for device in _devices():
        r50 = {"ours": sm.build_ours(sm.R50_CONFIG), "torchvision": sm.build_stock_r50()}
        out[f"R-50-FPN 800x1333, {device.type}"] = sm.time_inference(
            {k: m.to(device) for k, m in r50.items()}, sm.synthetic_batch(1, R50_SIZE), repeats)
        ours_demo = sm.build_ours(sm.DEMO_CONFIG)
        demo = {"ours": ours_demo, "torchvision": sm.build_stock_demo(ours_demo, DEMO_SIZE)}
        out[f"demo R-18-FPN 256x320, {device.type}"] = sm.time_inference(
            {k: m.to(device) for k, m in demo.items()}, sm.synthetic_batch(1, DEMO_SIZE), repeats * 4)
    return out


def run_training(repeats: int, quick: bool) -> dict:
    out = {}
    for device in _devices():
        ours_demo = sm.build_ours(sm.DEMO_CONFIG)
        demo = {"ours": ours_demo, "torchvision": sm.build_stock_demo(ours_demo, DEMO_SIZE)}
        out[f"demo R-18-FPN 2 x 256x320, {device.type}"] = sm.time_training(
            {k: m.to(device) for k, m in demo.items()}, sm.synthetic_batch(2, DEMO_SIZE), repeats * 4)
        if not quick:
            r50 = {"ours": sm.build_ours(sm.R50_CONFIG), "torchvision": sm.build_stock_r50()}
            out[f"R-50-FPN 2 x 800x1333, {device.type}"] = sm.time_training(
                {k: m.to(device) for k, m in r50.items()}, sm.synthetic_batch(2, R50_SIZE), repeats)
    return out


def run_limit(inference: dict | None) -> dict:
    """FLOPs / (seconds x matmul FLOP/s) for R-50-FPN inference at 800x1333, whole model and backbone+FPN."""
    model = sm.build_ours(sm.R50_CONFIG)
    image = sm.synthetic_batch(1, R50_SIZE)[0]["image"]
    flops = {"model": so.model_flops(model, image), "backbone+FPN": so.module_flops(model.backbone, image)}
    rate = so.matmul_flops_per_second()
    times = inference["R-50-FPN 800x1333, cpu"] if inference else sm.time_inference(
        {"ours": model, "torchvision": sm.build_stock_r50()}, sm.synthetic_batch(1, R50_SIZE), 3)
    fraction = {}
    for name, t in times.items():
        fraction[name] = flops["model"] / (t["seconds"] * rate)
        fraction[f"{name} backbone+FPN"] = flops["backbone+FPN"] / (t["phases"]["backbone+FPN"] * rate)
    return {"flops": flops, "matmul_flops_per_s": rate, "fraction": fraction}


def run_memory() -> dict:
    """Peak RSS (GiB) of two R-50-FPN training steps at 2 x 800x1333, each model in its own process."""
    out = {}
    for which in ("ours", "torchvision"):
        done = subprocess.run([sys.executable, __file__, "--rss-worker", which], capture_output=True, text=True,
                              check=True)
        out[which] = float(done.stdout.strip().splitlines()[-1])
    return out


def markdown(results: dict) -> str:
    lines = [f"Machine: {results['machine']}", "", "| measure | ours | torchvision | ratio ours / torchvision |",
             "|---|---:|---:|---:|"]

    def row(name: str, ours: float, stock: float, unit: str, fmt: str = ".3f") -> None:
        lines.append(f"| {name} | {ours:{fmt}} {unit} | {stock:{fmt}} {unit} | **{ours / stock:.2f}** |")

    for setting, r in results.get("inference", {}).items():
        row(f"inference, {setting} (detections {r['ours']['detections']} / {r['torchvision']['detections']})",
            r["ours"]["seconds"], r["torchvision"]["seconds"], "s/img")
        for phase in sm.PHASES:
            row(f"  {phase}", r["ours"]["phases"][phase], r["torchvision"]["phases"][phase], "s")
    for setting, r in results.get("training", {}).items():
        row(f"training step, {setting}", r["ours"], r["torchvision"], "s")
    if "paste" in results:
        p = results["paste"]
        row(f"mask pasting, 100 detections at 800x1333 (pixels agreeing: {p['agreement']:.4%}; "
            f"within the masks' union: {p['agreement_foreground']:.2%})", p["ours"] * 1e3, p["torchvision"] * 1e3, "ms",
            ".1f")
    if "memory" in results:
        m = results["memory"]
        row("peak RSS, R-50-FPN training, 2 x 800x1333", m["ours"], m["torchvision"], "GiB", ".2f")
    if len(lines) == 4:  # no comparison was measured: no empty table
        del lines[1:]
    if "coco" in results:
        c = results["coco"]
        times = ", ".join(f"{name} {sec:.2f} s" for name, sec in c["seconds"].items())
        compared = ("" if "max_stat_difference" not in c else
                    f"; largest difference between the backends' 12 summary numbers: {c['max_stat_difference']:.1e}")
        lines += ["", f"COCO evaluation (bbox + segm) of {c['predictions']} predictions on {c['images']} images: "
                      f"{times}; AP bbox {c['stats']['pycocotools']['bbox'][0]:.4f}, segm "
                      f"{c['stats']['pycocotools']['segm'][0]:.4f}{compared}"]
    if "loader" in results:
        lines += ["", "Training loader, demo config (default augmentations): " + ", ".join(
            f"{w} workers {v:.1f} images/s" for w, v in results["loader"].items())]
    if "limit" in results:
        lim = results["limit"]
        lines += ["", f"Closeness to the limit: R-50-FPN inference at 800x1333 is {lim['flops']['model'] / 1e9:.0f} "
                      f"GFLOPs, {lim['flops']['backbone+FPN'] / 1e9:.0f} of them in backbone+FPN (fvcore, multiply-add "
                      f"= 2); dense fp32 matmul runs at {lim['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s; fraction of it "
                      "used: " + ", ".join(f"{k} {v:.0%}" for k, v in lim["fraction"].items())]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    available = [p for p in PARTS if p != "detectron2" or sd is not None]
    parser.add_argument("--only", nargs="+", choices=PARTS, default=available)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, no 800x1333 training or memory")
    parser.add_argument("--repeats", type=int, default=None, help="repetitions per measurement (default 5, quick 2)")
    parser.add_argument("--json", default="output/bench_suite.json", help="where to write the raw numbers")
    parser.add_argument("--rss-worker", choices=("ours", "torchvision"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_worker:
        print(sm.peak_rss_of_training(args.rss_worker))
        return
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    # faster-coco-eval logs every evaluate/accumulate/summarize at INFO: 100 lines per COCO part.
    logging.getLogger("faster_coco_eval").setLevel(logging.WARNING)
    torch.manual_seed(0)
    repeats = args.repeats or (2 if args.quick else 5)
    results: dict = {"machine": machine()}
    steps = {
        "inference": lambda: run_inference(repeats),
        "training": lambda: run_training(repeats, args.quick),
        "precision": lambda: sp.run_precision(repeats, args.quick),
        "export": lambda: se.run_export(repeats, args.quick),
        "detectron2": lambda: sd.run_detectron2(repeats, args.quick),
        "paste": lambda: so.bench_paste(repeats * 2),
        "coco": lambda: so.bench_coco_eval("shapes_val", copies=10, repeats=max(1, repeats // 2)),
        "loader": lambda: {w: so.bench_loader(sm.DEMO_CONFIG, w, batches=30) for w in (0, 2)},
        "limit": lambda: run_limit(results.get("inference")),
        "memory": run_memory,
    }
    if "detectron2" in args.only and sd is None:
        logger.warning("skipping the detectron2 rows: %s", NO_DETECTRON2)
    for part in PARTS:
        if part in args.only and part in available and not (args.quick and part == "memory"):
            logger.info("measuring %s ...", part)
            results[part] = steps[part]()
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    so.write_json(args.json, json.loads(json.dumps(results, default=str)))
    print(markdown(results) + (sp.markdown(results["precision"]) if "precision" in results else "")
          + (se.markdown(results["export"]) if "export" in results else "")
          + (sd.markdown(results["detectron2"]) if "detectron2" in results else ""))


if __name__ == "__main__":
    main()
