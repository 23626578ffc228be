"""Export rows for ``bench_suite.py``: eager inference against the same model exported as a
``torch.export`` program (``.pt2``, run by ``torch.export.load``) and as ONNX (run by ONNX Runtime's CPU
provider), for the demo model and R-50-FPN at 800x1333, as ratios measured in one run (the three
alternate). All three go through the same runner interface (model-input dicts in, per-image
instances at the original size out, masks pasted), so the rows compare whole inference calls.
Weights are random with a score threshold of 0, so every variant returns 100 detections.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from collections import defaultdict

import suite_models as sm
import torch

from maskrcnn_ext.export import export_model, load_exported

R50_SIZE = (800, 1333)
DEMO_SIZE = (256, 320)
VARIANTS = ("eager", "torch-export", "onnx")


def _time(calls: dict, repeats: int) -> dict[str, float]:
    """Median seconds per call, the calls alternating, after one warm-up each."""
    seconds = defaultdict(list)
    with torch.no_grad():
        for call in calls.values():
            call()
        for _ in range(repeats):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in seconds.items()}


def _measure(config: str, size: tuple[int, int], repeats: int) -> dict:
    model = sm.build_ours(config).eval()
    inputs = [{k: v for k, v in sm.synthetic_batch(1, size)[0].items() if k != "instances"}]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        paths = export_model(model, tmp, formats=("torch-export", "onnx"), example_size=size)
        export_s = time.perf_counter() - start
        runners = {fmt: load_exported(path) for fmt, path in paths.items()}
        calls = {"eager": lambda: model(inputs), **{fmt: (lambda r=r: r(inputs)) for fmt, r in runners.items()}}
        detections = {name: len(call()[0]["instances"]["boxes"]) for name, call in calls.items()}
        seconds = _time(calls, repeats)
    return {"seconds": seconds, "detections": detections, "export_s": export_s}


def run_export(repeats: int, quick: bool) -> dict:
    out = {f"demo R-18-FPN {DEMO_SIZE[0]}x{DEMO_SIZE[1]}": _measure(sm.DEMO_CONFIG, DEMO_SIZE, repeats * 4)}
    if not quick:
        out[f"R-50-FPN {R50_SIZE[0]}x{R50_SIZE[1]}"] = _measure(sm.R50_CONFIG, R50_SIZE, repeats)
    return out


def markdown(result: dict) -> str:
    lines = ["", "| export, CPU, 1 image | eager | .pt2 (torch.export.load) | ONNX Runtime | export time (both) |",
             "|---|---:|---:|---:|---:|"]
    for setting, row in result.items():
        eager = row["seconds"]["eager"]
        cells = [f"{eager:.3f} s"] + [f"{row['seconds'][k]:.3f} s, **{row['seconds'][k] / eager:.2f}x**"
                                      for k in VARIANTS[1:]]
        lines.append(f"| {setting} | " + " | ".join(cells) + f" | {row['export_s']:.0f} s |")
    lines.append("\nRatios are time relative to eager (below 1 is faster).")
    return "\n".join(lines)
