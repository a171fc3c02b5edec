"""TensorDataset and DataLoader: every sample once per epoch, seeded shuffles, PyTorch's shapes."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import DataLoader, TensorDataset


def _data(n: int = 10):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n)
    return x, y


def _seen(loader) -> np.ndarray:
    return np.concatenate([batch[1].numpy() for batch in loader])


# -- TensorDataset ----------------------------------------------------------------------
def test_dataset_length_items_and_tuples():
    x, y = _data()
    dataset = TensorDataset(x, y)
    assert len(dataset) == 10
    xi, yi = dataset[3]
    assert isinstance(xi, cr.Tensor) and isinstance(yi, cr.Tensor)
    np.testing.assert_array_equal(xi.numpy(), x[3])
    assert yi.item() == 3
    single = TensorDataset(x)[0]
    assert isinstance(single, tuple) and len(single) == 1  # always tuples, as PyTorch


def test_dataset_accepts_tensors_and_lists_and_keeps_dtypes():
    dataset = TensorDataset(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), [0, 1])
    assert dataset.arrays[0].dtype == cr.get_default_dtype()
    assert dataset.arrays[1].dtype.kind == "i"
    assert [t.shape for t in dataset.tensors] == [(2, 2), (2,)]


def test_dataset_mismatched_lengths_name_the_shapes():
    with pytest.raises(ValueError, match=r"same first dimension.*\(10, 3\), \(9,\)"):
        TensorDataset(np.zeros((10, 3)), np.zeros(9))
    with pytest.raises(ValueError, match="at least one array"):
        TensorDataset()
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(np.zeros(3), np.float64(1.0))


# -- DataLoader -------------------------------------------------------------------------
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize(("n", "batch_size"), [(10, 3), (10, 5), (10, 1), (10, 32), (0, 4)])
def test_every_sample_exactly_once_per_epoch(shuffle, n, batch_size):
    x, y = _data(n)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=1)
    batches = list(loader)
    assert len(batches) == len(loader) == -(-n // batch_size)
    for xb, yb in batches:
        assert isinstance(xb, cr.Tensor) and not xb.requires_grad
        assert xb.shape[0] == yb.shape[0] <= batch_size
        np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])  # rows stay paired
    seen = np.concatenate([b[1].numpy() for b in batches]) if batches else np.array([], int)
    np.testing.assert_array_equal(np.sort(seen), np.arange(n))
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(n))


def test_drop_last():
    x, y = _data(10)
    loader = DataLoader(
        TensorDataset(x, y), batch_size=3, drop_last=True, shuffle=True, generator=0
    )
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert all(b[0].shape == (3, 3) for b in batches)
    assert len(np.unique(_seen(loader))) == 9
    assert len(DataLoader(TensorDataset(x, y), batch_size=11, drop_last=True)) == 0
    assert len(DataLoader(TensorDataset(x, y), batch_size=5, drop_last=True)) == 2


def test_same_seed_same_orders_and_each_epoch_a_new_order():
    x, y = _data(50)
    first = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=123)
    second = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=123)
    epochs_a = [_seen(first) for _ in range(3)]
    epochs_b = [_seen(second) for _ in range(3)]
    for a, b in zip(epochs_a, epochs_b, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(epochs_a[0], epochs_a[1])
    assert not np.array_equal(epochs_a[1], epochs_a[2])
    other = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=124)
    assert not np.array_equal(_seen(other), epochs_a[0])
    # A Generator passed in is used as is: its stream gives the permutations.
    rng_loader = DataLoader(
        TensorDataset(x, y), batch_size=50, shuffle=True, generator=np.random.default_rng(5)
    )
    np.testing.assert_array_equal(_seen(rng_loader), np.random.default_rng(5).permutation(50))


def test_batches_are_fresh_arrays():
    x, y = _data(6)
    for shuffle in (False, True):
        loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=shuffle, generator=0)
        xb, _ = next(iter(loader))
        xb.data[...] = -1
        assert (x >= 0).all()


def test_array_dataset_yields_single_tensors():
    x, _ = _data(7)
    batches = list(DataLoader(x, batch_size=4))
    assert all(isinstance(b, cr.Tensor) for b in batches)
    assert [b.shape for b in batches] == [(4, 3), (3, 3)]


def test_generic_dataset_is_collated():
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=np.float64), i

    batches = list(DataLoader(Squares(), batch_size=2))
    assert len(batches) == 3
    xb, yb = batches[1]
    np.testing.assert_array_equal(xb.numpy(), [[2, 4], [3, 9]])
    np.testing.assert_array_equal(yb.numpy(), [2, 3])


def test_transform_applies_to_inputs_and_leaves_the_order_alone():
    x, y = _data(20)

    def negate(batch, rng):
        assert isinstance(rng, np.random.Generator)
        return -batch

    plain = DataLoader(TensorDataset(x, y), batch_size=6, shuffle=True, generator=3)
    augmented = DataLoader(
        TensorDataset(x, y), batch_size=6, shuffle=True, generator=3, transform=negate
    )
    for (xa, ya), (xb, yb) in zip(plain, augmented, strict=True):
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
        np.testing.assert_array_equal(xb.numpy(), -xa.numpy())


def test_loader_argument_errors():
    dataset = TensorDataset(*_data(4))
    with pytest.raises(ValueError, match="batch_size to be a positive int, got 0"):
        DataLoader(dataset, batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(dataset, batch_size=2.5)
    with pytest.raises(TypeError, match="Generator, an int seed or None, got str"):
        DataLoader(dataset, shuffle=True, generator="seed")
    with pytest.raises(TypeError, match="__len__ and __getitem__"):
        DataLoader(42)
    with pytest.raises(TypeError, match="transform"):
        DataLoader(dataset, transform="noise")


def test_large_loader_is_fast():
    # One fancy index per batch: 100 batches of 256 x 784 should take milliseconds.
    import time

    x = np.zeros((25_600, 784), dtype=np.float32)
    y = np.zeros(25_600, dtype=np.int64)
    loader = DataLoader(TensorDataset(x, y), batch_size=256, shuffle=True, generator=0)
    start = time.perf_counter()
    count = sum(1 for _ in loader)
    assert count == 100
    assert time.perf_counter() - start < 2.0


def test_transform_randomness_is_reproducible_from_the_seed():
    from chainrule.data import GaussianNoise

    x, y = _data(20)

    def epoch(seed):
        loader = DataLoader(
            TensorDataset(x, y),
            batch_size=8,
            shuffle=True,
            generator=seed,
            transform=GaussianNoise(0.1),
        )
        return [b[0].numpy() for b in loader] + [b[0].numpy() for b in loader]

    first, second, other = epoch(9), epoch(9), epoch(10)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[0], first[3])  # the second epoch draws new noise


def test_a_transform_set_after_construction_gets_its_own_seeded_stream():
    # The stream used to be made only in __init__: a transform set later got rng=None.
    x = np.zeros((4, 2))
    seen = []

    def noise(batch, rng):
        seen.append(rng)
        return batch + rng.standard_normal(batch.shape)

    loader = DataLoader(x, batch_size=2, generator=7)
    loader.transform = noise
    first = [b.data.copy() for b in loader]
    again = DataLoader(x, batch_size=2, generator=7, transform=noise)
    assert all(isinstance(rng, np.random.Generator) for rng in seen)
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate([b.data for b in again]))
    assert np.any(np.concatenate(first) != 0)
