"""``maskrcnn-ext publish``: turn finished run directories into model-zoo entries.

Writes ``<name>-<sha8>.pth`` (weights only, ``torch.load(weights_only=True)``-loadable),
``<name>-<sha8>.json`` (manifest), and updates ``index.json`` and ``MODEL_ZOO.md`` in the zoo folder.
Publishing the same weights again changes nothing. Exit status: 0 all published, 1 any refused.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 800x1333, got {text!r}") from None
    return height, width


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN", help="finished run directories")
    parser.add_argument("--zoo", type=Path, default=None, metavar="DIR",
                        help="zoo folder (default: $MASKRCNN_EXT_ZOO, else ./model_zoo)")
    parser.add_argument("--name", help="model name (one RUN only; default: the run's arm, plus -seed<k> in a sweep)")
    parser.add_argument("--flops-input", type=_size, metavar="HxW",
                        help="count FLOPs on a blank image of this size (default: the first test image)")
    parser.add_argument("--base-url", help="URL the zoo folder will be served from, for MODEL_ZOO.md's links")


def run(args: argparse.Namespace) -> int:
    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    from maskrcnn_ext.model_zoo import ZooError, default_zoo, publish_run

    if args.name and len(args.run_dirs) > 1:
        logger.error("--name names one model; got %d run directories", len(args.run_dirs))
        return 1
    zoo = args.zoo or Path(default_zoo())
    failed = 0
    for run_dir in args.run_dirs:
        try:
            entry = publish_run(run_dir, zoo, name=args.name, input_size=args.flops_input, base_url=args.base_url)
        except (ZooError, ValueError, OSError) as e:
            logger.error("%s: not published: %s", run_dir, e)
            failed += 1
            continue
        logger.info("%s -> %s (box AP %s, mask AP %s)", run_dir, zoo / entry["file"],
                    _ap(entry.get("box_ap")), _ap(entry.get("mask_ap")))
    logger.info("Zoo table: %s", zoo / "MODEL_ZOO.md")
    return 1 if failed else 0


def _ap(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"
