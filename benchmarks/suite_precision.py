"""Mixed-precision rows for ``bench_suite.py``: our models in bfloat16 (CPU) or float16 (CUDA) autocast
against the same models in float32, as speedups measured in one run (the two alternate)."""
from __future__ import annotations

import copy

import suite_models as sm
from torch import nn

from maskrcnn_ext.layers.precision import autocast

R50_SIZE = (800, 1333)
DEMO_SIZE = (256, 320)


class Autocast(nn.Module):
    """``model``'s training forward under autocast (the trainer's ``train.amp``), sharing its parameters."""

    def __init__(self, model: nn.Module, dtype: str) -> None:
        super().__init__()
        self.model, self.dtype = model, dtype

    def forward(self, batch: list[dict]) -> dict:
        with autocast(sm.device_of(self.model).type, self.dtype):
            return self.model(batch)


def _inference_pair(config: str, dtype: str) -> dict[str, nn.Module]:
    full = sm.build_ours(config)
    reduced = copy.deepcopy(full)
    reduced.inference_dtype = dtype
    return {"float32": full, dtype: reduced}


def run_precision(repeats: int, quick: bool, dtype: str = "bfloat16") -> dict:
    """Median seconds of float32 and ``dtype`` inference and training steps (CPU)."""
    out = {"dtype": dtype, "inference": {}, "training": {}}
    for name, config, size, times in (("R-50-FPN 800x1333", sm.R50_CONFIG, R50_SIZE, repeats),
                                      ("demo R-18-FPN 256x320", sm.DEMO_CONFIG, DEMO_SIZE, repeats * 4)):
        result = sm.time_inference(_inference_pair(config, dtype), sm.synthetic_batch(1, size), times)
        out["inference"][name] = {k: v["seconds"] for k, v in result.items()}
    settings = [("demo R-18-FPN 2 x 256x320", sm.DEMO_CONFIG, DEMO_SIZE, repeats * 4)]
    if not quick:
        settings.append(("R-50-FPN 2 x 800x1333", sm.R50_CONFIG, R50_SIZE, repeats))
    for name, config, size, times in settings:
        model = sm.build_ours(config)
        pair = {"float32": model, dtype: Autocast(model, dtype)}
        out["training"][name] = sm.time_training(pair, sm.synthetic_batch(2, size), times)
    return out


def markdown(result: dict) -> str:
    dtype = result["dtype"]
    lines = ["", f"| mixed precision | float32 | {dtype} autocast | speedup |", "|---|---:|---:|---:|"]
    for kind in ("inference", "training"):
        for setting, seconds in result[kind].items():
            full, reduced = seconds["float32"], seconds[dtype]
            lines.append(f"| {kind}, {setting} | {full:.3f} s | {reduced:.3f} s | **{full / reduced:.2f}x** |")
    return "\n".join(lines)
