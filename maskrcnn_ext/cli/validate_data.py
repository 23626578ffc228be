"""``maskrcnn-ext validate-data``: check a dataset before training on it.

Reports every problem by kind (unreadable or truncated images, sizes that disagree with the json or
with EXIF rotation, degenerate or out-of-image boxes, bad polygons and RLEs, unknown categories,
duplicate ids, files outside the image root, images without usable annotations, very large images)
with the offending image and annotation ids. Exit status: 0 no errors (warnings allowed), 1 errors
found, 2 the dataset could not be read at all.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", nargs="?", metavar="DATASET", help="a registered dataset name")
    parser.add_argument("--json", dest="json_file", metavar="FILE", help="COCO annotations (instead of DATASET)")
    parser.add_argument("--image-root", metavar="DIR", help="folder the json's file_names are relative to")
    parser.add_argument("--no-decode", action="store_true", help="read image headers only (faster; misses truncation)")
    parser.add_argument("--max-pixels", type=int, default=50_000_000, help="warn above this many pixels")
    parser.add_argument("--allow-outside-root", action="store_true", help="accept file_names outside the image root")
    parser.add_argument("--examples", type=int, default=3, help="places listed per problem kind (default 3)")
    parser.add_argument("--output-json", dest="output_json", action="store_true",
                        help="print the full report as JSON on stdout (for scripts)")


def run(args: argparse.Namespace) -> int:
    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    from maskrcnn_ext.data.validate import validate_coco_json, validate_dataset

    options = dict(decode_images=not args.no_decode, max_pixels=args.max_pixels,
                   allow_outside_root=args.allow_outside_root)
    try:
        if args.json_file:
            if not args.image_root:
                logger.error("--json needs --image-root")
                return 2
            report = validate_coco_json(args.json_file, args.image_root, **options)
        elif args.dataset:
            report = validate_dataset(args.dataset, **options)
        else:
            logger.error("give a DATASET name or --json and --image-root")
            return 2
    except (OSError, ValueError, KeyError) as e:  # json.JSONDecodeError is a ValueError
        logger.error("cannot validate %s: %s", args.json_file or args.dataset, e)
        return 2
    if args.output_json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        logger.info("%s", report.summary(examples=args.examples))
    return 1 if report.num_errors else 0
