"""``maskrcnn-ext export``: write a model as a ``torch.export`` program (``.pt2``) or an ONNX model.

MODEL is resolved as ``predict`` resolves it: a zoo name, a run directory, or a checkpoint with
``--config``. Writes ``OUT/model.pt2`` and/or ``OUT/model.onnx``, each with ``OUT/model.<ext>.json``
(class names, input format, pixel statistics, resize rule, output names and shapes), and
``OUT/config.yaml`` and ``OUT/preprocess.py``. ``maskrcnn-ext predict OUT/model.onnx`` and ``train_net.py --eval-only
train.init_checkpoint=OUT/model.onnx`` run the export. Exit status: 0 written, 1 failed.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .predict import load_model

logger = logging.getLogger(__name__)

FORMAT_NAMES = ("torch-export", "onnx")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="zoo name, run directory, or checkpoint file (with --config)")
    parser.add_argument("--format", required=True, nargs="+", choices=FORMAT_NAMES, metavar="FORMAT",
                        help="torch-export (.pt2) and/or onnx, from one trace")
    parser.add_argument("--output", "-o", type=Path, required=True, metavar="DIR", help="where to write")
    parser.add_argument("--config", type=Path, metavar="FILE", help="config of a checkpoint file")
    parser.add_argument("--zoo", help="zoo folder or URL for a zoo name (default: $MASKRCNN_EXT_ZOO, else ./model_zoo)")
    parser.add_argument("--paste-masks", action="store_true",
                        help="also output masks pasted into the input image, (D, H, W) probabilities")
    parser.add_argument("--example-size", type=int, nargs=2, default=(320, 416), metavar=("H", "W"),
                        help="the size traced (any size within the JSON's limits runs; default 320 416)")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset, >= 17 (default 18)")
    parser.add_argument("--device", default="cpu",
                        help="device to export on: a .pt2 program runs on the device it was exported on (default cpu)")


def run(args: argparse.Namespace) -> int:
    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    from maskrcnn_ext.export import export_model, is_exported_file
    from maskrcnn_ext.model_zoo import ZooError

    if is_exported_file(args.model):
        logger.error("%s is already an exported model; export a zoo name, run directory or checkpoint", args.model)
        return 1
    try:
        model, cfg, classes = load_model(args.model, config=args.config, zoo=args.zoo)
    except (ZooError, ValueError, OSError, KeyError) as e:
        logger.error("cannot load the model %s: %s", args.model, e)
        return 1
    try:
        paths = export_model(model.to(args.device), args.output, formats=args.format, cfg=cfg, classes=classes,
                             example_size=tuple(args.example_size), paste_masks=args.paste_masks, opset=args.opset)
    except (ImportError, ValueError, RuntimeError) as e:
        logger.error("exporting %s as %s failed: %s", args.model, " and ".join(args.format), e)
        return 1
    logger.info("Wrote %s, each with its .json, config.yaml and preprocess.py", ", ".join(map(str, paths.values())))
    return 0
