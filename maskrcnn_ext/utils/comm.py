"""Tiny helpers over ``torch.distributed`` that also work in a plain single process.

Every function degrades to the single-process answer when ``torch.distributed`` is unavailable
or not initialized, so evaluation and training code can call them unconditionally.
"""
from __future__ import annotations

from typing import Any

import torch.distributed as dist
from torch import nn

__all__ = [
    "all_gather",
    "broadcast_buffers",
    "gather",
    "get_rank",
    "get_world_size",
    "is_dist_initialized",
    "is_main_process",
    "synchronize",
]


def is_dist_initialized() -> bool:
    """Whether a default process group exists."""
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    """Number of processes in the default group; 1 when not distributed."""
    return dist.get_world_size() if is_dist_initialized() else 1


def get_rank() -> int:
    """Rank of this process in the default group; 0 when not distributed."""
    return dist.get_rank() if is_dist_initialized() else 0


def is_main_process() -> bool:
    """True on rank 0 (and always in a single process)."""
    return get_rank() == 0


def synchronize() -> None:
    """Barrier across all processes; a no-op with fewer than two processes."""
    if get_world_size() < 2:
        return
    if dist.get_backend() == dist.Backend.NCCL:
        # NCCL barriers need to know the device, otherwise they may pick a wrong one and hang.
        import torch

        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


def all_gather(obj: Any) -> list[Any]:
    """Gather a picklable object from every rank onto every rank.

    Args:
        obj: any picklable object.

    Returns:
        A list of length world size; element ``i`` is the object from rank ``i``.
    """
    world_size = get_world_size()
    if world_size == 1:
        return [obj]
    output: list[Any] = [None] * world_size
    dist.all_gather_object(output, obj)
    return output


def gather(obj: Any, dst: int = 0) -> list[Any]:
    """Gather a picklable object from every rank onto rank ``dst``.

    Args:
        obj: any picklable object.
        dst: rank that receives the objects.

    Returns:
        On ``dst``: a list of length world size, element ``i`` from rank ``i``. On other ranks: ``[]``.
    """
    world_size = get_world_size()
    if world_size == 1:
        return [obj]
    rank = get_rank()
    output: list[Any] | None = [None] * world_size if rank == dst else None
    dist.gather_object(obj, output, dst=dst)
    return output if rank == dst else []


def broadcast_buffers(module: nn.Module, src: int = 0) -> nn.Module:
    """Give every rank ``src``'s buffers (batch-norm running statistics); returns ``module``.

    DistributedDataParallel broadcasts buffers at the start of each training forward, after which
    every rank updates its own copy. Evaluating the bare module after a step would therefore test
    each rank's share of the images with statistics that no checkpoint holds (rank 0 saves).
    Every rank must call it, with the same model (buffers of the same shapes, in the same order).
    """
    if get_world_size() > 1:
        for buffer in module.buffers():
            dist.broadcast(buffer, src)
    return module
