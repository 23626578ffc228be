"""Has an arm stopped improving? Its gain over the last iterations of the schedule, judged by the same
seed-spread rule as the deltas between arms.

For each seed the window runs from its last evaluation at or before ``end - window`` to its last
evaluation at or before ``end`` (default: its final one); with a step schedule, a window that ends
just before the LR drop tells whether more iterations at the high rate would still help. The
metric's values at the two ends are summarised over seeds (mean ± half-range) like any other arm
statistic. The arm counts as *plateaued* when ``end.mean - start.mean`` is at most
``end.spread + start.spread``: the window's iterations bought no more than the seeds disagree by.
A fall or no change counts as plateaued with any number of seeds; a rise measured on one seed cannot
be judged (there is no spread to judge it by).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from maskrcnn_ext.analysis.compare import (
    MISSING, Comparison, Stat, format_stat, metric_scale, summarize, within_spread)
from maskrcnn_ext.analysis.runs import Run


@dataclass
class Convergence:
    """One arm's ``metric`` at the start and the end of the final window.

    ``start_iters`` / ``end_iters`` are the seeds' evaluation iterations at the two ends (sorted,
    unique); ``start`` is None unless every seed has an evaluation that early.
    """

    arm: str
    metric: str
    start_iters: list[int]
    end_iters: list[int]
    start: Stat | None
    end: Stat | None

    @property
    def gain(self) -> float | None:
        """``end.mean - start.mean``, None when either end is missing."""
        if self.start is None or self.end is None:
            return None
        return self.end.mean - self.start.mean

    @property
    def plateaued(self) -> bool | None:
        """Whether the gain is within the two ends' seed spreads; None when it cannot be told."""
        gain = self.gain
        # The ends are checked again only so that type checkers know they are set when gain is.
        if gain is None or self.start is None or self.end is None:
            return None
        # A fall counts as plateaued too: the schedule is long enough, not too short.
        if gain <= 0:
            return True
        return None if self.end.n < 2 else within_spread(gain, self.start, self.end)


def last_at_or_before(eval_iters: Sequence[int], limit: float) -> int | None:
    """The last of ``eval_iters`` at or before ``limit``; None when there is none."""
    earlier = [i for i in eval_iters if i <= limit]
    return max(earlier) if earlier else None


def arm_convergence(arm: str, runs: Sequence[Run], metric: str, window: int,
                    end: int | None = None) -> Convergence:
    """The :class:`Convergence` of ``metric`` over the ``window`` iterations of ``runs`` up to ``end``.

    Args:
        arm: the arm's name.
        runs: its evaluated runs (each with at least one eval row).
        metric: eval key, e.g. ``"segm/AP"``.
        window: length of the window, in iterations.
        end: the window ends at each run's last evaluation at or before this iteration; None: at its
            final evaluation.
    """
    starts: set[int] = set()
    ends: set[int] = set()
    start_values: list[float] = []
    end_values: list[float] = []
    for run in runs:
        iters = list(run.evals)
        last = last_at_or_before(iters, max(iters) if end is None else end)
        if last is None or metric not in run.evals[last]:
            continue
        ends.add(last)
        end_values.append(run.evals[last][metric])
        start = last_at_or_before(iters, last - window)
        if start is not None and metric in run.evals[start]:
            starts.add(start)
            start_values.append(run.evals[start][metric])
    # A gain is only meaningful when both ends average the same seeds.
    if len(start_values) != len(end_values):
        starts, start_values = set(), []
    return Convergence(arm, metric, sorted(starts), sorted(ends), summarize(start_values), summarize(end_values))


def convergence_table(comp: Comparison, window: int, end: int | None = None) -> list[Convergence]:
    """Every arm's :class:`Convergence` of the comparison's first metric over the ``window``
    iterations up to ``end`` (None: the final evaluation)."""
    return [arm_convergence(a.name, a.runs, comp.metrics[0], window, end) for a in comp.arms]


def _iters(iters: Sequence[int]) -> str:
    return "/".join(str(i) for i in iters) or MISSING


def format_convergence(items: Sequence[Convergence], window: int, end: int | None = None) -> str:
    """The table as a Markdown section (heading, table, footnote); ``end`` as given to the table."""
    if not items:
        return ""
    metric = items[0].metric
    until = "the final evaluation" if end is None else f"iteration {end}"
    lines = [f"## Convergence: {metric} over the {window} iterations up to {until}", "",
             "| arm | n seeds | from iteration | to iteration | at start | at end | gain | plateaued |",
             "|---|---:|---:|---:|---:|---:|---:|:---:|"]
    for c in items:
        # + 0.0 turns a rounded -0.0 into 0.0
        gain = MISSING if c.gain is None else f"{round(c.gain * metric_scale(metric), 1) + 0.0:+.1f}"
        flag = {True: "yes", False: "no", None: MISSING}[c.plateaued]
        n = c.end.n if c.end else 0
        lines.append(f"| {c.arm} | {n} | {_iters(c.start_iters)} | {_iters(c.end_iters)} | "
                     f"{format_stat(c.start, metric)} | {format_stat(c.end, metric)} | {gain} | {flag} |")
    at_end = "each seed's final evaluation" if end is None else f"each seed's last evaluation at or before {end}"
    lines += ["", f"*Gain = mean at the end ({at_end}) − mean at each seed's last evaluation at least {window} "
                  "iterations before that; plateaued when the gain is at most the sum of the two ends' seed spreads "
                  "or when it is not positive; `–`: cannot be judged (a rise on one seed, which has no spread, or a "
                  "seed without an evaluation that early).*"]
    return "\n".join(lines) + "\n"
