"""Analysis of finished runs: read run/arm/sweep directories and compare ablation arms.

:mod:`~maskrcnn_ext.analysis.runs` reads runs, :mod:`~maskrcnn_ext.analysis.compare` aggregates them
into tables and :mod:`~maskrcnn_ext.analysis.plots` draws PNGs (imported on demand: it loads
matplotlib).
"""
from __future__ import annotations

from maskrcnn_ext.analysis.compare import (
    DEFAULT_METRICS,
    ArmSummary,
    CompareError,
    Comparison,
    Stat,
    compare_runs,
    format_markdown,
    write_csv,
)
from maskrcnn_ext.analysis.runs import Run, config_diff, find_run_dirs, load_runs

__all__ = [
    "DEFAULT_METRICS", "ArmSummary", "CompareError", "Comparison", "Run", "Stat", "compare_runs",
    "config_diff", "find_run_dirs", "format_markdown", "load_runs", "write_csv",
]
