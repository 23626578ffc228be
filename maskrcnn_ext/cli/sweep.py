"""``maskrcnn-ext sweep``: train every (arm, seed) of a suite into its own run directory, resumably.

    maskrcnn-ext sweep suite.yaml --output output/sweep
    maskrcnn-ext sweep suite.yaml --output output/sweep --subset quick --seeds 0 1 2 --set train.max_iter=500
    maskrcnn-ext sweep suite.yaml --output output/sweep --only baseline --dry-run
    maskrcnn-ext sweep projects/Detectron2Bridge/suite_shapes.yaml --output output/d2sweep    # its launcher: key
    maskrcnn-ext sweep suite.yaml --output output/sweep --launcher submitit --partition gpu --gpus-per-job 1 \\
        --cpus-per-task 10 --timeout-min 720 --jobs 8    # Slurm: one job each, 8 at a time

Re-running the same command skips finished jobs and resumes interrupted ones (on Slurm it also
follows the jobs an earlier run left queued or running instead of submitting them again).
"""
from __future__ import annotations

import argparse
import logging
import sys

from maskrcnn_ext.experiments.launchers import LocalLauncher
from maskrcnn_ext.experiments.submitit_launcher import SubmititLauncher
from maskrcnn_ext.experiments.sweep import SweepError, format_plan, load_suite, plan_sweep, resolve_script
from maskrcnn_ext.experiments.sweep_runner import run_sweep

logger = logging.getLogger(__name__)

LAUNCHERS = ("local", "submitit")
_SLURM_FLAGS = {"partition": "--partition", "gpus_per_job": "--gpus-per-job", "cpus_per_task": "--cpus-per-task",
                "timeout_min": "--timeout-min", "slurm_options": "--slurm-option"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", help="suite YAML: seeds, arms (name -> config), optional overrides, subsets "
                                      "and launcher (the training script, e.g. Detectron2's)")
    parser.add_argument("--output", required=True, help="root folder; each job trains into OUTPUT/ARM/seedS")
    parser.add_argument("--seeds", nargs="+", type=int, metavar="SEED", help="seeds to run instead of the suite's")
    parser.add_argument("--only", nargs="+", metavar="ARM", help="run only these arms")
    parser.add_argument("--subset", metavar="NAME", help="run only the arms of this subset of the suite")
    parser.add_argument("--jobs", type=int, default=None,
                        help="jobs run at once (local: default one per GPU, each on its own GPU, else 1; "
                             "submitit: the Slurm job array's limit, default all)")
    parser.add_argument("--launcher", default="local", metavar="{local,submitit}",
                        help="where the jobs run: local = child processes of this command (default); "
                             "submitit = one Slurm job each, submitted with submitit")
    parser.add_argument("--train-script", default=None, metavar="PATH",
                        help="training script run for each job (default: the suite's launcher, else "
                             "train_net.py in the current folder)")
    parser.add_argument("--dry-run", action="store_true", help="print each job's state and command, run nothing")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="config overrides given to every job, e.g. --set train.max_iter=500")
    slurm = parser.add_argument_group("Slurm (--launcher submitit)")
    slurm.add_argument("--partition", help="Slurm partition (default: the cluster's default)")
    slurm.add_argument("--gpus-per-job", type=int, default=None, metavar="N",
                       help="GPUs of each job, one training process each (default 1; 0 for CPU jobs)")
    slurm.add_argument("--cpus-per-task", type=int, default=None, metavar="C",
                       help="CPUs of each job (default: Slurm's default)")
    slurm.add_argument("--timeout-min", type=int, default=None, metavar="M",
                       help="time limit of each job in minutes (default 1440); a job that reaches it is "
                            "requeued and resumes from its last checkpoint (3 times at most)")
    slurm.add_argument("--slurm-option", dest="slurm_options", action="append", default=[], metavar="KEY=VALUE",
                       help="any other sbatch option, e.g. --slurm-option account=myproject --slurm-option mem=64G")


def _check_launcher(args: argparse.Namespace) -> None:
    """Validate ``--launcher`` and the Slurm flags (``--launcher PATH.py``: the old ``--train-script``)."""
    if args.launcher not in LAUNCHERS:
        if not args.launcher.endswith(".py"):
            raise SweepError(f"unknown launcher {args.launcher!r}; choose from {', '.join(LAUNCHERS)}")
        logger.warning("--launcher %s: give the training script with --train-script; "
                       "--launcher now picks where the jobs run (%s)", args.launcher, ", ".join(LAUNCHERS))
        args.train_script, args.launcher = args.launcher, "local"
    given = [flag for name, flag in _SLURM_FLAGS.items() if getattr(args, name) not in (None, [])]
    if args.launcher != "submitit" and given:
        raise SweepError(f"{', '.join(given)}: only with --launcher submitit")


def _slurm_options(values: list[str]) -> dict[str, str]:
    bad = [v for v in values if "=" not in v or v.startswith("=")]
    if bad:
        raise SweepError(f"--slurm-option takes KEY=VALUE (an sbatch option's long name), got {', '.join(bad)}")
    return dict(v.lstrip("-").split("=", 1) for v in values)


def make_launcher(args: argparse.Namespace):
    """The launcher ``args`` ask for."""
    if args.launcher == "local":
        return LocalLauncher(num_slots=args.jobs)
    gpus = 1 if args.gpus_per_job is None else args.gpus_per_job
    return SubmititLauncher(partition=args.partition, gpus_per_job=gpus, cpus_per_task=args.cpus_per_task,
                            timeout_min=args.timeout_min or 24 * 60, parallelism=args.jobs,
                            slurm_options=_slurm_options(args.slurm_options))


def run(args: argparse.Namespace) -> int:
    try:
        _check_launcher(args)
        suite = load_suite(args.suite)
        jobs = plan_sweep(suite, output_dir=args.output, seeds=args.seeds, only=args.only,
                          subset=args.subset, extra_overrides=args.overrides)
        launcher = make_launcher(args)
        script = resolve_script(args.train_script, suite=suite)
        if args.dry_run:
            # The plan is this option's output, so it goes to stdout rather than the log.
            plan = format_plan(jobs, script=script, num_processes=getattr(launcher, "num_processes", 1))
            sys.stdout.write(plan + "\n")
            return 0
        return run_sweep(jobs, output_dir=args.output, script=script, launcher=launcher)
    except SweepError as e:
        sys.stderr.write(f"maskrcnn-ext sweep: error: {e}\n")
        return 2
