"""``maskrcnn-ext compare``: AP tables over seeds, deltas vs a baseline arm, plots, config diffs.

Writes ``compare.md``, ``compare.csv``, ``loss_curves.png``, ``ap_curves.png`` and ``ap_per_arm.png``
and prints the Markdown. Reads this toolkit's run directories and Detectron2's (its ``metrics.json``).
Exit status: 0 done, 1 no usable run, 2 unknown metric or baseline arm, or --plateau-end without --plateau.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

if TYPE_CHECKING:
    from maskrcnn_ext.analysis.compare import Comparison
    from maskrcnn_ext.analysis.runs import Run

logger = logging.getLogger(__name__)


def _keys(text: str) -> list[str]:
    return [key.strip() for key in text.split(",") if key.strip()]


def _iterations(text: str) -> list[int]:
    return [_positive_int(item) for item in _keys(text)]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="run dirs (with metrics.jsonl, or Detectron2's metrics.json), arm dirs (seed*/ runs) "
                             "or sweep dirs (*/seed*/ runs)")
    parser.add_argument("--baseline", metavar="ARM",
                        help="arm to take deltas against and diff configs with "
                             "(default: no deltas, configs diffed against the first arm)")
    parser.add_argument("--metrics", type=_keys, action="extend", metavar="KEY[,KEY...]",
                        help="eval keys to report, comma separated, repeatable "
                             "(default: AP, AP50, AP75, APs, APm, APl of bbox and segm)")
    parser.add_argument("--output", type=Path, metavar="DIR",
                        help="folder for compare.md/.csv and the PNGs "
                             "(default: the first sweep or arm dir given, else the current dir)")
    parser.add_argument("--smooth", type=_positive_int, default=1, metavar="N",
                        help="moving-average window of the loss curves, in logged points (default: 1, none)")
    parser.add_argument("--plateau", type=_positive_int, metavar="ITERS",
                        help="add a convergence table: each arm's gain in the first metric over its last ITERS "
                             "iterations, and whether that gain is within the seed spread (plateaued)")
    parser.add_argument("--plateau-end", type=_iterations, action="extend", metavar="ITER[,ITER...]",
                        help="with --plateau: end the window at these iterations instead of the final "
                             "evaluation, one table each (e.g. just before an LR drop)")


def default_output_dir(paths: Sequence[Path]) -> Path:
    """The first of ``paths`` that is a sweep or arm directory, else the current directory."""
    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    from maskrcnn_ext.analysis.runs import find_run_dirs

    return next((p for p in paths if find_run_dirs(p)[0] in ("arm", "sweep")), Path.cwd())


def write_outputs(comparison: Comparison, arms: Mapping[str, Sequence[Run]], out_dir: Path, smooth: int,
                  plateau: int | None = None, plateau_ends: Sequence[int] | None = None) -> str:
    """Write ``compare.md``, ``compare.csv``, ``loss_curves.png``, ``ap_curves.png`` and ``ap_per_arm.png``.

    Args:
        comparison: the aggregated arms.
        arms: every usable run by arm (for the loss curves, runs without eval rows included).
        out_dir: destination folder, created if needed.
        smooth: moving-average window of the loss curves.
        plateau: length of the window of the convergence tables, in iterations; None: no table.
        plateau_ends: iterations the windows end at, one table each; None or empty: one table, ending at
            the final evaluation.

    Returns:
        The Markdown.
    """
    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    from maskrcnn_ext.analysis.compare import format_markdown, write_csv
    from maskrcnn_ext.analysis.convergence import convergence_table, format_convergence
    from maskrcnn_ext.analysis.plots import plot_ap_bars, plot_ap_curves, plot_loss_curves

    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = format_markdown(comparison)
    if plateau is not None and comparison.arms:
        for end in plateau_ends or [None]:
            markdown += "\n" + format_convergence(convergence_table(comparison, plateau, end), plateau, end)
    (out_dir / "compare.md").write_text(markdown, encoding="utf-8")
    write_csv(comparison, out_dir / "compare.csv")
    plot_loss_curves(arms, out_dir / "loss_curves.png", smooth=smooth)
    plot_ap_curves(arms, out_dir / "ap_curves.png")
    plot_ap_bars(comparison.arms, out_dir / "ap_per_arm.png")
    logger.info("Wrote compare.md, compare.csv, loss_curves.png, ap_curves.png and ap_per_arm.png to %s", out_dir)
    return markdown


def run(args: argparse.Namespace) -> int:
    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    from maskrcnn_ext.analysis.compare import CompareError, compare_runs
    from maskrcnn_ext.analysis.runs import group_by_arm, load_runs

    if args.plateau_end and args.plateau is None:
        sys.stderr.write("compare: --plateau-end needs --plateau ITERS (the window's length)\n")
        return 2
    runs = [r for r in load_runs(args.paths) if r.train or r.evals]
    if not runs:
        sys.stderr.write(f"compare: no usable run (no metrics.jsonl / metrics.json rows) under "
                         f"{', '.join(map(str, args.paths))}\n")
        return 1
    try:
        comparison = compare_runs(runs, args.metrics, args.baseline)
    except CompareError as e:
        sys.stderr.write(f"compare: {e}\n")
        return 2
    out_dir = args.output or default_output_dir(args.paths)
    sys.stdout.write(write_outputs(comparison, group_by_arm(runs), out_dir, args.smooth, args.plateau,
                                   args.plateau_end))
    return 0
