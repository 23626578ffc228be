"""``maskrcnn-ext browse-data``: training samples exactly as the model gets them, ground truth drawn.

Builds the config's training loader (its sampler, mapper and every augmentation, in one process),
takes the first ``--num`` images of its stream and writes each as a PNG with its instances' boxes,
masks and class names drawn. Exit status: 0 done, 1 the config or its data could not be loaded.
"""
from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config_file", metavar="CONFIG", help="a training config (.py or saved config.yaml)")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for the PNGs")
    parser.add_argument("--num", type=int, default=16, help="images to write (default: 16)")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="config overrides, as for train_net.py, e.g. --set dataloader.train.seed=3")


def _class_names(dataset: object) -> list[str]:
    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    from maskrcnn_ext.data import MetadataCatalog

    names = MetadataCatalog.get(dataset).get("thing_classes") if isinstance(dataset, str) else None
    return list(names or [])


def run(args: argparse.Namespace) -> int:
    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    from maskrcnn_ext.config import LazyConfig, instantiate
    from maskrcnn_ext.data import MetadataCatalog
    from maskrcnn_ext.utils.visualizer import draw_ground_truth, keypoint_connection_indices, save_image

    if args.num < 1:
        sys.stderr.write(f"browse-data: --num must be at least 1, got {args.num}\n")
        return 1
    try:
        cfg = LazyConfig.apply_overrides(LazyConfig.load(args.config_file), args.overrides)
        cfg.dataloader.train.num_workers = 0  # one process: the same samples, nothing to spawn
        loader = instantiate(cfg.dataloader.train)
    except Exception as e:  # surface any config or data problem as one line naming the config
        sys.stderr.write(f"browse-data: cannot build the training loader of {args.config_file}: "
                         f"{type(e).__name__}: {e}\n")
        return 1
    names = _class_names(cfg.dataloader.train.dataset)
    connections = []  # skeleton edges of a keypoint dataset, from its metadata
    if isinstance(cfg.dataloader.train.dataset, str):
        meta = MetadataCatalog.get(cfg.dataloader.train.dataset)
        connections = keypoint_connection_indices(meta.get("keypoint_names"), meta.get("keypoint_connection_rules"))
    written = 0
    try:
        for sample in itertools.islice((s for batch in loader for s in batch), args.num):
            image = sample["image"].permute(1, 2, 0).numpy()
            path = os.path.join(args.output, f"{written:03d}_image{sample['image_id']}.png")
            save_image(path, draw_ground_truth(image, sample["instances"], names,
                                               keypoint_connections=connections))
            written += 1
            logger.info("%s: %d instances, %dx%d", path, len(sample["instances"]["boxes"]), image.shape[1],
                        image.shape[0])
    except Exception as e:  # a record that cannot be read or mapped: say which, keep what was written
        sys.stderr.write(f"browse-data: stopped after {written} samples: {type(e).__name__}: {e}\n")
        return 1
    sys.stdout.write(f"Wrote {written} training samples with their ground truth to {args.output}\n")
    return 0
