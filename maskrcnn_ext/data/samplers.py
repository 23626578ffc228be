"""Samplers: an infinite shuffled training stream, inference shards, and aspect-ratio batching.

Training randomness is a pure function of (seed, epoch, position), so a run resumed at a given
batch reproduces the same batches and the same per-sample augmentation seeds.
"""

from __future__ import annotations

import itertools
import logging
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

logger = logging.getLogger(__name__)

__all__ = ["TrainingSampler", "RepeatFactorTrainingSampler", "SmallObjectRepeatFactors", "InferenceSampler",
           "GroupedBatchSampler", "derive_seed"]


def _check_rank(rank: int, world_size: int) -> None:
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")


def derive_seed(*entropy: int) -> int:
    """Deterministic, well-mixed 31-bit seed from integers (e.g. a base seed and a position)."""
    return int(np.random.SeedSequence([int(e) & 0xFFFFFFFFFFFFFFFF for e in entropy]).generate_state(1)[0] >> 1)


class TrainingSampler(Sampler[int]):
    """Infinite stream of dataset indices.

    Epoch ``e`` is a permutation drawn from a ``torch.Generator`` seeded with ``seed + e`` (or the
    identity when ``shuffle=False``); rank ``r`` takes ``perm[r::world_size]``.
    """

    def __init__(self, size: int, *, shuffle: bool = True, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if size < 1:
            raise ValueError(f"TrainingSampler: dataset size must be >= 1, got {size}")
        _check_rank(rank, world_size)
        self.size = size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size

    def epoch_indices(self, epoch: int) -> list[int]:
        """Indices this rank sees in ``epoch``."""
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + epoch)
            perm = torch.randperm(self.size, generator=g)
        else:
            perm = torch.arange(self.size)
        return perm[self.rank :: self.world_size].tolist()

    def __iter__(self) -> Iterator[int]:
        for epoch in itertools.count():
            yield from self.epoch_indices(epoch)


class RepeatFactorTrainingSampler(TrainingSampler):
    """Infinite stream in which image ``i`` appears about ``repeat_factors[i]`` times per epoch.

    Epoch ``e`` repeats each index ``floor(r)`` times plus once more with probability ``r - floor(r)``,
    then shuffles; both draws use a ``torch.Generator`` seeded with ``seed + e``, so the stream is a
    pure function of the seed. Rank ``r`` takes every ``world_size``-th element.
    """

    def __init__(self, repeat_factors: Sequence[float], *, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        factors = torch.as_tensor(list(repeat_factors), dtype=torch.float64)
        if len(factors) == 0 or (factors < 0).any() or factors.sum() <= 0:
            raise ValueError("RepeatFactorTrainingSampler needs non-negative repeat factors, not all zero")
        super().__init__(len(factors), shuffle=True, seed=seed, rank=rank, world_size=world_size)
        self.repeat_factors = factors

    def epoch_indices(self, epoch: int) -> list[int]:
        g = torch.Generator()
        g.manual_seed(self.seed + epoch)
        whole = self.repeat_factors.floor()
        repeats = whole + (torch.rand(len(whole), generator=g, dtype=torch.float64) < self.repeat_factors - whole)
        indices = torch.repeat_interleave(torch.arange(len(whole)), repeats.long())
        return indices[torch.randperm(len(indices), generator=g)][self.rank :: self.world_size].tolist()


class SmallObjectRepeatFactors:
    """Repeat factors that oversample images holding small objects (Kisantal et al. 2019).

    Args:
        area_threshold: an instance smaller than this (pixels², at the training scale) is small.
        repeat_factor: how often an image with at least one small non-crowd instance is seen per
            epoch (others once).
        scale: training scale / annotation scale, to measure areas at the training scale (e.g.
            0.5 when images are halved for training).
    """

    def __init__(self, *, area_threshold: float = 32.0 ** 2, repeat_factor: float = 2.0, scale: float = 1.0) -> None:
        if repeat_factor < 1:
            raise ValueError(f"repeat_factor must be >= 1, got {repeat_factor}")
        self.area_threshold, self.repeat_factor, self.scale = area_threshold, repeat_factor, scale

    def __call__(self, records: Sequence[dict]) -> list[float]:
        """One factor per record; an annotation's area is its ``area`` or else its box's."""
        def area(a: dict) -> float:
            x0, y0, x1, y1 = a["bbox"]
            return float(a.get("area", (x1 - x0) * (y1 - y0))) * self.scale ** 2

        factors = [self.repeat_factor if any(not a.get("iscrowd", 0) and area(a) < self.area_threshold
                                             for a in r.get("annotations", [])) else 1.0 for r in records]
        logger.info("Oversampling %d of %d images with small objects %gx", sum(f > 1 for f in factors),
                    len(factors), self.repeat_factor)
        return factors


class InferenceSampler(Sampler[int]):
    """A contiguous shard of ``range(size)``; shard lengths differ by at most one across ranks."""

    def __init__(self, size: int, *, rank: int = 0, world_size: int = 1) -> None:
        _check_rank(rank, world_size)
        base, extra = divmod(size, world_size)
        self.begin = rank * base + min(rank, extra)
        self.end = self.begin + base + (1 if rank < extra else 0)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.begin, self.end))

    def __len__(self) -> int:
        return self.end - self.begin


class GroupedBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batch an infinite index stream, optionally keeping landscape and portrait images apart.

    Each yielded batch is a list of ``(index, sample_seed)``; ``sample_seed`` depends only on
    ``seed`` and the sample's position in the global stream (this rank's position ``p`` is global
    position ``p * world_size + rank``, which is what the strided samplers above hand out; rank and
    world size are the sampler's own ``rank`` / ``world_size``, 0 / 1 when it has none), so
    augmentation is reproducible on resume, and a sample gets the same seed whatever the world size
    when the epoch length is a multiple of it. With ``aspect_ratios=None`` batches are consecutive
    stream elements.
    """

    def __init__(
        self,
        sampler: Iterable[int],
        *,
        batch_size: int,
        aspect_ratios: Sequence[float] | None,
        seed: int,
        start_batch: int = 0,
    ) -> None:
        """
        Args:
            sampler: an (infinite) iterable of dataset indices.
            batch_size: indices per batch.
            aspect_ratios: ``width / height`` per dataset index, or ``None`` to disable grouping.
            seed: base of the per-sample seeds.
            start_batch: number of leading batches to skip (resume); skipping loads no data.
        """
        if batch_size < 1:
            raise ValueError(f"GroupedBatchSampler: batch_size must be >= 1, got {batch_size}")
        if start_batch < 0:
            raise ValueError(f"GroupedBatchSampler: start_batch must be >= 0, got {start_batch}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.groups = None if aspect_ratios is None else [0 if r >= 1.0 else 1 for r in aspect_ratios]
        self.seed = seed
        self.start_batch = start_batch
        # The global stream position of this rank's p-th sample is p * world_size + rank.
        self.rank = getattr(sampler, "rank", 0)
        self.world_size = getattr(sampler, "world_size", 1)

    def _position_batches(self) -> Iterator[list[tuple[int, int]]]:
        """Batches of (stream position, index), before seeds are attached."""
        buckets: list[list[tuple[int, int]]] = [[], []]
        for pos, idx in enumerate(self.sampler):
            bucket = buckets[0 if self.groups is None else self.groups[idx]]
            bucket.append((pos, idx))
            if len(bucket) == self.batch_size:
                yield list(bucket)
                bucket.clear()

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        batches = itertools.islice(self._position_batches(), self.start_batch, None)
        for batch in batches:
            yield [(idx, derive_seed(self.seed, pos * self.world_size + self.rank)) for pos, idx in batch]
