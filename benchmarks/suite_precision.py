"""Mixed-precision rows for ``bench_suite.py``: our models in bfloat16 (CPU) or float16 (CUDA) autocast,
eager and with the backbone compiled (``model.compile_inference``), against the same models in float32
eager, as speedups measured in one run (the variants alternate). Also where the time goes: the
per-phase split of R-50-FPN inference in each precision, and the operators the profiler finds
slowest in reduced precision."""
from __future__ import annotations

import copy
import time

import suite_models as sm
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from maskrcnn_ext.layers.precision import autocast

R50_SIZE = (800, 1333)
DEMO_SIZE = (256, 320)
TOP_OPS = 8


class Autocast(nn.Module):
    """``model``'s training forward under autocast (the trainer's ``train.amp``), sharing its parameters."""

    def __init__(self, model: nn.Module, dtype: str) -> None:
        super().__init__()
        self.model, self.dtype = model, dtype

    def forward(self, batch: list[dict]) -> dict:
        with autocast(sm.device_of(self.model).type, self.dtype):
            return self.model(batch)


def _variants(config: str, dtype: str, compiled: bool) -> dict[str, nn.Module]:
    """float32 and ``dtype``, eager and (with ``compiled``) with the backbone compiled."""
    base = sm.build_ours(config).eval()
    out = {}
    for precision in ("float32", dtype):
        for compile_inference in (False, True) if compiled else (False,):
            model = copy.deepcopy(base)
            model.inference_dtype, model.compile_inference = precision, compile_inference
            out[f"{precision} compiled" if compile_inference else precision] = model
    return out


def _compile_seconds(models: dict[str, nn.Module], batch: list[dict]) -> dict[str, float]:
    """Seconds of each compiled variant's first call beyond its eager twin's: the compile time."""
    inputs = [{k: v for k, v in batch[0].items() if k != "instances"}]
    first = {}
    with torch.no_grad():
        for name, model in models.items():
            start = time.perf_counter()
            model(inputs)
            first[name] = time.perf_counter() - start
    return {name: first[name] - first[name.removesuffix(" compiled")] for name in models if name.endswith("compiled")}


def _slowest_ops(model: nn.Module, batch: list[dict]) -> list[tuple[str, float]]:
    """The operators with the most self CPU time in one inference call, in milliseconds."""
    inputs = [{k: v for k, v in batch[0].items() if k != "instances"}]
    with torch.no_grad():
        model(inputs)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model(inputs)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    return [(e.key, e.self_cpu_time_total / 1e3) for e in events[:TOP_OPS]]


def run_precision(repeats: int, quick: bool, dtype: str = "bfloat16") -> dict:
    """Median seconds of float32 and ``dtype`` inference (eager and compiled) and training steps."""
    out = {"dtype": dtype, "inference": {}, "phases": {}, "compile_s": {}, "training": {}}
    for name, config, size, times in (("R-50-FPN 800x1333", sm.R50_CONFIG, R50_SIZE, repeats),
                                      ("demo R-18-FPN 256x320", sm.DEMO_CONFIG, DEMO_SIZE, repeats * 4)):
        models, batch = _variants(config, dtype, compiled=not quick), sm.synthetic_batch(1, size)
        out["compile_s"][name] = _compile_seconds(models, batch)
        result = sm.time_inference(models, batch, times)
        out["inference"][name] = {k: v["seconds"] for k, v in result.items()}
        out["phases"][name] = {k: result[k]["phases"] for k in ("float32", dtype)}
        if config == sm.R50_CONFIG:
            out["slowest_ops"] = _slowest_ops(models[dtype], batch)
    settings = [("demo R-18-FPN 2 x 256x320", sm.DEMO_CONFIG, DEMO_SIZE, repeats * 4)]
    if not quick:
        settings.append(("R-50-FPN 2 x 800x1333", sm.R50_CONFIG, R50_SIZE, repeats))
    for name, config, size, times in settings:
        out["training"][name] = sm.time_training(_training_variants(config, dtype), sm.synthetic_batch(2, size), times)
    return out


def _training_variants(config: str, dtype: str) -> dict[str, nn.Module]:
    """Training steps in float32 and ``dtype``, eager and with the backbone compiled (forward and backward)."""
    model = sm.build_ours(config)
    compiled = copy.deepcopy(model)
    compiled.backbone = torch.compile(compiled.backbone)
    return {"float32": model, dtype: Autocast(model, dtype),
            "float32 compiled": compiled, f"{dtype} compiled": Autocast(compiled, dtype)}


def markdown(result: dict) -> str:
    dtype = result["dtype"]
    lines = ["", f"| mixed precision, ratio to float32 eager | float32 | {dtype} | float32 compiled | "
                 f"{dtype} compiled |", "|---|---:|---:|---:|---:|"]
    for kind in ("inference", "training"):
        for setting, seconds in result[kind].items():
            full = seconds["float32"]
            cells = [f"{full:.3f} s"] + [
                f"{seconds[k]:.3f} s, **{full / seconds[k]:.2f}x**" if k in seconds else "-"
                for k in (dtype, "float32 compiled", f"{dtype} compiled")]
            lines.append(f"| {kind}, {setting} | " + " | ".join(cells) + " |")
    for setting, seconds in result.get("compile_s", {}).items():
        if seconds:
            lines.append(f"\nCompile time, {setting}: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()))
    for setting, phases in result.get("phases", {}).items():
        lines += ["", f"| {setting} phase | float32 | {dtype} | speedup |", "|---|---:|---:|---:|"]
        for phase, full in phases["float32"].items():
            reduced = phases[dtype][phase]
            lines.append(f"| {phase} | {full:.3f} s | {reduced:.3f} s | {full / max(reduced, 1e-9):.2f}x |")
    if "slowest_ops" in result:
        lines += ["", f"| R-50-FPN {dtype} inference: slowest operators (self CPU time) | ms |", "|---|---:|"]
        lines += [f"| `{name}` | {ms:.0f} |" for name, ms in result["slowest_ops"]]
    return "\n".join(lines)
