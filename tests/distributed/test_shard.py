"""Row shards and local batches: contiguous blocks that partition the rows in order."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.distributed import local_batch, local_weight, shard_bounds, shard_rows
from chainrule.distributed.batchnorm import sync_batch_norm_backward_sums, sync_batch_stats


@pytest.mark.parametrize(("n", "world"), [(10, 3), (0, 2), (7, 7), (3, 5), (1000, 4)])
def test_shards_partition_the_rows_in_order(n, world):
    parts = [shard_rows(n, r, world) for r in range(world)]
    np.testing.assert_array_equal(np.concatenate(parts), np.arange(n))
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)  # the first n % world ranks get one more


def test_shard_bounds_of_ten_rows_over_three_ranks():
    assert [shard_bounds(10, r, 3) for r in range(3)] == [(0, 4), (4, 7), (7, 10)]


def test_local_batches_split_a_global_batch():
    batch = np.array([9, 4, 7, 1, 0])
    assert [local_batch(batch, r, 2).tolist() for r in (0, 1)] == [[9, 4, 7], [1, 0]]
    assert local_weight(3, 5) == 0.6


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: shard_rows(10, 2, 2), r"rank expected an int in \[0, 2\), got 2"),
        (lambda: shard_rows(10, 0, 0), "world_size expected a positive int, got 0"),
        (lambda: shard_rows(-1, 0, 1), "n expected a count of rows ≥ 0, got -1"),
        (lambda: local_weight(1, 0), "global_rows expected a positive count, got 0"),
    ],
)
def test_bad_arguments_say_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_batch_norm_statistics_in_one_process_are_the_batch_ones():
    x = np.random.default_rng(0).normal(loc=5.0, size=(20, 3))
    mean, var, count = sync_batch_stats(x)
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-15)
    np.testing.assert_allclose(var, x.var(axis=0), rtol=1e-13)
    assert count == 20
    g = np.ones((20, 3))
    sum_g, sum_gx = sync_batch_norm_backward_sums(g, x)
    np.testing.assert_array_equal(sum_g, [20.0] * 3)
    np.testing.assert_allclose(sum_gx, x.sum(axis=0))
    with pytest.raises(ValueError, match=r"expected a batch of shape \(N, F\), got shape \(3,\)"):
        sync_batch_stats(np.ones(3))
