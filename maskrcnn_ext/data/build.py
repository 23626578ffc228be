"""Build training and test data loaders from dataset names or record lists."""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import torch
from torch.utils.data import BatchSampler, Dataset

from maskrcnn_ext.data.bad_images import (
    SKIPPED_KEY,
    BadImageLoader,
    BadImageReport,
    SkippedImage,
    check_bad_image_policy,
)
from maskrcnn_ext.data.catalog import DatasetCatalog
from maskrcnn_ext.data.image_io import ImageReadError
from maskrcnn_ext.data.samplers import (
    GroupedBatchSampler,
    InferenceSampler,
    RepeatFactorTrainingSampler,
    TrainingSampler,
    derive_seed,
)
from maskrcnn_ext.utils import comm

logger = logging.getLogger(__name__)

__all__ = ["MapDataset", "build_test_loader", "build_train_loader", "get_dataset_records"]


def get_dataset_records(dataset: str | Sequence[str] | Sequence[dict]) -> list[dict]:
    """Resolve dataset names through the catalog, or pass records through.

    Args:
        dataset: a registered name, a list of names (concatenated in order), or a list of records.

    Returns:
        list of dataset records.
    """
    if isinstance(dataset, str):
        return list(DatasetCatalog.get(dataset))
    items = list(dataset)
    if not items:
        raise ValueError("dataset: got an empty list (expected dataset names or records)")
    if all(isinstance(d, str) for d in items):
        return [r for name in items for r in DatasetCatalog.get(name)]
    if all(isinstance(d, dict) for d in items):
        return items
    raise TypeError("dataset: expected a name, a list of names, or a list of record dicts, not a mix")


def _trivial_collate(batch: list[dict]) -> list[dict]:
    return batch


class MapDataset(Dataset):
    """Records + mapper as a map-style dataset.

    ``dataset[i]`` maps record ``i``; ``dataset[(i, seed)]`` maps it with that augmentation seed.

    Args:
        records, mapper: what to map and how.
        on_bad_image: ``"error"`` lets an unreadable image (:class:`ImageReadError`, which includes a
            decoded size that differs from the annotated one) raise; ``"skip"`` leaves it out, see
            ``replace_bad``. The loader counts and reports what was skipped (:mod:`.bad_images`).
        replace_bad: with ``"skip"``, map another record instead (chosen from the index alone, so the
            replacement is reproducible) and list the bad ones under ``SKIPPED_KEY`` in the sample,
            as training does; otherwise return a :class:`SkippedImage` in place of the sample, as
            evaluation does.
    """

    def __init__(self, records: list[dict], mapper: Callable[..., dict], *, on_bad_image: str = "error",
                 replace_bad: bool = True) -> None:
        check_bad_image_policy(on_bad_image)
        self.records = records
        self.mapper = mapper
        self.on_bad_image = on_bad_image
        self.replace_bad = replace_bad

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: int | tuple[int, int]) -> dict | SkippedImage:
        idx, seed = key if isinstance(key, tuple) else (key, None)
        skipped: list[SkippedImage] = []
        for attempt in range(len(self.records)):
            record = self.records[(idx + attempt * _REPLACEMENT_STRIDE) % len(self.records)]
            try:
                sample = self.mapper(record, seed=seed)
            except ImageReadError as e:
                if self.on_bad_image == "error":
                    raise
                skipped.append(SkippedImage(file_name=str(record["file_name"]), reason=str(e)))
                if not self.replace_bad:
                    return skipped[0]
                continue
            if skipped:
                sample[SKIPPED_KEY] = skipped
            return sample
        raise ImageReadError("on_bad_image='skip': every image of the dataset failed to load")


# A prime step through the records: a bad image's replacement is far from it and differs by index.
_REPLACEMENT_STRIDE = 7919


def _filter_without_instances(records: list[dict]) -> list[dict]:
    kept = [r for r in records if any(not a.get("iscrowd", 0) for a in r.get("annotations", []))]
    if len(kept) < len(records):
        removed = len(records) - len(kept)
        logger.info("Removed %d of %d images without non-crowd annotations from training", removed, len(records))
    if not kept:
        raise ValueError("training dataset has no image with a non-crowd annotation")
    return kept


