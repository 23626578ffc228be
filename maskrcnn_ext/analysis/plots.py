"""PNG plots of compared runs: training-loss and AP curves per arm and a bar chart of AP per arm.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot), so plotting needs no display
and leaves the process-wide matplotlib backend alone.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from maskrcnn_ext.analysis.compare import ArmSummary, metric_scale, summarize
from maskrcnn_ext.analysis.runs import Run

logger = logging.getLogger(__name__)

Curve = tuple[np.ndarray, np.ndarray]


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average: each point is the mean of itself and up to ``window - 1`` before it.

    Args:
        values: 1-D values.
        window: number of points averaged; 1 or less returns ``values`` unchanged.

    Returns:
        An array of the same length as ``values``.
    """
    if window <= 1 or values.size == 0:
        return values
    csum = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    end = np.arange(1, values.size + 1)
    start = np.maximum(end - window, 0)
    return (csum[end] - csum[start]) / (end - start)


def run_curve(run: Run, key: str, *, evals: bool = False) -> Curve:
    """``(iterations, values)`` of ``key`` in ``run``'s train rows (its eval rows with ``evals``),
    sorted by iteration, finite only."""
    rows = run.evals if evals else run.train
    points = sorted((it, row[key]) for it, row in rows.items() if key in row and math.isfinite(row[key]))
    return np.array([p[0] for p in points], dtype=np.int64), np.array([p[1] for p in points], dtype=np.float64)


def mean_curve(curves: Sequence[Curve]) -> Curve:
    """Mean of ``curves`` on the iterations all of them have.

    Args:
        curves: non-empty ``(iterations, values)`` pairs, iterations sorted and unique.

    Returns:
        ``(common iterations, mean values)``; empty arrays when they share no iteration.
    """
    common = np.array(sorted(set.intersection(*(set(its.tolist()) for its, _ in curves))), dtype=np.int64)
    if common.size == 0:
        return common, np.zeros(0)
    return common, np.mean([values[np.isin(its, common)] for its, values in curves], axis=0)


def lr_drops(runs: Sequence[Run], factor: float = 0.5) -> list[int]:
    """Iterations where any of ``runs``' learning rate falls, from the ``lr`` of their train rows.

    Args:
        runs: the runs; rows without ``lr`` are skipped.
        factor: a logged ``lr`` below ``factor`` times the previous logged one is a drop (warm-up and
            a cosine schedule's small steps are not).

    Returns:
        Sorted unique iterations of the first row logged at the lower rate (so within one logging
        period after the scheduled step).
    """
    drops: set[int] = set()
    for run in runs:
        its, lrs = run_curve(run, "lr")
        falls = np.nonzero(lrs[1:] < factor * lrs[:-1])[0]
        drops.update(int(its[i + 1]) for i in falls)
    return sorted(drops)


def _all_lr_drops(arms: Mapping[str, Sequence[Run]]) -> list[int]:
    return lr_drops([r for runs in arms.values() for r in runs])


def _mark_lr_drops(ax: Axes, drops: Sequence[int]) -> None:
    for i, it in enumerate(drops):
        ax.axvline(it, color="0.45", linestyle="--", linewidth=0.9, label="LR drop" if i == 0 else None)


def _new_axes(width: float, height: float) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path)
    logger.info("Wrote %s", path)


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    logger.warning("%s", text)


def _draw_arm_curves(ax: Axes, name: str, runs: Sequence[Run], key: str, smooth: int, color: str,
                     *, evals: bool = False) -> bool:
    """Light per-seed lines and the bold seed mean of one arm; False when it has no such scalar.
    ``evals`` draws an eval key (AP in points, a marker per evaluation) instead of a train scalar."""
    curves = [c for c in (run_curve(r, key, evals=evals) for r in runs) if c[0].size]
    if not curves:
        return False
    scale, marker = (metric_scale(key), "o") if evals else (1.0, None)
    if len(curves) > 1:
        for its, values in curves:
            ax.plot(its, moving_average(values, smooth) * scale, color=color, alpha=0.25, linewidth=0.8)
    its, mean = mean_curve(curves)
    if its.size == 0:
        logger.warning("Arm %s: its seeds share no logged iteration of %s; no mean curve", name, key)
        return True
    label = f"{name} (mean of {len(curves)} seeds)" if len(curves) > 1 else name
    ax.plot(its, moving_average(mean, smooth) * scale, color=color, linewidth=1.8, marker=marker, label=label)
    return True


