"""Markdown tables of evaluation results, for logs and project READMEs.

Metrics are stored as fractions in [0, 1] (pycocotools' scale); the tables print them as
percentages with one decimal, so an AP of 0.7234 appears as ``72.3``. NaN (no ground truth in
that bucket) prints as ``nan``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["SUMMARY_METRICS", "format_per_category_table", "format_results_table", "format_percent"]

SUMMARY_METRICS: tuple[str, ...] = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def format_percent(value: float | None) -> str:
    """A fraction as a percentage with one decimal: 0.7234 -> ``"72.3"``; NaN -> ``"nan"``.

    Missing values (None) print as ``"-"``.
    """
    if value is None:
        return "-"
    value = float(value)
    if math.isnan(value):
        return "nan"
    return f"{100.0 * value:.1f}"


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    separator = "|" + "|".join(":" + "-" * (w + 1) for w in widths) + "|"
    return "\n".join([line(header), separator, *(line(r) for r in rows)])


def format_results_table(
    results: Mapping[str, Mapping[str, float]],
    *,
    metrics: Sequence[str] = SUMMARY_METRICS,
) -> str:
    """One Markdown row per task (``bbox``, ``segm``, ...) and one column per summary metric.

    Entries of ``results`` that are not metric dicts of a task (e.g. ``gt_counts``, which holds
    counts, not fractions) are left out: a task is kept when it has at least one of ``metrics``.

    Args:
        results: ``{task: {metric: fraction}}`` as returned by an evaluator.
        metrics: the columns, in order.

    Returns:
        The table as a string, values as percentages with one decimal (0.7234 -> ``72.3``).
    """
    rows = [
        [task, *(format_percent(task_metrics.get(m)) for m in metrics)]
        for task, task_metrics in results.items()
        if isinstance(task_metrics, Mapping) and any(m in task_metrics for m in metrics)
    ]
    return _markdown(["task", *metrics], rows)


def format_per_category_table(
    per_category: Mapping[str, float],
    *,
    metric_name: str = "AP",
    num_columns: int = 3,
) -> str:
    """Per-category values laid out as ``num_columns`` (category, value) pairs per Markdown row.

    Args:
        per_category: ``{class_name: fraction}``; a key ``"AP-<name>"`` is shown as ``<name>``.
        metric_name: header of the value columns.
        num_columns: how many (category, value) pairs share one row.

    Returns:
        The table as a string, values as percentages with one decimal.
    """
    if num_columns < 1:
        raise ValueError(f"num_columns must be >= 1, got {num_columns}")
    prefix = f"{metric_name}-"
    cells: list[str] = []
    for name, value in per_category.items():
        short = name[len(prefix):] if name.startswith(prefix) else name
        cells.extend([short, format_percent(value)])
    width = 2 * num_columns
    cells.extend([""] * (-len(cells) % width))
    rows = [cells[i : i + width] for i in range(0, len(cells), width)]
    header = ["category", metric_name] * min(num_columns, max(len(per_category), 1))
    rows = [row[: len(header)] for row in rows]
    return _markdown(header, rows)
