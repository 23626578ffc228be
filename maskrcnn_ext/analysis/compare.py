"""Compare ablation arms: aggregate the final evaluation of each seed per arm, take deltas against
a baseline arm, diff the arms' configs, and render the result as Markdown and CSV.

Spread is half the range over seeds, ``(max - min) / 2``. AP keys (whose last ``/`` part starts
with ``AP``) are stored as fractions and reported in AP points (x100), in Markdown and CSV alike;
other metrics are reported as stored.

Runs of Detectron2's engine (its ``metrics.json``, AP converted to fractions when read) compare like
the toolkit's, and both kinds can be mixed: AP deltas are then taken across engines, while configs
are diffed only between arms of the same engine (against the baseline, or the engine's first arm).
"""
from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from maskrcnn_ext.analysis.runs import Run, config_diff, first_config, group_by_arm

logger = logging.getLogger(__name__)

DEFAULT_METRICS: tuple[str, ...] = tuple(
    f"{task}/{name}" for task in ("bbox", "segm") for name in ("AP", "AP50", "AP75", "APs", "APm", "APl"))
# COCO's keypoint metric has no small bucket.
KEYPOINT_METRICS: tuple[str, ...] = tuple(f"keypoints/{name}" for name in ("AP", "AP50", "AP75", "APm", "APl"))
MISSING = "–"
ENGINE_LABELS = {"maskrcnn_ext": "this toolkit's engine", "detectron2": "Detectron2's engine"}
WITHIN_SPREAD_FLAG = "~"
_TOLERANCE = 1e-9


class CompareError(ValueError):
    """The comparison asked for cannot be made (unknown metric or baseline arm)."""


@dataclass
class Stat:
    """Mean and spread (half the range, (max - min) / 2) of one metric over ``n`` seeds."""

    mean: float
    spread: float
    n: int


@dataclass
class ArmSummary:
    """One arm: its evaluated runs, per-metric stats, deltas vs the baseline and config diff.

    ``engine`` is its runs' engine (``"maskrcnn_ext"``, ``"detectron2"``; ``"mixed"`` when they
    disagree); ``diff_reference`` the arm its config is diffed against (itself for a reference).
    """

    name: str
    runs: list[Run]
    stats: dict[str, Stat | None]
    deltas: dict[str, tuple[float, bool] | None] = field(default_factory=dict)
    config_diff: list[tuple[str, str, str]] | None = None
    engine: str = "maskrcnn_ext"
    diff_reference: str | None = None


@dataclass
class Comparison:
    """Everything the tables show; ``reference`` is the arm configs are diffed against."""

    metrics: list[str]
    arms: list[ArmSummary]
    baseline: str | None
    reference: str | None


