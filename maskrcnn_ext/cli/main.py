"""The ``maskrcnn-ext`` command: one entry point, one module per subcommand.

A subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int``; adding one is a
line in ``SUBCOMMANDS``.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

# name -> (module, one-line help). Modules are imported only when their subcommand runs, so
# `maskrcnn-ext --help` stays fast.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("maskrcnn_ext.cli.doctor", "check torch/torchvision/CUDA versions and the device"),
    "list": ("maskrcnn_ext.cli.list_components", "list registered components and datasets"),
    "compare": ("maskrcnn_ext.cli.compare", "compare ablation runs: AP tables over seeds, deltas, plots, config diffs"),
    "browse-data": ("maskrcnn_ext.cli.browse_data", "write training samples after all augmentations, ground truth drawn"),
    "calibrate": ("maskrcnn_ext.cli.calibrate", "how well predicted MaskIoU and box scores predict a run's mask IoU"),
    "publish": ("maskrcnn_ext.cli.publish", "publish finished runs into a model zoo (hashed weights, manifest, table)"),
    "predict": ("maskrcnn_ext.cli.predict", "run a zoo model, run or checkpoint on images; write pictures and COCO json"),
    "export": ("maskrcnn_ext.cli.export", "export a zoo model, run or checkpoint as a torch.export program or ONNX model"),
    "convert": ("maskrcnn_ext.cli.convert", "convert torchvision / Detectron2 / MSRA weights to this toolkit's (names or files)"),
    "validate-data": ("maskrcnn_ext.cli.validate_data", "check a dataset's json and images before training"),
    "sweep": ("maskrcnn_ext.cli.sweep", "run a suite of configs x seeds, each into its own run directory (resumable)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maskrcnn-ext", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        sub_parser.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(sub_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="[%(asctime)s %(name)s %(levelname)s] %(message)s", datefmt="%H:%M:%S")
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
