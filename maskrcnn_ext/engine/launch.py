"""Start one process per device (or per CPU worker) and set up ``torch.distributed`` in each.

Two ways in: ``torchrun`` (the environment already has ``WORLD_SIZE``/``RANK``; we only create the
process group) or ``launch(..., num_processes=N)``, which spawns the workers on this machine.
"""
from __future__ import annotations

import contextlib
import inspect
import logging
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from maskrcnn_ext.utils import comm

__all__ = ["create_ddp_model", "default_backend", "launch"]

logger = logging.getLogger(__name__)


def _find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_backend(processes_per_machine: int) -> str:
    """``"nccl"`` when every local process can have its own GPU, else ``"gloo"`` (CPU)."""
    if torch.cuda.is_available() and torch.cuda.device_count() >= processes_per_machine:
        return "nccl"
    return "gloo"


def _run_in_group(
    main_func: Callable[..., Any], args: tuple[Any, ...], backend: str, local_rank: int, **init: Any
) -> Any:
    """Create the process group, run ``main_func``, and always tear the group down."""
    if backend == "nccl":
        # Before init, so NCCL binds this process to its own GPU rather than GPU 0.
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, **init)
    try:
        comm.synchronize()
        return main_func(*args)
    finally:
        dist.destroy_process_group()


@contextlib.contextmanager
def _omp_threads_for_children(num_processes: int) -> Iterator[None]:
    """Set ``OMP_NUM_THREADS`` while spawning, so the OpenMP pools of the children (torch's and
    those of other native libraries) start at their share of the cores, not at all of them.

    An explicit ``OMP_NUM_THREADS`` wins; ``torchrun`` sets one itself.
    """
    if "OMP_NUM_THREADS" in os.environ:
        yield
        return
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // num_processes))
    try:
        yield
    finally:
        del os.environ["OMP_NUM_THREADS"]


def _spawned_worker(
    local_rank: int,
    main_func: Callable[..., Any],
    world_size: int,
    backend: str,
    dist_url: str,
    args: tuple[Any, ...],
) -> None:
    _run_in_group(main_func, args, backend, local_rank, init_method=dist_url, world_size=world_size, rank=local_rank)


def launch(
    main_func: Callable[..., Any],
    *,
    num_processes: int = 1,
    args: tuple[Any, ...] = (),
    dist_url: str = "auto",
    backend: str | None = None,
) -> Any:
    """Run ``main_func(*args)`` in one or several processes with a process group set up.

    Args:
        main_func: the function to run; with ``num_processes > 1`` it must be picklable (module level).
        num_processes: processes to spawn on this machine; ignored under ``torchrun``.
        args: positional arguments for ``main_func`` (picklable when spawning).
        dist_url: rendezvous address for spawned workers; ``"auto"`` picks a free localhost port.
        backend: ``"nccl"`` or ``"gloo"``; by default nccl when each process gets a GPU, else gloo.

    Returns:
        ``main_func``'s return value in a single process or under torchrun; ``None`` after spawning.

    Raises:
        Whatever a spawned worker raised (wrapped by ``torch.multiprocessing``), after stopping the others.
    """
    env_world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if env_world_size > 1:
        local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", env_world_size))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        backend = backend or default_backend(local_world_size)
        logger.info("torchrun environment: world size %d, backend %s", env_world_size, backend)
        return _run_in_group(main_func, args, backend, local_rank, init_method="env://")

    if num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    if num_processes == 1:
        return main_func(*args)

    if dist_url == "auto":
        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    backend = backend or default_backend(num_processes)
    logger.info("Spawning %d processes (backend %s, %s)", num_processes, backend, dist_url)
    threads = _omp_threads_for_children(num_processes) if backend == "gloo" else contextlib.nullcontext()
    with threads:
        mp.start_processes(
            _spawned_worker,
            nprocs=num_processes,
            args=(main_func, num_processes, backend, dist_url, tuple(args)),
            start_method="spawn",
            join=True,
        )
    return None


def create_ddp_model(
    model: nn.Module,
    *,
    broadcast_buffers: bool = False,
    find_unused_parameters: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """Wrap ``model`` in DistributedDataParallel when running with more than one process.

    Args:
        model: the model, already on its device.
        broadcast_buffers: sync buffers from rank 0 every forward (not needed with frozen BN).
        find_unused_parameters: needed when some parameters get no gradient in some iterations.
        **kwargs: further DistributedDataParallel arguments.

    Returns:
        ``model`` itself in a single process, else the DDP wrapper.
    """
    if comm.get_world_size() == 1:
        return model
    if "device_ids" not in kwargs and any(p.is_cuda for p in model.parameters()):
        kwargs["device_ids"] = [torch.cuda.current_device()]
    kwargs.update(_buffer_sync_option(broadcast_buffers))
    return nn.parallel.DistributedDataParallel(model, find_unused_parameters=find_unused_parameters, **kwargs)


def _buffer_sync_option(sync: bool) -> dict[str, bool]:
    """DDP's per-forward buffer sync flag under the name this torch version uses.

    Newer torch renamed ``broadcast_buffers`` to ``forward_sync_buffers`` (which still syncs once at
    construction; harmless here, every rank builds the same buffers).
    """
    params = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers": sync}
