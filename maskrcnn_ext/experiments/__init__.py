"""Experiment tools built on the engine: ablation sweeps (planned from a suite file, run by a
launcher on this machine or on a Slurm cluster) and batch prediction over image files."""
