#!/usr/bin/env python
"""Data-pipeline cost of small-object copy-paste: mapper time per image with it on vs off.

Maps the same records with the small-object study's baseline mapper and with its copy-paste mapper
(same seeds), alternating the two for ``--rounds`` rounds, in one process and one thread; reports the
median seconds per image and the ratio on / off.

    python benchmarks/bench_copy_paste.py [--images 100] [--rounds 5]
    # COCO-scale mappers (640-800 px multi-scale resize) on COCO-like generated images: 640-800 px,
    # up to 15 shapes, 41% of them aimed at the small bucket (COCO's share of small objects)
    python benchmarks/bench_copy_paste.py --scale coco
    # ... or on your own COCO-format images
    python benchmarks/bench_copy_paste.py --scale coco --json ann.json --image-root images/
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.data import get_dataset_records, register_coco_instances
from maskrcnn_ext.data.shapes import generate_shapes, shapes_split_dir

CONFIGS = {scale: {"off": f"projects/SmallObjects/configs/{scale}/baseline.py",
                   "on": f"projects/SmallObjects/configs/{scale}/copy_paste.py"} for scale in ("shapes", "coco")}


def time_mapper(mapper, records: list[dict]) -> float:
    start = time.perf_counter()
    for i, record in enumerate(records):
        mapper(record, seed=i)
    return (time.perf_counter() - start) / len(records)


def load_records(args: argparse.Namespace, cfg) -> tuple[str, list[dict]]:
    name = cfg.dataloader.train.dataset
    if args.scale == "coco":
        json_file, image_root = args.json, args.image_root
        if not (json_file and image_root):  # COCO-like generated images
            root = os.path.join(tempfile.gettempdir(), "maskrcnn_ext_bench")
            json_file = generate_shapes(root, split="coco_like", num_images=min(args.images, 100), seed=0,
                                        min_size=640, max_size=800, max_instances=15, small_fraction=0.41)
            image_root = os.path.join(shapes_split_dir(root, "coco_like"), "images")
        name = "bench_copy_paste_images"
        register_coco_instances(name, json_file=json_file, image_root=image_root)
    records = get_dataset_records(name)
    return name, (records * (args.images // len(records) + 1))[: args.images]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", choices=sorted(CONFIGS), default="shapes",
                        help="the study's CPU-scale mappers on shapes_small, or its COCO-scale ones")
    parser.add_argument("--json", help="COCO annotations for --scale coco")
    parser.add_argument("--image-root", help="image folder for --scale coco")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfgs = {k: LazyConfig.load(v) for k, v in CONFIGS[args.scale].items()}
    mappers = {k: instantiate(c.dataloader.train.mapper) for k, c in cfgs.items()}
    dataset, records = load_records(args, cfgs["off"])
    for mapper in mappers.values():  # warm-up: file cache, lazy imports
        time_mapper(mapper, records[:10])
    times: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(args.rounds):
        for key in ("off", "on"):
            times[key].append(time_mapper(mappers[key], records))
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    instances = {k: sum(len(mappers[k](r, seed=i)["instances"]["boxes"]) for i, r in enumerate(records[:20]))
                 for k in ("off", "on")}
    print(f"{len(records)} images of {dataset} ({args.scale} mappers), {args.rounds} rounds, 1 thread; "
          f"instances in the first 20: {instances['off']} off, {instances['on']} on")
    print("| copy-paste | mapper s/img (median) |\n|---|---:|")
    print(f"| off | {off * 1e3:.2f} ms |\n| on | {on * 1e3:.2f} ms |")
    print(f"ratio on / off: {on / off:.3f}")


if __name__ == "__main__":
    main()
