"""``maskrcnn-ext doctor``: are torch, torchvision and the device usable together?"""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None, help="also run a tiny op on this device (e.g. cuda:0)")


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split("+")[0].split(".")[:2]
    return int(major), int(minor)


def check_compatible(torch_version: str, torchvision_version: str) -> str | None:
    """None when torchvision is the release built for this torch, else the problem in words.

    torch 2.N ships with torchvision 0.(N + 15) (2.4 with 0.19, 2.14 with 0.29).
    """
    t_major, t_minor = _minor(torch_version)
    v_major, v_minor = _minor(torchvision_version)
    if t_major != 2 or v_major != 0:
        return f"unrecognized version scheme: torch {torch_version}, torchvision {torchvision_version}"
    if v_minor != t_minor + 15:
        return (f"torchvision {torchvision_version} is not built for torch {torch_version} "
                f"(expected torchvision 0.{t_minor + 15}.x); reinstall them together")
    if (t_major, t_minor) < (2, 4):
        return f"torch {torch_version} is older than the supported 2.4"
    return None


def _smoke_test(device: str) -> str | None:
    import torch
    from torchvision.ops import nms, roi_align

    try:
        x = torch.rand(1, 4, 16, 16, device=device)
        roi_align(x, [torch.tensor([[0.0, 0.0, 8.0, 8.0]], device=device)], 2)
        nms(torch.tensor([[0.0, 0, 1, 1]], device=device), torch.ones(1, device=device), 0.5)
    except Exception as e:  # noqa: BLE001 -- report any failure of the compiled ops
        return f"torchvision ops failed on {device}: {type(e).__name__}: {e}"
    return None


def run(args: argparse.Namespace) -> int:
    import torch
    import torchvision

    cuda = torch.cuda.is_available()
    lines = [
        f"python        {sys.version.split()[0]}",
        f"torch         {torch.__version__} (built with CUDA {torch.version.cuda or 'none'})",
        f"torchvision   {torchvision.__version__}",
        f"CUDA          {'available' if cuda else 'not available'}",
    ]
    if cuda:
        lines += [f"  cuda:{i}      {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
    device = args.device or ("cuda" if cuda else "cpu")
    lines.append(f"device        {device} ({torch.get_num_threads()} CPU threads)")
    problems = [p for p in (check_compatible(torch.__version__, torchvision.__version__),
                            _smoke_test(device)) if p]
    lines.append("status        " + ("OK" if not problems else "PROBLEMS"))
    lines += [f"  - {p}" for p in problems]
    # The report is this command's output, so it goes to stdout rather than the log.
    sys.stdout.write("\n".join(lines) + "\n")
    return 1 if problems else 0
