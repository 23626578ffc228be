"""``maskrcnn-ext sweep``: train every (arm, seed) of a suite into its own run directory, resumably.

    maskrcnn-ext sweep suite.yaml --output output/sweep
    maskrcnn-ext sweep suite.yaml --output output/sweep --subset quick --seeds 0 1 2 --set train.max_iter=500
    maskrcnn-ext sweep suite.yaml --output output/sweep --only baseline --dry-run

Re-running the same command skips finished jobs and resumes interrupted ones.
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", help="suite YAML: seeds, arms (name -> config), optional overrides and subsets")
    parser.add_argument("--output", required=True, help="root folder; each job trains into OUTPUT/ARM/seedS")
    parser.add_argument("--seeds", nargs="+", type=int, metavar="SEED", help="seeds to run instead of the suite's")
    parser.add_argument("--only", nargs="+", metavar="ARM", help="run only these arms")
    parser.add_argument("--subset", metavar="NAME", help="run only the arms of this subset of the suite")
    parser.add_argument("--jobs", type=int, default=None,
                        help="jobs run at once (default: one per GPU, each on its own GPU; else 1)")
    parser.add_argument("--launcher", default="train_net.py",
                        help="training script run for each job (default: train_net.py in the current folder)")
    parser.add_argument("--dry-run", action="store_true", help="print each job's state and command, run nothing")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="config overrides given to every job, e.g. --set train.max_iter=500")


def run(args: argparse.Namespace) -> int:
    from maskrcnn_ext.experiments.sweep import SweepError, format_plan, load_suite, plan_sweep, resolve_launcher
    from maskrcnn_ext.experiments.sweep_runner import run_sweep

    try:
        jobs = plan_sweep(load_suite(args.suite), output_dir=args.output, seeds=args.seeds, only=args.only,
                          subset=args.subset, extra_overrides=args.overrides)
        if args.dry_run:
            # The plan is this option's output, so it goes to stdout rather than the log.
            sys.stdout.write(format_plan(jobs, launcher=resolve_launcher(args.launcher)) + "\n")
            return 0
        return run_sweep(jobs, output_dir=args.output, launcher=args.launcher, num_slots=args.jobs)
    except SweepError as e:
        sys.stderr.write(f"maskrcnn-ext sweep: error: {e}\n")
        return 2
