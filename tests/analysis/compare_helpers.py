"""What the compare tests share: the CLI run in-process and its CSV read back by arm."""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from maskrcnn_ext.cli import compare as compare_cli


def run_cli(*argv: str) -> int:
    """``maskrcnn-ext compare ARGV`` in this process; its exit status."""
    parser = argparse.ArgumentParser()
    compare_cli.add_arguments(parser)
    return compare_cli.run(parser.parse_args(list(argv)))


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    """compare.csv's rows keyed by arm."""
    with open(path, newline="", encoding="utf-8") as f:
        return {row["arm"]: row for row in csv.DictReader(f)}
