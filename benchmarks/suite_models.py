"""Whole-model measurements for ``bench_suite.py``: our detectors against torchvision's ``MaskRCNN``.

Two pairs: R-50-FPN at 800x1333 (ours from the COCO config; torchvision's ``maskrcnn_resnet50_fpn``
architecture as it is built for a pretrained backbone: frozen batch norm, three trainable stages) and
the CPU demo model (torchvision's ``MaskRCNN`` assembled with the demo's widths, as in
``bench_vs_torchvision.py``). Weights are random; score thresholds are 0 so both return 100 detections.
"""
from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from bench_vs_torchvision import build_stock, to_stock_batch, train_step
from torch import nn
from torchvision.models import resnet50
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.misc import FrozenBatchNorm2d

from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.utils.env import peak_rss_mib

R50_CONFIG = "configs/COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.py"
DEMO_CONFIG = "configs/Shapes/mask_rcnn_R_18_FPN_demo.py"
PHASES = ("backbone+FPN", "RPN", "box head", "mask head", "other")


def build_ours(config: str) -> nn.Module:
    cfg = LazyConfig.load(config)
    cfg.model.roi_heads.box_predictor.test_score_thresh = 0.0
    cfg.model.roi_heads.mask_rois_per_image = None  # like torchvision: the mask loss on every foreground RoI
    return instantiate(cfg.model)


def build_stock_r50() -> MaskRCNN:
    """``maskrcnn_resnet50_fpn`` without downloading anything: what it builds around a pretrained backbone."""
    backbone = _resnet_fpn_extractor(resnet50(norm_layer=FrozenBatchNorm2d), trainable_layers=3)
    return MaskRCNN(backbone, num_classes=81, min_size=800, max_size=1333, box_score_thresh=0.0)


def build_stock_demo(ours: nn.Module, size: tuple[int, int]) -> MaskRCNN:
    cfg = LazyConfig.load(DEMO_CONFIG)
    return build_stock(cfg, ours, size, score_thresh=0.0)


