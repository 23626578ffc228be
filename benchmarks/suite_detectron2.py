"""Detectron2 rows for ``bench_suite.py``: our R-50-FPN Mask R-CNN against Detectron2's own
(``COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml``, 80 classes), holding the same weights.

Detectron2's model is built with its random initialisation (frozen BN calibrated on one image, see
:func:`calibrate_frozen_bn`); its ``state_dict`` goes through the toolkit's Detectron2 converter into
``configs/Pretrained/mask_rcnn_R_50_FPN_detectron2.py`` (the toolkit's model that computes what
Detectron2's computes). Before timing, one 800x1333 image checks
that they do: backbone features, proposals and the 100 detections are compared and reported.
Measured, the two models alternating in one run after a warm-up each (ratios hold on a noisy shared
machine, absolute times drift):

- inference on one 800x1333 image, score threshold 0 in both so each returns 100 detections with
  masks pasted at the image size (the same work: 1000 proposals, per-class NMS, mask head on 100);
  ours also with the channels-last inference of the toolkit's own COCO configs;
- one training step (forward, backward, SGD) on 2 images of ``TRAIN_SIZE`` with 6 instances each:
  frozen-BN ResNet with stem and res2 frozen, 256 anchors and 512 RoIs per image at 1:3, the mask loss
  on every foreground RoI (Detectron2's defaults; ``mask_rois_per_image=None`` in ours); ours also
  with torchvision's RoIAlign kernels instead of the separable backward.

Ratios are ours / Detectron2 per round (below 1: ours faster), reported as their median and range.
CPU only. ``python benchmarks/suite_detectron2.py --profile`` lists each side's slowest operators.
Import this module only where Detectron2 is importable (``bench_suite.py`` checks).
"""
from __future__ import annotations

import argparse
import copy
import logging
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

import suite_models as sm
import torch
from bench_vs_torchvision import train_step
from detectron2 import model_zoo
from detectron2.config import get_cfg
from detectron2.layers import FrozenBatchNorm2d
from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Boxes, Instances
from detectron2.utils.events import EventStorage
from torch import nn
from torch.profiler import ProfilerActivity, profile

from maskrcnn_ext.checkpoint import load_model_weights
from maskrcnn_ext.checkpoint.detectron2 import convert_detectron2_model
from maskrcnn_ext.config import LazyConfig, instantiate

D2_CONFIG = "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml"
OURS_CONFIG = "configs/Pretrained/mask_rcnn_R_50_FPN_detectron2.py"
INFER_SIZE = (800, 1333)
TRAIN_SIZE = (512, 683)  # 800x1333 steps take ~30 s per model on 2 cores; this keeps a run near 10 min
BOX_ATOL = 0.01  # px, for counting agreeing boxes
TOP_OPS = 12
logger = logging.getLogger("bench_suite")


