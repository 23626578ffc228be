#!/usr/bin/env python
"""Inference-time overhead of the MaskIoU head: Mask Scoring R-CNN vs its Mask R-CNN baseline.

Both models are built from their configs; the baseline's weights are copied into the mask-scoring
model, so both produce the same detections and differ only by the MaskIoU head. The box score
threshold is set to 0, so every image yields up to the configs' number of detections (as many as
survive NMS: near the head's worst case). The two models alternate for ``--rounds`` rounds after a
warm-up; the table gives the median seconds per image and the ratio mask scoring / baseline.

    python benchmarks/bench_mask_scoring.py                      # CPU-scale pair, 144x176 images
    python benchmarks/bench_mask_scoring.py --pair coco --size 800 1216
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from maskrcnn_ext.config import LazyConfig, instantiate

PAIRS = {
    "shapes": ("projects/MaskScoring/configs/shapes/mask_rcnn_R_18_FPN.py",
               "projects/MaskScoring/configs/shapes/ms_rcnn_R_18_FPN.py"),
    "coco": ("projects/MaskScoring/configs/coco/mask_rcnn_R_50_FPN_1x.py",
             "projects/MaskScoring/configs/coco/ms_rcnn_R_50_FPN_1x.py"),
}


def build(path: str, device: str) -> torch.nn.Module:
    cfg = LazyConfig.load(path)
    cfg.model.roi_heads.box_predictor.test_score_thresh = 0.0  # always the full top-k of detections
    return instantiate(cfg.model).to(device).eval()


def time_inference(model: torch.nn.Module, images: list[dict], device: str) -> float:
    """Seconds per image for one pass over ``images``."""
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.no_grad():
        for image in images:
            model([image])
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", choices=sorted(PAIRS), default="shapes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, nargs=2, default=(144, 176), metavar=("H", "W"))
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    baseline_path, scoring_path = PAIRS[args.pair]
    baseline, scoring = build(baseline_path, args.device), build(scoring_path, args.device)
    missing = scoring.load_state_dict(baseline.state_dict(), strict=False).missing_keys
    assert all(k.startswith("roi_heads.maskiou_head.") for k in missing), missing
    h, w = args.size
    images = [{"image": torch.randint(0, 255, (3, h, w), dtype=torch.uint8, device=args.device), "height": h,
               "width": w} for _ in range(args.images)]
    detections = [len(baseline([im])[0]["instances"]["scores"]) for im in images[:1]]
    for model in (baseline, scoring):  # warm-up
        time_inference(model, images[:2], args.device)
    times: dict[str, list[float]] = {"baseline": [], "scoring": []}
    for _ in range(args.rounds):
        times["baseline"].append(time_inference(baseline, images, args.device))
        times["scoring"].append(time_inference(scoring, images, args.device))
    base, score = statistics.median(times["baseline"]), statistics.median(times["scoring"])
    print(f"device {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}, pair {args.pair}, "
          f"{args.images} images of {h}x{w}, {detections[0]} detections per image, {args.rounds} rounds")
    print("| model | inference s/img (median) |\n|---|---:|")
    print(f"| Mask R-CNN | {base:.4f} |\n| Mask Scoring R-CNN | {score:.4f} |")
    print(f"overhead ratio (mask scoring / baseline): {score / base:.3f}  ({100 * (score / base - 1):+.1f}%)")


if __name__ == "__main__":
    main()
