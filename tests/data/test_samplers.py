from __future__ import annotations

import itertools

import numpy as np
import pytest

from maskrcnn_ext.data.samplers import GroupedBatchSampler, InferenceSampler, TrainingSampler


def _take(iterable, n):
    return list(itertools.islice(iter(iterable), n))


def test_training_sampler_deterministic_epochs_are_permutations():
    a = _take(TrainingSampler(7, seed=3), 21)
    assert a == _take(TrainingSampler(7, seed=3), 21)
    assert a != _take(TrainingSampler(7, seed=4), 21)
    for epoch in range(3):
        assert sorted(a[7 * epoch : 7 * (epoch + 1)]) == list(range(7))
    assert a[:7] != a[7:14]  # a fresh permutation per epoch
    assert _take(TrainingSampler(4, shuffle=False), 6) == [0, 1, 2, 3, 0, 1]


def test_training_sampler_rank_shards_are_disjoint_and_cover():
    shards = [TrainingSampler(10, seed=1, rank=r, world_size=3).epoch_indices(0) for r in range(3)]
    assert [len(s) for s in shards] == [4, 3, 3]
    assert sorted(sum(shards, [])) == list(range(10))
    full = TrainingSampler(10, seed=1).epoch_indices(0)
    assert shards[1] == full[1::3]


def test_inference_sampler_contiguous_shards():
    shards = [list(InferenceSampler(10, rank=r, world_size=3)) for r in range(3)]
    assert shards == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert len(InferenceSampler(10, rank=2, world_size=3)) == 3
    with pytest.raises(ValueError, match="rank=3, world_size=3"):
        InferenceSampler(10, rank=3, world_size=3)


def test_grouped_batches_have_one_orientation():
    ratios = [1.5, 0.5, 1.0, 0.7, 2.0, 0.8, 1.2, 0.6, 1.1]  # landscape-or-square: even indices
    sampler = GroupedBatchSampler(TrainingSampler(9, seed=0), batch_size=3, aspect_ratios=ratios, seed=0)
    batches = _take(sampler, 20)
    for batch in batches:
        assert len(batch) == 3
        orientations = {ratios[i] >= 1.0 for i, _ in batch}
        assert len(orientations) == 1
    assert {ratios[i] >= 1.0 for b in batches for i, _ in b} == {True, False}


def test_ungrouped_batches_are_consecutive_stream_elements():
    stream = _take(TrainingSampler(5, seed=2), 12)
    batches = _take(GroupedBatchSampler(TrainingSampler(5, seed=2), batch_size=4, aspect_ratios=None, seed=0), 3)
    assert [[i for i, _ in b] for b in batches] == [stream[0:4], stream[4:8], stream[8:12]]
    seeds = [s for b in batches for _, s in b]
    assert len(set(seeds)) == 12  # one distinct seed per stream position


def test_two_ranks_see_the_single_process_batches_with_the_same_seeds():
    def batches(rank, world_size, batch_size):
        sampler = TrainingSampler(8, seed=3, rank=rank, world_size=world_size)
        return _take(GroupedBatchSampler(sampler, batch_size=batch_size, aspect_ratios=None, seed=7), 6)

    single = batches(0, 1, 4)
    rank0, rank1 = batches(0, 2, 2), batches(1, 2, 2)
    for step in range(6):
        # Same (index, augmentation seed) pairs per global batch: rank r holds stream positions r, r + 2.
        assert sorted(rank0[step] + rank1[step]) == sorted(single[step])
        assert rank0[step] == single[step][0::2] and rank1[step] == single[step][1::2]


def test_start_batch_resumes_same_batches_and_seeds():
    ratios = [1.5, 0.5, 1.0, 0.7, 2.0, 0.8]

    def make(start):
        return GroupedBatchSampler(
            TrainingSampler(6, seed=9), batch_size=2, aspect_ratios=ratios, seed=5, start_batch=start
        )

    full = _take(make(0), 10)
    assert _take(make(4), 6) == full[4:10]
    assert _take(make(0), 10) == full  # deterministic
    other_seed = _take(GroupedBatchSampler(TrainingSampler(6, seed=9), batch_size=2, aspect_ratios=ratios, seed=6), 10)
    assert [[i for i, _ in b] for b in other_seed] == [[i for i, _ in b] for b in full]
    assert other_seed != full  # same indices, different augmentation seeds


def test_repeat_factor_sampler_repeats_in_expectation_and_is_seeded():
    from maskrcnn_ext.data import RepeatFactorTrainingSampler

    sampler = RepeatFactorTrainingSampler([1.0, 3.0, 0.5, 0.0], seed=5)
    counts = np.zeros(4)
    for epoch in range(400):
        indices = sampler.epoch_indices(epoch)
        assert indices.count(1) == 3  # whole factors repeat exactly
        counts += np.bincount(indices, minlength=4)
    np.testing.assert_allclose(counts / 400, [1.0, 3.0, 0.5, 0.0], atol=0.08)
    assert sampler.epoch_indices(2) == RepeatFactorTrainingSampler([1.0, 3.0, 0.5, 0.0], seed=5).epoch_indices(2)


def test_repeat_factor_sampler_shards_one_epoch_across_ranks():
    from maskrcnn_ext.data import RepeatFactorTrainingSampler

    factors = [2.0, 1.0, 1.0, 3.0, 1.0]
    whole = RepeatFactorTrainingSampler(factors, seed=1).epoch_indices(0)
    shards = [RepeatFactorTrainingSampler(factors, seed=1, rank=r, world_size=2).epoch_indices(0) for r in range(2)]
    assert sorted(shards[0] + shards[1]) == sorted(whole) and shards[0] == whole[0::2]


def test_small_object_repeat_factors_measure_areas_at_training_scale():
    from maskrcnn_ext.data import SmallObjectRepeatFactors

    def rec(*areas, crowd=0):
        return {"annotations": [{"bbox": [0, 0, 1, 1], "area": a, "iscrowd": crowd} for a in areas]}

    records = [rec(500.0), rec(2000.0), rec(500.0, crowd=1), rec(), rec(3000.0, 900.0)]
    assert SmallObjectRepeatFactors(repeat_factor=3)(records) == [3, 1, 1, 1, 3]
    # at half scale 2000 px² becomes 500: small
    assert SmallObjectRepeatFactors(repeat_factor=2, scale=0.5)(records)[1] == 2
    with pytest.raises(ValueError, match="repeat_factor"):
        SmallObjectRepeatFactors(repeat_factor=0.5)
