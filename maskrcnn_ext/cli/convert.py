"""``maskrcnn-ext convert``: another toolkit's weights as this toolkit's, plus the config values they need.

    maskrcnn-ext convert R-50.pkl -o R-50.pth                       # MSRA caffe2 ImageNet ResNet
    maskrcnn-ext convert torchvision/maskrcnn_resnet50_fpn_coco -o mask_rcnn_tv.pth   # downloads first
    maskrcnn-ext convert --list                                     # the publishers' names

Writes ``DST`` (a state dict of tensors: ``torch.load(DST, weights_only=True)``) and ``DST`` with
``.json`` (source, format, the config values and shipped config the weights need, what was dropped).
Exit status: 0 converted, 1 refused (the error says why).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

# maskrcnn_ext.checkpoint.convert.FORMATS, spelled out so that `--help` does not import torch.
_FORMATS = ("auto", "toolkit", "torchvision", "detectron2", "caffe2")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", nargs="?", metavar="SRC",
                        help="a weights file (.pth, .pkl), a publisher's name (torchvision/..., detectron2/...) "
                             "or a detectron2:// URL")
    parser.add_argument("-o", "--output", type=Path, metavar="DST.pth", help="where to write the converted weights")
    parser.add_argument("--format", choices=_FORMATS, default="auto",
                        help="the source's format (default: told from its contents)")
    parser.add_argument("--list", action="store_true", help="list the publishers' names and exit")


def run(args: argparse.Namespace) -> int:
    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    from maskrcnn_ext.checkpoint.convert import convert_weights
    from maskrcnn_ext.model_zoo.storage import ZooError
    from maskrcnn_ext.model_zoo.upstream import fetch_upstream, is_upstream, save_converted, upstream_names

    if args.list:
        sys.stdout.write("".join(f"{name}\n" for name in upstream_names()))
        return 0
    if args.source is None or args.output is None:
        logger.error("convert needs SRC and -o DST.pth (or --list)")
        return 1
    try:
        source = fetch_upstream(args.source) if is_upstream(args.source) else args.source
        converted = convert_weights(source, source_format=args.format)
        save_converted(converted, args.output, str(args.source))
    except (ZooError, ValueError, OSError) as e:
        logger.error("%s: not converted: %s", args.source, e)
        return 1
    logger.info("%s (%s) -> %s: %d tensors, %d source tensors dropped", args.source, converted.source_format,
                args.output, len(converted.state_dict), len(converted.dropped))
    _log_usage(converted, args.output)
    return 0


def _log_usage(converted: "ConvertedWeights", output: Path) -> None:  # noqa: F821 - imported lazily
    """How to use the file: the shipped config, or the overrides for any config."""
    config = converted.overrides.get("config")
    overrides = " ".join(converted.command_line())
    if config:
        logger.info("Use it with: python train_net.py --config-file %s train.init_checkpoint=%s %s", config,
                    output, overrides)
    elif converted.placement == "backbone":
        logger.info("An ImageNet backbone: python train_net.py --config-file CONFIG train.init_checkpoint=%s %s "
                    "(FPN configs; in C4/C5 configs the backbone options are model.backbone.*)", output, overrides)
    else:
        logger.info("Use it with: train.init_checkpoint=%s", output)