class Detectron2Runner(nn.Module):
    """Detectron2's ``GeneralizedRCNN`` behind our model's interface, so one batch feeds both.

    Inputs: dicts with ``image`` (3, H, W) uint8 RGB, ``height``, ``width`` and, in training,
    ``instances`` with ``boxes`` (N, 4), ``classes`` (N,), ``masks`` (N, H, W) bool. Detectron2's
    weights take BGR, so the image is flipped (ours flips inside, ``input_format="BGR"``). Outputs at
    inference: ``[{"instances": {"boxes", "scores", "classes", "masks"}}]``; in training the losses.
    """

    def __init__(self, *, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    # The phase timer hooks these submodules; Detectron2 names them as we do.
    @property
    def backbone(self) -> nn.Module:
        return self.model.backbone

    @property
    def proposal_generator(self) -> nn.Module:
        return self.model.proposal_generator

    @property
    def roi_heads(self) -> nn.Module:
        return self.model.roi_heads

    @staticmethod
    def _input(x: dict) -> dict:
        out = {"image": x["image"].flip(0), "height": x["height"], "width": x["width"]}
        if "instances" in x:
            t = x["instances"]
            out["instances"] = Instances(tuple(x["image"].shape[-2:]), gt_boxes=Boxes(t["boxes"]),
                                         gt_classes=t["classes"], gt_masks=BitMasks(t["masks"]))
        return out

    def forward(self, batch: list[dict]):
        inputs = [self._input(x) for x in batch]
        if self.training:
            with EventStorage():  # Detectron2's heads log their statistics into one
                return self.model(inputs)
        return [{"instances": {"boxes": o["instances"].pred_boxes.tensor, "scores": o["instances"].scores,
                               "classes": o["instances"].pred_classes, "masks": o["instances"].pred_masks}}
                for o in self.model(inputs)]


def calibrate_frozen_bn(model: nn.Module, batch: list[dict]) -> None:
    """Give every frozen BN of Detectron2's model the per-channel mean and variance of its input on
    ``batch`` (each set before the layer runs, in one forward pass of the backbone).

    Why: its random init leaves frozen BN as the identity, and with MSRA's unscaled pixels (std 1) the
    random ResNet's maps reach ~1e3 at P2; the RPN's deltas then push nearly every anchor off the
    image, so only ~10 proposals and a few dozen detections remain and neither model does the usual work.
    Normalised this way, activations are O(1) as in a trained network (1000 proposals, 100 detections).
    """
    def set_statistics(module: nn.Module, args: tuple) -> None:
        x = args[0]
        module.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        module.running_var.copy_(x.var(dim=(0, 2, 3)))

    handles = [m.register_forward_pre_hook(set_statistics) for m in model.modules()
               if isinstance(m, FrozenBatchNorm2d)]
    inputs = [Detectron2Runner._input({k: v for k, v in x.items() if k != "instances"}) for x in batch]
    try:
        with torch.no_grad():
            model.eval().backbone(model.preprocess_image(inputs).tensor)
    finally:
        for handle in handles:
            handle.remove()


def build_pair() -> dict[str, nn.Module]:
    """Detectron2's R-50-FPN (its random init, seed 0, frozen BN calibrated) and ours holding the
    same weights."""
    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file(D2_CONFIG))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    torch.manual_seed(0)
    theirs = build_model(cfg)
    calibrate_frozen_bn(theirs, sm.synthetic_batch(1, TRAIN_SIZE, seed=1))
    ours_cfg = LazyConfig.load(OURS_CONFIG).model
    ours_cfg.roi_heads.box_predictor.test_score_thresh = 0.0
    ours_cfg.roi_heads.mask_rois_per_image = None  # Detectron2's mask loss takes every foreground RoI
    ours = instantiate(ours_cfg)
    conversion = convert_detectron2_model({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    report = load_model_weights(ours, conversion.state)
    report.require_complete("the Detectron2 benchmark")
    return {"ours": ours, "detectron2": Detectron2Runner(model=theirs)}


def channels_last_twin(ours: nn.Module) -> nn.Module:
    """``ours`` with NHWC inference, as the toolkit's own COCO configs run (the Detectron2-compatible
    config keeps NCHW, which only reorders float sums); parameters shared."""
    twin = copy.copy(ours)  # a shallow copy shares every submodule and parameter
    twin.channels_last_inference = True
    return twin


def torchvision_roi_align_twin(ours: nn.Module) -> nn.Module:
    """A copy of ``ours`` whose poolers use torchvision's RoIAlign kernels, backward included, instead of
    the separable backward (which loses at this scale: 256 channels, ~1000 RoIs mostly on P2)."""
    twin = copy.deepcopy(ours)
    for pooler in (twin.roi_heads.box_pooler, twin.roi_heads.mask_pooler):
        for op in pooler.level_ops:
            op.impl = "torchvision"
    return twin


def agreement(models: dict[str, nn.Module], image: dict) -> dict:
    """Features, proposals and detections of both models on one image: the sanity check of the pair."""
    ours, theirs = models["ours"].eval(), models["detectron2"].eval()
    inputs = [{k: v for k, v in image.items() if k != "instances"}]
    d2_inputs = [Detectron2Runner._input(inputs[0])]
    with torch.no_grad():
        batch = ours.preprocess_image(inputs)
        features = ours.backbone(batch.tensors)
        proposals = ours.proposal_generator(batch, features)[0][0]
        d2_batch = theirs.model.preprocess_image(d2_inputs)
        d2_features = theirs.backbone(d2_batch.tensor)
        d2_proposals = theirs.proposal_generator(d2_batch, d2_features)[0][0].proposal_boxes.tensor
        mine, ref = ours(inputs)[0]["instances"], theirs(inputs)[0]["instances"]
    feature_error = max(float((features[k] - v).abs().max() / v.abs().max()) for k, v in d2_features.items())
    same_proposals = _boxes_found(proposals, d2_proposals)
    matched = _matched_detections(mine, ref)
    out = {"feature_rel_error": feature_error, "proposals": [len(proposals), len(d2_proposals)],
           "proposals_found": same_proposals, "detections": [len(mine["boxes"]), len(ref["boxes"])],
           "detections_matched": matched}
    logger.info("detectron2 pair agreement: %s", out)
    same = feature_error < 1e-3 and same_proposals >= 0.98 and len(mine["boxes"]) == len(ref["boxes"])
    assert same and matched >= 0.9, f"the two models differ: {out}"
    return out


def _boxes_found(mine: torch.Tensor, ref: torch.Tensor) -> float:
    """Fraction of the (P, 4) boxes ``ref`` that ``mine`` holds within ``BOX_ATOL`` px, in any order
    (the random RPN's logits are near-tied, so float rounding reorders neighbours)."""
    if len(ref) == 0:
        return float(len(mine) == 0)
    return float(((mine[:, None] - ref[None]).abs().amax(dim=2) <= BOX_ATOL).any(dim=0).float().mean())


def _matched_detections(mine: dict, ref: dict) -> float:
    """Fraction of Detectron2's detections that ours has too: a box within ``BOX_ATOL`` px of the
    same class with a score within 1e-4 (in any order: random weights give near-tied scores)."""
    if len(ref["boxes"]) == 0:
        return float(len(mine["boxes"]) == 0)
    close = (mine["boxes"][:, None] - ref["boxes"][None]).abs().amax(dim=2) <= BOX_ATOL
    close &= mine["classes"][:, None] == ref["classes"][None]
    close &= (mine["scores"][:, None] - ref["scores"][None]).abs() <= 1e-4
    return float(close.any(dim=0).float().mean())


def _alternate(calls: dict[str, Callable[[], None]], repeats: int, timers: dict | None = None) -> dict:
    """Seconds of each call per round, the calls alternating, after one warm-up each; with ``timers``
    (name -> model) also each round's seconds per phase. ``warm_up`` holds each warm-up's output."""
    warm_up = {name: call() for name, call in calls.items()}
    seconds: dict[str, list[float]] = defaultdict(list)
    phases: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for _ in range(repeats):
        for name, call in calls.items():
            timer = sm.PhaseTimer(timers[name]) if timers else None
            start = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - start)
            if timer is not None:
                timer.remove()
                for phase in sm.PHASES[:-1]:
                    phases[name][phase].append(timer.seconds[phase])
                phases[name]["other"].append(seconds[name][-1] - sum(timer.seconds.values()))
    return {"seconds": dict(seconds), "phases": {k: dict(v) for k, v in phases.items()}, "warm_up": warm_up}


def _summary(ours: list[float], theirs: list[float]) -> dict:
    ratios = [a / b for a, b in zip(ours, theirs)]
    return {"ours": statistics.median(ours), "detectron2": statistics.median(theirs),
            "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "rounds": len(ratios)}


def time_inference(models: dict[str, nn.Module], image: dict, repeats: int) -> dict:
    """Per model but Detectron2: its time, per-phase times and their ratios to Detectron2's."""
    inputs = [{k: v for k, v in image.items() if k != "instances"}]
    calls = {name: (lambda m=m: m.eval()(inputs)) for name, m in models.items()}
    with torch.no_grad():
        raw = _alternate(calls, repeats, timers=models)
    detections = {name: len(output[0]["instances"]["boxes"]) for name, output in raw["warm_up"].items()}
    theirs, phases = raw["seconds"]["detectron2"], raw["phases"]
    out = {}
    for name in models:
        if name != "detectron2":
            out[name] = {**_summary(raw["seconds"][name], theirs), "detections": [detections[name],
                                                                                 detections["detectron2"]],
                         "phases": {p: _summary(phases[name][p], phases["detectron2"][p]) for p in sm.PHASES}}
    return out


def _train_step_of(model: nn.Module, batch: list[dict]) -> Callable[[], None]:
    """One training step (forward, backward, SGD) of ``model`` on ``batch`` per call."""
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-5, momentum=0.9)
    return lambda: train_step(optimizer, lambda: model(batch))


def time_training(models: dict[str, nn.Module], batch: list[dict], repeats: int) -> dict:
    """Per model but Detectron2: its step time and ratios to Detectron2's, and its trainable parameters."""
    raw = _alternate({name: _train_step_of(m, batch) for name, m in models.items()}, repeats)["seconds"]
    return {name: {**_summary(raw[name], raw["detectron2"]),
                   "trainable_params": [sum(p.numel() for p in m.parameters() if p.requires_grad)
                                        for m in (models[name], models["detectron2"])]}
            for name in models if name != "detectron2"}


def run_detectron2(repeats: int, quick: bool) -> dict:
    """The agreement check, inference and (unless ``quick``) the training step, on the CPU."""
    models = build_pair()
    image = sm.synthetic_batch(1, INFER_SIZE)[0]
    out = {"agreement": agreement(models, image)}
    variants = {**models, "ours, channels-last": channels_last_twin(models["ours"])}
    out["inference"] = {f"R-50-FPN {INFER_SIZE[0]}x{INFER_SIZE[1]}, cpu": time_inference(variants, image, repeats)}
    if not quick:
        batch = sm.synthetic_batch(2, TRAIN_SIZE)
        variants = {**models, "ours, torchvision RoIAlign": torchvision_roi_align_twin(models["ours"])}
        setting = f"R-50-FPN 2 x {TRAIN_SIZE[0]}x{TRAIN_SIZE[1]}, cpu"
        out["training"] = {setting: time_training(variants, batch, repeats)}
    return out


def markdown(result: dict) -> str:
    a = result["agreement"]
    lines = ["", f"Same weights (Detectron2's random init, converted): backbone features differ by "
                 f"{a['feature_rel_error']:.1e} of their largest value; {a['proposals_found']:.1%} of "
                 f"Detectron2's {a['proposals'][1]} proposals in ours ({a['proposals'][0]}); detections "
                 f"{a['detections'][0]} / {a['detections'][1]}, {a['detections_matched']:.0%} of Detectron2's "
                 "found in ours (box, class, score).", "",
             "| measure | ours | Detectron2 | ratio ours / Detectron2, median (range) |", "|---|---:|---:|---:|"]

    def row(name: str, r: dict) -> None:
        lines.append(f"| {name} | {r['ours']:.3f} s | {r['detectron2']:.3f} s | **{r['ratio']:.2f}** "
                     f"({r['ratio_min']:.2f}-{r['ratio_max']:.2f}, {r['rounds']} rounds) |")

    for setting, variants in result["inference"].items():
        for name, r in variants.items():
            detections = "{} / {}".format(*r["detections"])
            row(f"inference, {setting}, {name} (detections {detections})", r)
            for phase, p in r["phases"].items():
                row(f"  {phase}", p)
    for setting, variants in result.get("training", {}).items():
        for name, r in variants.items():
            row(f"training step, {setting}, {name}", r)
    return "\n".join(lines)


def slowest_ops(call: Callable[[], object], top: int = TOP_OPS) -> list[tuple[str, float]]:
    """The operators with the most self CPU time in one ``call`` (after a warm-up one), in ms."""
    call()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        call()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    return [(e.key, e.self_cpu_time_total / 1e3) for e in events[:top]]


def profile_pair() -> dict[str, list[tuple[str, float]]]:
    """Slowest operators of a training step of each model, and of ours' channels-last inference."""
    models = build_pair()
    batch = sm.synthetic_batch(2, TRAIN_SIZE)
    out = {f"training step 2 x {TRAIN_SIZE[0]}x{TRAIN_SIZE[1]}, {name}": slowest_ops(_train_step_of(model, batch))
           for name, model in models.items()}
    inputs = [{k: v for k, v in sm.synthetic_batch(1, INFER_SIZE)[0].items() if k != "instances"}]
    for name, model in {**models, "ours, channels-last": channels_last_twin(models["ours"])}.items():
        model.eval()
        with torch.no_grad():
            out[f"inference {INFER_SIZE[0]}x{INFER_SIZE[1]}, {name}"] = slowest_ops(lambda m=model: m(inputs))
    return out


def _main() -> None:
    """Without the suite: ``python benchmarks/suite_detectron2.py [--profile]``: one quick round, or the
    profiler's slowest operators."""
    parser = argparse.ArgumentParser(description=_main.__doc__)
    parser.add_argument("--profile", action="store_true", help="the slowest operators instead of timings")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    if args.profile:
        for setting, ops in profile_pair().items():
            logger.info("%s:\n%s", setting, "\n".join(f"  {ms:9.0f} ms  {name}" for name, ms in ops))
    else:
        logger.info("%s", markdown(run_detectron2(repeats=1, quick=True)))


if __name__ == "__main__":
    _main()
