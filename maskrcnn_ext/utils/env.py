"""Environment report for run directories and bug reports, and global seeding."""
from __future__ import annotations

import importlib
import logging
import os
import platform
import random
import resource
import sys
from pathlib import Path

import numpy as np
import torch

__all__ = ["collect_env_info", "git_commit", "peak_rss_mib", "seed_all"]

logger = logging.getLogger(__name__)

_LIBRARIES = ("torchvision", "numpy", "pycocotools", "fvcore", "omegaconf", "cv2", "PIL")


def _library_version(module_name: str) -> str:
    """Version string of an importable library, or why it is not available."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return "not installed"
    except Exception as exc:  # a broken install must not prevent writing the report
        return f"import failed: {exc.__class__.__name__}: {exc}"
    return str(getattr(module, "__version__", "unknown version"))


def _cuda_rows() -> list[tuple[str, str]]:
    rows = [("CUDA available", str(torch.cuda.is_available())), ("torch CUDA build", str(torch.version.cuda))]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            rows.append((f"GPU {index}", torch.cuda.get_device_name(index)))
        rows.append(("cuDNN", str(torch.backends.cudnn.version())))
    return rows


def collect_env_info() -> str:
    """Describe the software and hardware a run used, one ``key: value`` per line.

    Returns:
        A multi-line string: Python, platform, torch and library versions, CUDA and device names,
        and the thread counts that decide CPU speed.
    """
    rows: list[tuple[str, str]] = [
        ("Python", sys.version.replace("\n", " ")),
        ("platform", platform.platform()),
        ("torch", torch.__version__),
    ]
    rows += [(name, _library_version(name)) for name in _LIBRARIES]
    rows += _cuda_rows()
    rows += [
        ("torch threads", str(torch.get_num_threads())),
        ("CPU count", str(os.cpu_count())),
    ]
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key:<{width}} : {value}" for key, value in rows)


def seed_all(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (all CUDA devices included).

    Args:
        seed: a non-negative integer below 2**32.
    """
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    logger.info("Seeded random, numpy and torch with %d", seed)


def _git_dir(folder: Path) -> Path | None:
    dot_git = folder / ".git"
    if dot_git.is_dir():
        return dot_git
    if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
        text = dot_git.read_text(encoding="utf-8").strip()
        if text.startswith("gitdir:"):
            return (folder / text[len("gitdir:"):].strip()).resolve()
    return None


def _resolve_ref(git_dir: Path, ref: str) -> str | None:
    common = git_dir
    if (git_dir / "commondir").is_file():
        common = (git_dir / (git_dir / "commondir").read_text(encoding="utf-8").strip()).resolve()
    for base in (git_dir, common):
        if (base / ref).is_file():
            return (base / ref).read_text(encoding="utf-8").strip()
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == ref:
                return parts[0]
    return None


def git_commit(start: str | os.PathLike | None = None) -> str | None:
    """The commit checked out in the git repository holding ``start`` (default: this package), read
    from the ``.git`` folder without running git; None outside a repository or on any read error."""
    folder = Path(start or Path(__file__).resolve().parent).resolve()
    try:
        for candidate in (folder, *folder.parents):
            git_dir = _git_dir(candidate)
            if git_dir is None:
                continue
            head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
            return _resolve_ref(git_dir, head[4:].strip()) if head.startswith("ref:") else head
    except OSError:
        return None
    return None


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB.

    Linux's ``VmHWM`` where there is one: ``ru_maxrss`` survives ``exec``, so a process started by a
    larger one (a data-parallel worker, a benchmark's measuring child) would report its parent's peak.
    Elsewhere ``ru_maxrss`` (kilobytes on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024