def _phase_modules(model: nn.Module) -> dict[str, list[nn.Module]]:
    if isinstance(model, MaskRCNN):
        heads = model.roi_heads
        return {"backbone+FPN": [model.backbone], "RPN": [model.rpn],
                "box head": [heads.box_roi_pool, heads.box_head, heads.box_predictor],
                "mask head": [heads.mask_roi_pool, heads.mask_head, heads.mask_predictor]}
    heads = model.roi_heads
    return {"backbone+FPN": [model.backbone], "RPN": [model.proposal_generator],
            "box head": [heads.box_pooler, heads.box_head, heads.box_predictor],
            "mask head": [heads.mask_pooler, heads.mask_head]}


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that host clocks measure it (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


class PhaseTimer:
    """Seconds spent inside groups of submodules, via forward hooks; "other" is the rest of the call."""

    def __init__(self, model: nn.Module) -> None:
        self.device = device_of(model)
        self.seconds: dict[str, float] = defaultdict(float)
        self._handles = []
        for phase, modules in _phase_modules(model).items():
            for module in modules:
                self._handles.append(module.register_forward_pre_hook(self._start))
                self._handles.append(module.register_forward_hook(self._stop(phase)))

    def _start(self, module: nn.Module, _inputs) -> None:
        sync(self.device)
        module._bench_started = time.perf_counter()

    def _stop(self, phase: str) -> Callable:
        def hook(module: nn.Module, _inputs, _output) -> None:
            sync(self.device)
            self.seconds[phase] += time.perf_counter() - module._bench_started
        return hook

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def synthetic_batch(num_images: int, size: tuple[int, int], seed: int = 0, num_classes: int = 4) -> list[dict]:
    """Model inputs (ours) with 6 rectangular instances per image, of classes below ``num_classes``;
    a smooth random image."""
    g = torch.Generator().manual_seed(seed)
    height, width = size
    batch = []
    for _ in range(num_images):
        small = torch.rand(3, height // 16, width // 16, generator=g)
        image = (nn.functional.interpolate(small[None], size=size, mode="bilinear")[0] * 255).to(torch.uint8)
        xy = torch.rand(6, 2, generator=g) * torch.tensor([width * 0.7, height * 0.7])
        wh = (0.05 + torch.rand(6, 2, generator=g) * 0.25) * torch.tensor([width, height])
        boxes = torch.cat([xy, xy + wh], dim=1).round()
        masks = torch.zeros(6, height, width, dtype=torch.bool)
        for i, (x0, y0, x1, y1) in enumerate(boxes.int().tolist()):
            masks[i, y0:y1, x0:x1] = True
        classes = torch.randint(0, num_classes, (6,), generator=g)
        batch.append({"image": image, "height": height, "width": width,
                      "instances": {"boxes": boxes, "classes": classes, "masks": masks}})
    return batch


def to_device(batch: list[dict], device: torch.device) -> list[dict]:
    """The batch with every tensor (also inside ``instances``) on ``device``."""
    def move(value):
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        return value.to(device) if isinstance(value, torch.Tensor) else value
    return [move(x) for x in batch]


def _detections(output: list[dict]) -> int:
    first = output[0]
    return len(first["instances"]["boxes"] if "instances" in first else first["boxes"])


def time_inference(models: dict[str, nn.Module], batch: list[dict], repeats: int) -> dict[str, dict]:
    """Median seconds per image and per phase, alternating between the models after one warm-up each.

    The batch is moved to each model's device; on CUDA every clock reading waits for the device.
    """
    calls = {}
    for name, model in models.items():
        model.eval()
        inputs = to_device(batch[:1], device_of(model))
        if isinstance(model, MaskRCNN):
            images = to_stock_batch(inputs)[0]  # converted once, outside the timed calls
            calls[name] = lambda m=model, x=images: m(x)
        else:
            calls[name] = lambda m=model, x=inputs: m([{k: v for k, v in x[0].items() if k != "instances"}])
    totals: dict[str, list[float]] = defaultdict(list)
    phases: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    detections = {}
    with torch.no_grad():
        for name in models:
            detections[name] = _detections(calls[name]())
        for _ in range(repeats):
            for name, model in models.items():
                timer = PhaseTimer(model)
                sync(timer.device)
                start = time.perf_counter()
                calls[name]()
                sync(timer.device)
                total = time.perf_counter() - start
                timer.remove()
                totals[name].append(total)
                for phase in PHASES[:-1]:
                    phases[name][phase].append(timer.seconds[phase])
                phases[name]["other"].append(total - sum(timer.seconds.values()))
    return {name: {"seconds": statistics.median(totals[name]), "detections": detections[name],
                   "phases": {p: statistics.median(v) for p, v in phases[name].items()}} for name in models}


def _train_call(model: nn.Module, batch: list[dict]) -> Callable[[], None]:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=1e-5, momentum=0.9)
    device = device_of(model)
    batch = to_device(batch, device)
    stock = to_stock_batch(batch) if isinstance(model, MaskRCNN) else None

    def step() -> None:
        train_step(optimizer, lambda: model(*stock) if stock is not None else model(batch))
        sync(device)

    return step


def time_training(models: dict[str, nn.Module], batch: list[dict], repeats: int) -> dict[str, float]:
    """Median seconds per training step (forward, backward, SGD), alternating, after one warm-up each."""
    steps = {}
    for name, model in models.items():
        model.train()
        steps[name] = _train_call(model, batch)
        steps[name]()
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeats):
        for name in models:
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) for name, v in times.items()}


def peak_rss_of_training(which: str, steps: int = 2) -> float:
    """Peak resident memory (GiB) of this process after ``steps`` R-50-FPN training steps of one model.

    Run it in a fresh process per model: the peak is the process's, not the model's alone.
    """
    model = build_ours(R50_CONFIG) if which == "ours" else build_stock_r50()
    model.train()
    step = _train_call(model, synthetic_batch(2, (800, 1333)))
    for _ in range(steps):
        step()
    return peak_rss_mib() / 1024  # VmHWM: the worker's own peak, not its parent's