def summarize(values: Sequence[float]) -> Stat | None:
    """Mean and half-range of the finite ``values``; None when there are none."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    return Stat(sum(finite) / len(finite), (max(finite) - min(finite)) / 2, len(finite))


def _check_metrics(metrics: Sequence[str], runs: Sequence[Run]) -> None:
    available = {k for r in runs if r.final_eval for k in r.final_eval}
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise CompareError(f"metric(s) {', '.join(unknown)} found in no run; available: "
                           f"{', '.join(sorted(available)) or '(none)'}")


def within_spread(difference: float, a: Stat, b: Stat) -> bool:
    """The study's rule for a real difference: ``|difference|`` beyond ``a.spread + b.spread``, the
    seed spreads of the two things compared, is real; within it, it is not."""
    return abs(difference) <= a.spread + b.spread + _TOLERANCE


def _delta(arm: Stat | None, base: Stat | None) -> tuple[float, bool] | None:
    if arm is None or base is None:
        return None
    value = arm.mean - base.mean
    return value, within_spread(value, arm, base)


def _diff_reference(arm: ArmSummary, arms: Sequence[ArmSummary], reference: ArmSummary) -> ArmSummary:
    """The reference if it has ``arm``'s engine, else the first arm of that engine: another engine's
    config names other classes and keys, so a diff across engines would list everything."""
    if arm.engine == reference.engine:
        return reference
    return next(a for a in arms if a.engine == arm.engine)


def _add_comparisons(arms: list[ArmSummary], all_runs: dict[str, list[Run]], reference: str,
                     with_deltas: bool) -> None:
    ref = next(a for a in arms if a.name == reference)
    for arm in arms:
        if with_deltas and arm is not ref:
            arm.deltas = {m: _delta(arm.stats[m], ref.stats[m]) for m in arm.stats}
        diff_ref = _diff_reference(arm, arms, ref)
        arm.diff_reference = diff_ref.name
        ref_config, config = first_config(all_runs[diff_ref.name]), first_config(all_runs[arm.name])
        if arm is not diff_ref and ref_config is not None and config is not None:
            arm.config_diff = config_diff(ref_config, config)


def _summarize_arm(name: str, runs: Sequence[Run], metrics: Sequence[str]) -> ArmSummary | None:
    """Stats of the final eval rows of ``runs``; None when no run was evaluated."""
    evaluated = [r for r in runs if r.final_eval is not None]
    if not evaluated:
        return None
    final_iters = sorted({max(r.evals) for r in evaluated})
    if len(final_iters) > 1:
        logger.warning("Arm %s: the seeds' final evaluations are at different iterations %s", name, final_iters)
    finals = [r.final_eval for r in evaluated]
    stats = {m: summarize([f[m] for f in finals if f is not None and m in f]) for m in metrics}
    engines = {r.engine for r in evaluated}
    if len(engines) > 1:
        logger.warning("Arm %s pools runs of different engines (%s)", name, ", ".join(sorted(engines)))
    return ArmSummary(name, evaluated, stats, engine=engines.pop() if len(engines) == 1 else "mixed")


def _default_metrics(runs: Sequence[Run]) -> list[str]:
    has_keypoints = any(KEYPOINT_METRICS[0] in row for run in runs for row in run.evals.values())
    return list(DEFAULT_METRICS) + (list(KEYPOINT_METRICS) if has_keypoints else [])


def compare_runs(runs: Sequence[Run], metrics: Sequence[str] | None = None,
                 baseline: str | None = None) -> Comparison:
    """Aggregate the final eval row of each seed per arm, with deltas and config diffs.

    Args:
        runs: the runs, e.g. from :func:`load_runs`.
        metrics: eval keys to report; None reports :data:`DEFAULT_METRICS` (absent ones blank), and
            :data:`KEYPOINT_METRICS` beside them when any run evaluated keypoints.
        baseline: arm to take deltas against (and diff configs with); None diffs vs the first arm.

    Returns:
        The :class:`Comparison`; arms without an evaluated run are left out.

    Raises:
        CompareError: a requested metric is in no run, or ``baseline`` names no evaluated arm.
    """
    if metrics is not None:
        _check_metrics(metrics, runs)
    metrics = list(metrics or _default_metrics(runs))
    all_runs = group_by_arm(runs)
    arms = [a for a in (_summarize_arm(n, r, metrics) for n, r in all_runs.items()) if a is not None]
    names = [a.name for a in arms]
    if baseline is not None and baseline not in names:
        raise CompareError(f"no evaluated arm named {baseline!r}; arms: {', '.join(names) or '(none)'}")
    reference = baseline or (names[0] if names else None)
    if reference is not None:
        _add_comparisons(arms, all_runs, reference, with_deltas=baseline is not None)
    return Comparison(metrics, arms, baseline, reference)


def metric_scale(metric: str) -> float:
    """100 for AP keys (stored as fractions, shown in AP points), else 1."""
    return 100.0 if metric.rsplit("/", 1)[-1].startswith("AP") else 1.0


def format_stat(stat: Stat | None, metric: str) -> str:
    """``mean ± spread`` (the mean alone for one seed), ``–`` when absent."""
    if stat is None:
        return MISSING
    scale = metric_scale(metric)
    mean = f"{stat.mean * scale:.1f}"
    return mean if stat.n == 1 else f"{mean} ± {stat.spread * scale:.1f}"


def format_delta(delta: tuple[float, bool] | None, metric: str) -> str:
    """Signed delta, with :data:`WITHIN_SPREAD_FLAG` appended when within seed spread."""
    if delta is None:
        return MISSING
    return f"{delta[0] * metric_scale(metric):+.1f}" + (WITHIN_SPREAD_FLAG if delta[1] else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table_lines(comp: Comparison) -> list[str]:
    deltas = comp.baseline is not None
    header = ["arm", "n seeds"] + [c for m in comp.metrics for c in ([m, f"Δ {m}"] if deltas else [m])]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for arm in comp.arms:
        cells = [arm.name + (" (baseline)" if arm.name == comp.baseline else ""), str(len(arm.runs))]
        for m in comp.metrics:
            cells.append(format_stat(arm.stats[m], m))
            if deltas:
                cells.append("" if arm.name == comp.baseline else format_delta(arm.deltas.get(m), m))
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _footnotes(comp: Comparison) -> list[str]:
    notes = ["Each cell: mean ± spread over the seeds' final evaluations (the eval row with the largest "
             "iteration), in AP points (x100) for AP metrics; spread = half the range, (max − min) / 2; "
             f"one seed shows the mean alone; {MISSING} = not reported by the arm (e.g. no mask branch)."]
    if comp.baseline is not None:
        notes.append(f"Δ = arm mean − baseline (`{comp.baseline}`) mean; a trailing `{WITHIN_SPREAD_FLAG}` "
                     "marks |Δ| ≤ spread(arm) + spread(baseline), i.e. within seed spread.")
    return notes + _engine_notes(comp)


def _engine_notes(comp: Comparison) -> list[str]:
    """Which engine trained which arm, when Detectron2's did any of them."""
    engines: dict[str, list[str]] = {}
    for arm in comp.arms:
        engines.setdefault(arm.engine, []).append(f"`{arm.name}`")
    if set(engines) <= {"maskrcnn_ext"}:
        return []
    trained = "; ".join(f"{ENGINE_LABELS.get(e, e + ' engines')}: {', '.join(names)}" for e, names in engines.items())
    notes = [f"Trained by {trained}. Detectron2's runs are read from its `metrics.json`, AP points "
             "divided by 100 when read; their final evaluation is the row labelled `max_iter` (this "
             "toolkit labels its own `max_iter − 1`)."]
    if len(engines) > 1:
        notes.append("Arms of different engines are compared by their final COCO AP as each engine "
                     "evaluated it, so a Δ across engines measures the engines as well as the arms; "
                     "configs are diffed only between arms of the same engine.")
    return notes