def plot_loss_curves(arms: Mapping[str, Sequence[Run]], path: Path, key: str = "total_loss",
                     smooth: int = 1) -> None:
    """Write a PNG of ``key`` against iteration: per arm the seed mean, seeds as light lines; the
    runs' LR drops as dashed vertical lines.

    Args:
        arms: arm name -> its runs (runs without evaluation rows included).
        path: destination ``.png``.
        key: the train scalar to plot.
        smooth: moving-average window, in logged points (1: no smoothing).
    """
    fig, ax = _new_axes(8, 5)
    drawn = [_draw_arm_curves(ax, name, runs, key, smooth, f"C{i % 10}")
             for i, (name, runs) in enumerate(arms.items())]
    _mark_lr_drops(ax, _all_lr_drops(arms))
    if any(drawn):
        ax.legend(fontsize="small")
    else:
        _note(ax, f"no {key!r} in the training rows of any run")
    suffix = f", moving average over {smooth} points" if smooth > 1 else ""
    ax.set(xlabel="iteration", ylabel=key, title=f"{key} per arm (mean over seeds{suffix})")
    ax.grid(alpha=0.3)
    _save(fig, path)


def plot_ap_curves(arms: Mapping[str, Sequence[Run]], path: Path,
                   metrics: Sequence[str] = ("bbox/AP", "segm/AP")) -> None:
    """Write a PNG of evaluation ``metrics`` against iteration, one panel each: per arm the seed mean
    (on the iterations every seed evaluated), seeds as light lines; the runs' LR drops as dashed
    vertical lines.

    Args:
        arms: arm name -> its runs.
        path: destination ``.png``.
        metrics: eval keys; AP keys are drawn in AP points (x100).
    """
    fig = Figure(figsize=(6.0 * len(metrics), 4.5), dpi=100)
    FigureCanvasAgg(fig)
    drops = _all_lr_drops(arms)
    for j, metric in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), j + 1)
        drawn = [_draw_arm_curves(ax, name, runs, metric, 1, f"C{i % 10}", evals=True)
                 for i, (name, runs) in enumerate(arms.items())]
        _mark_lr_drops(ax, drops)
        if any(drawn):
            ax.legend(fontsize="small")
        else:
            _note(ax, f"no {metric!r} in the evaluation rows of any run")
        unit = " (x100)" if metric_scale(metric) != 1 else ""
        ax.set(xlabel="iteration", ylabel=metric + unit, title=f"{metric} per arm (mean over seeds)")
        ax.grid(alpha=0.3)
    _save(fig, path)


def _draw_bars(ax: Axes, arms: Sequence[ArmSummary], metric: str, offset: float, width: float,
               color: str) -> bool:
    """One bar per arm that reports ``metric`` (its seed mean, half range as error bar)."""
    stats = [(i, summarize([r.final_eval[metric] for r in arm.runs if r.final_eval and metric in r.final_eval]))
             for i, arm in enumerate(arms)]
    present = [(i, s) for i, s in stats if s is not None]
    if not present:
        return False
    scale = metric_scale(metric)
    ax.bar([i + offset for i, _ in present], [s.mean * scale for _, s in present], width,
           yerr=[s.spread * scale for _, s in present], capsize=3, color=color, label=metric)
    return True


def plot_ap_bars(arms: Sequence[ArmSummary], path: Path,
                 metrics: Sequence[str] = ("bbox/AP", "segm/AP")) -> None:
    """Write a grouped bar chart of ``metrics`` per arm, error bars = spread (half the range).

    Args:
        arms: the evaluated arms, e.g. ``Comparison.arms``.
        path: destination ``.png``.
        metrics: eval keys, one bar per arm each; an arm without a key gets no bar for it.
    """
    fig, ax = _new_axes(max(6.0, 1.0 + 1.2 * len(arms)), 4.5)
    width = 0.8 / len(metrics)
    drawn = [_draw_bars(ax, arms, m, (j - (len(metrics) - 1) / 2) * width, width, f"C{j % 10}")
             for j, m in enumerate(metrics)]
    if any(drawn):
        ax.legend(fontsize="small")
    else:
        _note(ax, f"no {' or '.join(metrics)} in any run's final evaluation")
    rotate = len(arms) > 4 or any(len(a.name) > 12 for a in arms)
    ax.set_xticks(range(len(arms)), [a.name for a in arms], rotation=30 if rotate else 0,
                  ha="right" if rotate else "center")
    ax.set(ylabel="AP (x100), mean over seeds", title="AP per arm (error bar: half range over seeds)")
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)