def build_train_loader(
    *,
    dataset: str | Sequence[str] | Sequence[dict],
    mapper: Callable[..., dict],
    total_batch_size: int,
    num_workers: int = 0,
    seed: int = 0,
    aspect_ratio_grouping: bool = True,
    start_iter: int = 0,
    repeat_factors: Callable[[list[dict]], Sequence[float]] | None = None,
    on_bad_image: str = "error",
    max_bad_fraction: float = 0.05,
) -> BadImageLoader:
    """An infinite loader of training batches (lists of model-input dicts).

    Args:
        dataset: name(s) or records; images without non-crowd annotations are removed.
        mapper: callable ``mapper(record, seed=...)``, typically a :class:`DatasetMapper`.
        total_batch_size: images per iteration summed over all ranks.
        num_workers: DataLoader worker processes.
        seed: base seed for the index stream and the per-sample augmentation seeds.
        aspect_ratio_grouping: batch landscape and portrait images separately.
        start_iter: iteration to resume at; that many batches are skipped without loading data.
        repeat_factors: ``records -> factors`` (e.g. :class:`SmallObjectRepeatFactors`) to see
            image ``i`` about ``factors[i]`` times per epoch; None sees each once.
        on_bad_image: ``"error"`` or ``"skip"`` (a bad image is replaced by another), see
            :mod:`maskrcnn_ext.data.bad_images`.
        max_bad_fraction: with ``"skip"``, the fraction of the dataset's images (counted in files)
            that may prove bad before the run stops.

    Returns:
        a :class:`BadImageLoader` (a ``DataLoader``) whose iteration never ends; each item is a
        ``list[dict]`` of the per-rank batch size; its ``bad_images`` report lists what was skipped.
    """
    rank, world_size = comm.get_rank(), comm.get_world_size()
    if total_batch_size < 1 or total_batch_size % world_size != 0:
        raise ValueError(
            f"total_batch_size={total_batch_size} must be a positive multiple of the world size {world_size}"
        )
    records = _filter_without_instances(get_dataset_records(dataset))
    if repeat_factors is None:
        sampler = TrainingSampler(len(records), seed=seed, rank=rank, world_size=world_size)
    else:
        sampler = RepeatFactorTrainingSampler(repeat_factors(records), seed=seed, rank=rank, world_size=world_size)
    ratios = [r["width"] / r["height"] for r in records] if aspect_ratio_grouping else None
    batch_sampler = GroupedBatchSampler(
        sampler,
        batch_size=total_batch_size // world_size,
        aspect_ratios=ratios,
        seed=derive_seed(seed, 0),  # a stream of its own, apart from the index permutations
        start_batch=start_iter,
    )
    return BadImageLoader(
        MapDataset(records, mapper, on_bad_image=on_bad_image, replace_bad=True),
        batch_sampler=batch_sampler,
        num_workers=num_workers,
        collate_fn=_trivial_collate,
        persistent_workers=num_workers > 0,
        # Its own generator: starting an iterator draws a seed, which from the global RNG would put
        # a resumed run (whose RNG state was just restored) one draw away from an uninterrupted one.
        generator=torch.Generator().manual_seed(derive_seed(seed, rank)),
        bad_images=BadImageReport(on_bad_image=on_bad_image, max_bad_fraction=max_bad_fraction,
                                  num_images=len(records), purpose="training"),
    )


def build_test_loader(
    *,
    dataset: str | Sequence[str] | Sequence[dict],
    mapper: Callable[..., Any],
    num_workers: int = 0,
    batch_size: int = 1,
    on_bad_image: str = "error",
    max_bad_fraction: float = 0.05,
) -> BadImageLoader:
    """A finite loader over this rank's contiguous shard of the dataset, in order.

    Args:
        dataset: name(s) or records (all images kept).
        mapper: callable ``mapper(record, seed=None)``, typically ``DatasetMapper(is_train=False)``.
        num_workers: DataLoader worker processes.
        batch_size: images per batch (the last batch may be smaller).
        on_bad_image: ``"error"`` or ``"skip"`` (a bad image is left out of the evaluation, which
            states how many), see :mod:`maskrcnn_ext.data.bad_images`.
        max_bad_fraction: with ``"skip"``, the fraction of the dataset's images that may prove bad
            before the evaluation stops.

    Returns:
        a :class:`BadImageLoader` (a ``DataLoader``) yielding ``list[dict]`` batches; its
        ``bad_images`` report lists what was skipped.
    """
    rank, world_size = comm.get_rank(), comm.get_world_size()
    records = get_dataset_records(dataset)
    sampler = InferenceSampler(len(records), rank=rank, world_size=world_size)
    return BadImageLoader(
        MapDataset(records, mapper, on_bad_image=on_bad_image, replace_bad=False),
        batch_sampler=BatchSampler(sampler, batch_size=batch_size, drop_last=False),
        num_workers=num_workers,
        collate_fn=_trivial_collate,
        bad_images=BadImageReport(on_bad_image=on_bad_image, max_bad_fraction=max_bad_fraction,
                                  num_images=len(records), purpose="evaluation"),
    )