def _diff_text(arm: ArmSummary) -> list[str]:
    if arm.config_diff is None:
        return ["(config.yaml missing)"]
    return [f"{key}: {base} → {other}" for key, base, other in arm.config_diff] or ["no differences"]


def format_markdown(comp: Comparison) -> str:
    """The comparison as Markdown: the AP table, its footnotes and the config differences."""
    lines = ["## AP over seeds", ""]
    lines += _table_lines(comp) if comp.arms else ["No run has evaluation rows."]
    for note in _footnotes(comp):
        lines += ["", f"*{note}*"]
    if comp.reference is not None and len(comp.arms) > 1:
        for reference in dict.fromkeys(a.diff_reference for a in comp.arms):
            lines += _diff_section(comp, reference)
    return "\n".join(lines) + "\n"


def _diff_section(comp: Comparison, reference: str | None) -> list[str]:
    """The config differences of the arms diffed against ``reference`` (none when it has no others)."""
    arms = [a for a in comp.arms if a.diff_reference == reference and a.name != reference]
    if not arms:
        return []
    if reference == comp.reference:
        role = "baseline" if comp.baseline else "first arm"
    else:
        engine = next(a.engine for a in comp.arms if a.name == reference)
        role = f"first arm of {ENGINE_LABELS.get(engine, engine)}"
    lines = ["", f"## Config differences vs `{reference}` ({role})", ""]
    for arm in arms:
        if arm.config_diff:
            lines += [f"- **{arm.name}**"] + [f"  - `{text}`" for text in _diff_text(arm)]
        else:
            lines.append(f"- **{arm.name}**: {_diff_text(arm)[0]}")
    return lines


def _number(value: float) -> float:
    return round(value, 4)


def _csv_row(arm: ArmSummary, comp: Comparison) -> list[Any]:
    row: list[Any] = [arm.name, len(arm.runs)]
    for m in comp.metrics:
        stat, scale = arm.stats[m], metric_scale(m)
        row += [_number(stat.mean * scale), _number(stat.spread * scale)] if stat else ["", ""]
        if comp.baseline is not None:
            delta = arm.deltas.get(m)
            row += [_number(delta[0] * scale), int(delta[1])] if delta else ["", ""]
    if arm.diff_reference in (None, arm.name):
        return row + [""]
    prefix = "" if arm.diff_reference == comp.reference else f"vs {arm.diff_reference}: "
    return row + [prefix + "; ".join(_diff_text(arm))]


def write_csv(comp: Comparison, path: Path) -> None:
    """Write one row per arm: mean, spread (and delta, within-spread 0/1) per metric, config diff.

    Args:
        comp: the comparison.
        path: destination ``.csv`` file.
    """
    header: list[str] = ["arm", "n_seeds"]
    for m in comp.metrics:
        header += [f"{m} mean", f"{m} spread"]
        header += [f"{m} delta", f"{m} within_spread"] if comp.baseline is not None else []
    header.append("config diff vs " + ("baseline" if comp.baseline else "first arm"))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(_csv_row(arm, comp) for arm in comp.arms)
