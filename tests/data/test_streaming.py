"""Streaming data sets: the one-pass statistics equal the in-memory ones, batches cover
every row once per epoch (shuffled, seeded), shards partition the rows, and neither a
CSV nor a large Parquet row group is decoded ahead of the reader. (Training on data
four times a hard memory cap: tests/cli/test_stream_memory_cap.py.)"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from chainrule.data import DataError, StandardScaler, TabularEncoder, from_frame  # noqa: E402
from chainrule.data.streaming import StreamingDataset  # noqa: E402


def _table(n: int = 3000, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.normal(3.0, 2.0, n)
    a[rng.random(n) < 0.1] = np.nan
    c = np.array(["red", "green", "blue"], dtype=object)[rng.integers(0, 3, n)]
    c[rng.random(n) < 0.05] = None
    return pa.table(
        {
            "id": np.arange(n, dtype=np.int64),
            "a": a,
            "b": rng.integers(0, 50, n).astype(np.float64),
            "c": c,
            "y": np.array(["yes", "no"])[rng.integers(0, 2, n)],
        }
    )


def _folder(tmp_path: Path, table, files: int = 4, row_group: int = 200) -> Path:
    folder = tmp_path / "parts"
    folder.mkdir()
    step = -(-table.num_rows // files)
    for i in range(files):
        pq.write_table(
            table.slice(i * step, step), folder / f"part{i:02d}.parquet", row_group_size=row_group
        )
    return folder


def _rows(dataset: StreamingDataset, batch_size: int, epoch: int = 0) -> np.ndarray:
    """The 'id' column (the first feature, unscaled) of every row the batches give."""
    return np.concatenate([x[:, 0] for x, _ in dataset.batches(batch_size, epoch=epoch)])


def test_one_pass_statistics_equal_the_in_memory_encoder_and_scaler(tmp_path):
    table = _table()
    streamed = StreamingDataset(
        _folder(tmp_path, table), "y", impute="mean", drop=["id"], read_rows=128
    ).fit()
    encoder = TabularEncoder("y", impute="mean", drop=["id"]).fit(from_frame(table))
    ours, theirs = streamed.encoder.to_dict(), encoder.to_dict()
    # Mean fills are summed in another order: equal to rounding, the rest exactly.
    for mine, reference in zip(ours["features"], theirs["features"], strict=True):
        if mine["kind"] == "numeric":
            assert mine["fill"] == pytest.approx(reference["fill"], rel=1e-13)
            mine["fill"] = reference["fill"]
    assert ours == theirs
    scaler = StandardScaler().fit(encoder.transform(from_frame(table)))
    np.testing.assert_allclose(streamed.scaler.mean_, scaler.mean_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(streamed.scaler.scale_, scaler.scale_, rtol=1e-12)
    assert streamed.rows_seen == 3000
    assert streamed.encoder.output_names == [
        "a", "a:missing", "b", "c=blue", "c=green", "c=red", "c=missing"
    ]  # fmt: skip


def test_batches_cover_every_row_once_shuffled_and_seeded(tmp_path):
    folder = _folder(tmp_path, _table())
    dataset = StreamingDataset(
        folder, "y", impute="mean", scale=False, read_rows=100, shuffle_buffer=500
    ).fit()
    first = _rows(dataset, 64, epoch=0)
    np.testing.assert_array_equal(np.sort(first), np.arange(3000))
    assert not np.array_equal(first, np.arange(3000))  # shuffled
    np.testing.assert_array_equal(_rows(dataset, 64, epoch=0), first)  # seeded
    assert not np.array_equal(_rows(dataset, 64, epoch=1), first)  # a new order per epoch
    sizes = [len(x) for x, _ in dataset.batches(64)]
    assert sizes[:-1] == [64] * (len(sizes) - 1) and sizes[-1] == 3000 % 64
    assert all(len(x) == 64 for x, _ in dataset.batches(64, drop_last=True))
    in_order = np.concatenate([x[:, 0] for x, _ in dataset.batches(64, shuffle=False)])
    np.testing.assert_array_equal(in_order, np.arange(3000))  # files and rows as written


def test_ranks_read_disjoint_row_groups_that_cover_the_data(tmp_path):
    folder = _folder(tmp_path, _table())
    state = StreamingDataset(folder, "y", impute="mean", scale=False).fit().state_dict()
    seen = []
    for rank in range(3):
        part = StreamingDataset(folder, "y", impute="mean", scale=False, rank=rank, world_size=3)
        part.load_state_dict(state)
        rows = _rows(part, 50)
        assert 800 <= len(rows) <= 1200  # 16 row groups of 200 rows: 5 or 6 each
        seen.append(rows)
    np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.arange(3000))


def test_a_csv_streams_with_the_same_statistics_and_is_dealt_to_ranks(tmp_path):
    table = _table(2000)
    import pyarrow.csv as pacsv

    path = tmp_path / "big.csv"
    pacsv.write_csv(table, path)
    from_parquet = StreamingDataset(_folder(tmp_path, table), "y", impute="mean", drop=["id"]).fit()
    from_csv = StreamingDataset(path, "y", impute="mean", drop=["id"], read_rows=300).fit()
    assert from_csv.encoder.output_names == from_parquet.encoder.output_names
    np.testing.assert_allclose(from_csv.scaler.mean_, from_parquet.scaler.mean_, rtol=1e-12)
    state = StreamingDataset(path, "y", impute="mean", scale=False).fit().state_dict()
    seen = []
    for rank in range(2):
        part = StreamingDataset(path, "y", scale=False, rank=rank, world_size=2, read_rows=300)
        seen.append(_rows(part.load_state_dict(state), 32))
    np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.arange(2000))


def test_regression_target_gets_its_scaler(tmp_path):
    rng = np.random.default_rng(1)
    table = pa.table({"x": rng.normal(size=500), "y": rng.normal(10.0, 3.0, 500)})
    dataset = StreamingDataset(_folder(tmp_path, table, files=2, row_group=64), "y").fit()
    assert dataset.encoder.task == "regression"
    np.testing.assert_allclose(dataset.target_scaler.mean_, [table["y"].to_numpy().mean()])
    np.testing.assert_allclose(dataset.target_scaler.scale_, [table["y"].to_numpy().std()])
    y = np.concatenate([y for _, y in dataset.batches(100)])
    assert abs(y.mean()) < 1e-12 and y.std() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"impute": "median"}, ValueError, "one pass cannot keep every value for a median"),
        ({"read_rows": 0}, ValueError, "read_rows expected a positive int, got 0"),
        ({"rank": 2, "world_size": 2}, ValueError, r"rank expected an int in \[0, 2\), got 2"),
    ],
)
def test_bad_options_say_what_was_expected(tmp_path, options, error, message):
    folder = _folder(tmp_path, _table(100), files=1)
    with pytest.raises(error, match=message):
        StreamingDataset(folder, "y", **options)


def test_data_errors_name_the_file_and_column(tmp_path):
    folder = _folder(tmp_path, _table(300), files=1)
    with pytest.raises(DataError, match=r"column 'a' has \d+ missing cells"):
        StreamingDataset(folder, "y").fit()
    with pytest.raises(DataError, match="no column 'nope' to use as the target"):
        StreamingDataset(folder, "nope").fit()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"a folder with no \.parquet files to stream"):
        StreamingDataset(empty, "y")
    with pytest.raises(RuntimeError, match="called before fit"):
        next(StreamingDataset(folder, "y").batches(4))


@pytest.mark.parametrize(("buffer", "batch", "read"), [(100, 80, 37), (1, 1, 1), (7, 500, 64)])
def test_any_buffer_batch_and_read_sizes_give_every_row_once(tmp_path, buffer, batch, read):
    folder = _folder(tmp_path, _table(700), files=2, row_group=90)
    dataset = StreamingDataset(
        folder, "y", impute="mean", scale=False, read_rows=read, shuffle_buffer=buffer
    ).fit()
    rows = _rows(dataset, batch)
    np.testing.assert_array_equal(np.sort(rows), np.arange(700))
    sizes = [len(x) for x, _ in dataset.batches(batch)]
    assert all(size == batch for size in sizes[:-1])


@pytest.mark.parametrize(
    ("last", "message"),
    [
        ("oops,1", "column 'x' holds numbers in some record batches and text in others"),
        ("1,2,3", "Expected 2 columns, got 3"),  # Arrow's own message, one line
    ],
)
def test_a_csv_that_goes_wrong_late_is_a_data_error(tmp_path, last, message):
    lines = ["x,y"] + [f"{i},{i % 2}" for i in range(50000)] + [last]
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"late\.csv: .*" + message):
        StreamingDataset(path, "y", read_rows=1000).fit()


def _big_csv(path: Path, rows: int, features: int = 32) -> Path:
    """A CSV of ``rows`` rows (about 300 bytes each): one block of text, repeated."""
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, features)).round(6)
    columns = {f"x{j}": x[:, j] for j in range(features)}
    columns["y"] = (x.sum(axis=1) > 0).astype(np.int64)
    block = pa.BufferOutputStream()
    pacsv.write_csv(pa.table(columns), block)
    header, body = block.getvalue().to_pybytes().split(b"\n", 1)
    with open(path, "wb") as out:
        out.write(header + b"\n")
        for _ in range(rows // 1000):
            out.write(body)
    return path


def test_a_csv_is_not_decoded_ahead_of_its_reader(tmp_path):
    # Regression: pyarrow.dataset's CSV scan decoded the whole file ahead of a slower
    # consumer (batch_readahead=0 notwithstanding): a 600 MiB CSV took 900 MiB of RSS.
    path = _big_csv(tmp_path / "big.csv", 400_000)  # 120 MB of text, 106 MB decoded
    dataset = StreamingDataset(path, "y", read_rows=4096)
    before = pa.total_allocated_bytes()
    batches = dataset._record_batches(dataset._pieces())
    first = next(batches).num_rows
    assert 0 < first <= 4096
    time.sleep(1.0)  # time for a read-ahead to decode much of the file
    # Arrow reads a few dozen blocks of 1 MiB ahead (about 35 MiB)
    held = pa.total_allocated_bytes() - before
    assert held < 64 * 2**20, f"{held / 2**20:.0f} MiB decoded after one record batch"
    assert sum(b.num_rows for b in batches) == 400_000 - first


def test_a_large_parquet_row_group_is_decoded_a_batch_at_a_time(tmp_path):
    # Regression: pyarrow.dataset decoded a whole row group at once, and pyarrow writes
    # row groups of up to a million rows: one 250 MiB row group took 620 MiB of RSS.
    rng = np.random.default_rng(0)
    rows = 400_000
    columns = {f"x{j}": rng.normal(size=rows) for j in range(16)}
    columns["y"] = rng.integers(0, 2, rows)
    folder = tmp_path / "one_group"
    folder.mkdir()
    pq.write_table(  # 54 MB in one row group, pages of 256 KiB
        pa.table(columns),
        folder / "part.parquet",
        row_group_size=rows,
        data_page_size=1 << 18,
        use_dictionary=False,
    )
    dataset = StreamingDataset(folder, "y", read_rows=4096)
    before = pa.total_allocated_bytes()
    batches = dataset._record_batches(dataset._pieces())
    assert next(batches).num_rows == 4096
    held = pa.total_allocated_bytes() - before
    assert held < 24 * 2**20, f"{held / 2**20:.0f} MiB decoded for one record batch"
    assert sum(b.num_rows for b in batches) == rows - 4096


def test_parquet_files_without_the_first_files_columns_are_refused(tmp_path):
    folder = _folder(tmp_path, _table(400), files=2)
    pq.write_table(_table(100).drop_columns(["b", "c"]), folder / "part99.parquet")
    with pytest.raises(DataError, match=r"part99\.parquet: no column\(s\) b, c, which .*part00"):
        StreamingDataset(folder, "y", impute="mean").fit()


def test_a_semicolon_csv_with_decimal_commas_streams_as_read_table_reads_it(tmp_path):
    from chainrule.data import read_table

    rng = np.random.default_rng(3)
    lines = ["price;colour;y"]
    for i in range(400):
        whole, cents = divmod(int(rng.integers(0, 200_000)), 100)
        grouped = f"{whole:,}".replace(",", ".")
        lines.append(f'"{grouped},{cents:02d}";{"red" if i % 3 else "blue"};{i % 2}')
    path = tmp_path / "eu.csv"
    path.write_text("\n".join(lines) + "\n")
    streamed = StreamingDataset(
        path, "y", delimiter=";", decimal=",", read_rows=64, scale=False
    ).fit()
    assert streamed.encoder.features[0]["kind"] == "numeric"
    whole = TabularEncoder("y").fit(read_table(path, delimiter=";", decimal=","))
    assert streamed.encoder.output_names == whole.output_names
    x = np.concatenate([xb for xb, _ in streamed.batches(400, epoch=0, shuffle=False)])
    expected = whole.transform(read_table(path, delimiter=";", decimal=","))
    np.testing.assert_allclose(x, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="apply to a CSV file"):
        pq.write_table(pa.table({"a": [1.0], "y": [0]}), tmp_path / "p.parquet")
        StreamingDataset(tmp_path / "p.parquet", "y", decimal=",")
