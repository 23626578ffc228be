"""``compare --plateau``: an arm's gain over the last iterations, judged by the seed-spread rule."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from compare_helpers import run_cli

from maskrcnn_ext.analysis.compare import Stat, compare_runs
from maskrcnn_ext.analysis.convergence import (
    Convergence, arm_convergence, convergence_table, format_convergence, last_at_or_before)
from maskrcnn_ext.analysis.runs import Run

# seed -> segm/AP at iterations 99, 199, 299, 399 (fractions)
RISING = {0: (0.10, 0.30, 0.50, 0.70), 1: (0.12, 0.34, 0.52, 0.66)}
FLAT = {0: (0.10, 0.60, 0.61, 0.62), 1: (0.12, 0.64, 0.66, 0.60)}


def make_run(arm: str, seed: int, values: tuple[float, ...]) -> Run:
    evals = {100 * (i + 1) - 1: {"segm/AP": v, "bbox/AP": v} for i, v in enumerate(values)}
    return Run(Path(f"/runs/{arm}/seed{seed}"), arm, {}, evals, None)


def test_last_evaluation_at_or_before_a_limit():
    assert last_at_or_before([99, 199, 299], 250) == 199
    assert last_at_or_before([99, 199, 299], 199) == 199
    assert last_at_or_before([99, 199, 299], 98) is None


def test_rising_arm_gain_and_spreads_by_hand():
    runs = [make_run("rising", s, v) for s, v in RISING.items()]
    c = arm_convergence("rising", runs, "segm/AP", window=200)
    # window of 200 ending at 399 starts at 199: 0.30 / 0.34 -> 0.70 / 0.66
    assert (c.start_iters, c.end_iters) == ([199], [399])
    assert c.start.mean == pytest.approx(0.32) and c.start.spread == pytest.approx(0.02)
    assert c.end.mean == pytest.approx(0.68) and c.end.spread == pytest.approx(0.02)
    assert c.gain == pytest.approx(0.36)
    assert c.plateaued is False  # 0.36 > 0.02 + 0.02


def test_flat_arm_is_plateaued_within_the_seed_spread():
    runs = [make_run("flat", s, v) for s, v in FLAT.items()]
    c = arm_convergence("flat", runs, "segm/AP", window=200)
    # 0.60 / 0.64 (mean 0.62 ± 0.02) -> 0.62 / 0.60 (0.61 ± 0.01): gain -0.01
    assert c.gain == pytest.approx(-0.01)
    assert c.plateaued is True
    # a window ending earlier sees the rise: 99 -> 299, 0.11 ± 0.01 -> 0.635 ± 0.025
    early = arm_convergence("flat", runs, "segm/AP", window=200, end=300)
    assert (early.start_iters, early.end_iters) == ([99], [299])
    assert early.gain == pytest.approx(0.525)
    assert early.plateaued is False


def test_gain_within_spread_counts_as_plateaued_but_beyond_it_does_not():
    within = Convergence("a", "segm/AP", [1], [2], Stat(0.50, 0.02, 2), Stat(0.53, 0.01, 2))
    beyond = Convergence("a", "segm/AP", [1], [2], Stat(0.50, 0.01, 2), Stat(0.53, 0.01, 2))
    assert within.plateaued is True and beyond.plateaued is False


def test_one_seed_has_no_spread_so_a_rise_cannot_be_judged():
    assert arm_convergence("a", [make_run("a", 0, (0.1, 0.5, 0.5, 0.5))], "segm/AP", 100).plateaued is True
    assert arm_convergence("a", [make_run("a", 0, (0.1, 0.5, 0.51, 0.5))], "segm/AP", 100).plateaued is True
    rise = arm_convergence("a", [make_run("a", 0, (0.1, 0.5, 0.5, 0.51))], "segm/AP", 100)
    assert rise.plateaued is None
    assert "| a | 1 | 299 | 399 | 50.0 | 51.0 | +1.0 | – |" in format_convergence([rise], 100)


def test_a_gain_that_rounds_to_zero_has_no_minus_sign():
    runs = [make_run("a", 0, (0.1, 0.5, 0.5, 0.4996))]
    assert "| 50.0 | 50.0 | +0.0 | yes |" in format_convergence([arm_convergence("a", runs, "segm/AP", 100)], 100)


def test_window_longer_than_a_seed_has_evaluations_cannot_be_judged():
    runs = [make_run("a", 0, (0.1, 0.2, 0.3, 0.4)), make_run("a", 1, (0.3, 0.4))]
    c = arm_convergence("a", runs, "segm/AP", window=300)
    # seed 1 has no evaluation 300 iterations before its last: the two ends would average other seeds
    assert c.start is None and c.gain is None and c.plateaued is None
    assert c.end_iters == [199, 399]
    text = format_convergence([c], 300)
    assert "| a | 2 | – | 199/399 | – | 40.0 ± 0.0 | – | – |" in text


def test_table_uses_the_first_metric_and_formats_points():
    runs = [make_run(arm, s, v) for arm, seeds in (("rising", RISING), ("flat", FLAT)) for s, v in seeds.items()]
    comp = compare_runs(runs, ["segm/AP", "bbox/AP"], baseline="flat")
    items = convergence_table(comp, 200)
    assert [(c.arm, c.metric) for c in items] == [("rising", "segm/AP"), ("flat", "segm/AP")]
    text = format_convergence(items, 200)
    assert "## Convergence: segm/AP over the 200 iterations up to the final evaluation" in text
    assert "| rising | 2 | 199 | 399 | 32.0 ± 2.0 | 68.0 ± 2.0 | +36.0 | no |" in text
    assert "| flat | 2 | 199 | 399 | 62.0 ± 2.0 | 61.0 ± 1.0 | -1.0 | yes |" in text


def write_sweep(root: Path) -> Path:
    for arm, seeds in (("rising", RISING), ("flat", FLAT)):
        for seed, values in seeds.items():
            run_dir = root / arm / f"seed{seed}"
            run_dir.mkdir(parents=True)
            rows = [{"type": "eval", "iteration": 100 * (i + 1) - 1, "segm/AP": v} for i, v in enumerate(values)]
            (run_dir / "metrics.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n", encoding="utf-8")
    return root


def test_cli_writes_one_table_per_window_end(tmp_path, capsys, no_plots):
    sweep = write_sweep(tmp_path / "sweep")
    assert run_cli(str(sweep), "--metrics", "segm/AP", "--plateau", "200", "--plateau-end", "300,400") == 0
    out = capsys.readouterr().out
    assert out == (sweep / "compare.md").read_text(encoding="utf-8")
    assert "up to iteration 300" in out and "up to iteration 400" in out
    assert "| flat | 2 | 99 | 299 | 11.0 ± 1.0 | 63.5 ± 2.5 | +52.5 | no |" in out
    assert "| flat | 2 | 199 | 399 | 62.0 ± 2.0 | 61.0 ± 1.0 | -1.0 | yes |" in out


def test_cli_rejects_a_window_of_zero_and_an_end_without_a_window(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_cli(str(tmp_path), "--plateau", "0")
    assert run_cli(str(write_sweep(tmp_path / "sweep")), "--plateau-end", "300") == 2
    assert "--plateau-end needs --plateau" in capsys.readouterr().err
