"""``chainrule train`` streams data sets four times larger than a hard memory cap.

Each case runs the CLI in a subprocess under ``RLIMIT_DATA`` (``ulimit -d``: the
process's heap and private anonymous mappings, where every NumPy array and Arrow
buffer lives; allocations past it fail) on a Parquet folder or a CSV whose size in
memory (Arrow's float64 columns, which the in-memory path decodes too) and on disk are
both at least four times the cap, and checks that it trains every row, learns, writes
its model, and that its peak RSS stays under the cap. The in-memory path (no
``--stream``) on the same CSV under the same cap runs out of memory.

The cap is measured, not guessed: the same command on a small file of the same layout
gives the process's fixed cost (interpreter, NumPy, Arrow, matplotlib, thread stacks),
and the cap is that plus ``HEADROOM``, the most streaming may add whatever the data's
size (record batches, shuffle buffer, Parquet pages, CSV blocks). Why not
``RLIMIT_AS`` (``ulimit -v``): it counts shared libraries' code and address space
reserved but never touched, ~330 MiB here before any data, so the data set would have
to be ~1.7 GiB rather than ~1.1 GiB (already ~50 s of CPU for both cases); a cgroup's
``memory.max`` needs a writable cgroup v2 tree, which containers rarely give (the one
this was written in had cgroup v1). The environment pins what would make the fixed
cost depend on the machine: Arrow's allocator is the system's (mimalloc and jemalloc
reserve hundreds of MiB of address space up front, which RLIMIT_DATA counts), glibc
keeps two arenas (not 64 MiB of address space per thread), and Arrow's CPU and I/O
pools and OpenBLAS have one thread each (every thread's stack and OpenBLAS buffer
counts).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pacsv = pytest.importorskip("pyarrow.csv")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA and /proc"),
]

SRC = str(Path(__file__).resolve().parents[2] / "src")
MiB = 2**20
HEADROOM = 96 * MiB  # what streaming may add to the fixed cost (it adds about 50 MiB)
FEATURES = 32
BLOCK_ROWS = 65536  # rows generated once, then written again and again

ENV = {
    "PYTHONPATH": SRC,
    "ARROW_DEFAULT_MEMORY_POOL": "system",
    "MALLOC_ARENA_MAX": "2",
    "OMP_NUM_THREADS": "1",  # Arrow's CPU thread pool
    "ARROW_IO_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}

# `python -m chainrule ARGS...` under the cap, set by the process on itself before it
# imports anything (no preexec_fn: unsafe with threads in pytest); at exit it writes
# its /proc status (VmHWM: peak RSS, VmData: what RLIMIT_DATA counts) to a file.
RUN = textwrap.dedent(
    """
    import atexit, resource, runpy, sys
    cap, report = int(sys.argv.pop(1)), sys.argv.pop(1)
    if cap:
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))

    def status():
        with open("/proc/self/status") as lines, open(report, "w") as out:
            out.writelines(line for line in lines if line.startswith(("VmHWM", "VmData")))

    atexit.register(status)
    sys.argv[0] = "chainrule"
    runpy.run_module("chainrule", run_name="__main__", alter_sys=True)
    """
)


class Run:
    """What one capped CLI run did: exit code, output, and its memory (bytes) at exit.

    Peak RSS is the child's own VmHWM, not ``wait4``'s ``ru_maxrss``: that one starts
    from the RSS of the process that forked it (pytest's, hundreds of MiB late in the
    suite), which survives the exec."""

    def __init__(self, code: int, out: str, err: str, status: dict[str, int]) -> None:
        self.code, self.out, self.err = code, out, err
        self.peak_rss = status.get("VmHWM", 0)
        self.data = status.get("VmData", 0)


def _cli(tmp_path: Path, cap: int, *args: str, timeout: float = 300) -> Run:
    """``python -m chainrule ARGS`` under RLIMIT_DATA = ``cap`` (0: none)."""
    report, out, err = (tmp_path / f"run.{name}" for name in ("status", "out", "err"))
    report.unlink(missing_ok=True)
    command = [sys.executable, "-c", RUN, str(cap), str(report), *args]
    with open(out, "w") as stdout, open(err, "w") as stderr:
        child = subprocess.Popen(command, stdout=stdout, stderr=stderr, env={**os.environ, **ENV})
        try:
            code = child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            pytest.fail(f"chainrule {' '.join(args)} ran over {timeout} s")
    fields = {}
    if report.exists():
        for line in report.read_text().splitlines():
            name, value = line.split(":")
            fields[name] = int(value.split()[0]) * 1024  # kB
    return Run(code, out.read_text(), err.read_text(), fields)


@functools.cache
def _block():
    """BLOCK_ROWS rows: FEATURES numbers with 4 decimals (8 bytes in memory, about 7 as
    text) and a class y, a linear rule of them."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BLOCK_ROWS, FEATURES)).round(4)
    y = (x @ rng.normal(size=FEATURES) > 0).astype(np.int64)
    return pa.table({**{f"x{j}": x[:, j] for j in range(FEATURES)}, "y": y})


def _parquet(folder: Path, blocks: int) -> tuple[int, int, int]:
    """A folder of Parquet files of ``blocks`` blocks (uncompressed, two row groups a
    file); returns rows, bytes in memory and bytes on disk."""
    folder.mkdir()
    block = _block()
    per_file = 2
    for start in range(0, blocks, per_file):
        count = min(per_file, blocks - start)
        pq.write_table(
            pa.concat_tables([block] * count),
            folder / f"part{start:04d}.parquet",
            row_group_size=BLOCK_ROWS,
            compression="none",
            use_dictionary=False,  # plain: 8 bytes a number on disk too
        )
    on_disk = sum(path.stat().st_size for path in folder.iterdir())
    return blocks * BLOCK_ROWS, blocks * block.nbytes, on_disk


@functools.cache
def _csv_text() -> tuple[bytes, bytes]:
    """The header line and the rows of the block as CSV text."""
    text = pa.BufferOutputStream()
    pacsv.write_csv(_block(), text)
    header, body = text.getvalue().to_pybytes().split(b"\n", 1)
    return header + b"\n", body


def _blocks(cap: int, kind: str) -> int:
    """Blocks enough for 4x the cap in memory and on disk (as CSV text or Parquet)."""
    smallest = _block().nbytes  # a plain Parquet file is a little larger
    if kind == "csv":
        smallest = min(smallest, len(_csv_text()[1]))
    return -(-4 * cap // smallest)


def _csv(path: Path, blocks: int) -> tuple[int, int, int]:
    """A CSV of ``blocks`` blocks (the text of one, repeated); returns rows, bytes in
    memory (as Arrow's float64 columns) and bytes on disk."""
    block = _block()
    header, body = _csv_text()
    with open(path, "wb") as out:
        out.write(header)
        for _ in range(blocks):
            out.write(body)
    return blocks * BLOCK_ROWS, blocks * block.nbytes, path.stat().st_size


def _train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train", str(data), "--target", "y", "--epochs", "1", "--batch-size", "4096",
        "--hidden", "16", "--lr", "0.01", "--out", str(out), *extra,
    ]  # fmt: skip


def _cap(tmp_path: Path, kind: str) -> tuple[int, Run]:
    """The fixed cost of the command (on a small data set of the same layout) plus
    HEADROOM, rounded up to MiB; and that baseline run."""
    small = tmp_path / f"small-{kind}"
    if kind == "parquet":
        _parquet(small, 1)
        extra: tuple[str, ...] = ()
    else:
        small = small.with_suffix(".csv")
        _csv(small, 1)
        extra = ("--stream",)
    run = _cli(tmp_path, 0, *_train_args(small, tmp_path / "small.safetensors", *extra))
    assert run.code == 0, run.err
    assert run.data > 0, "no VmData in /proc/self/status"
    cap = -(-(run.data + HEADROOM) // MiB) * MiB
    if cap > 512 * MiB:
        pytest.skip(f"this platform's fixed cost is {run.data / MiB:.0f} MiB: too big a data set")
    return cap, run


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_streaming_trains_on_four_times_the_memory_cap(tmp_path, kind):
    cap, baseline = _cap(tmp_path, kind)
    blocks = _blocks(cap, kind)
    if kind == "parquet":
        data = tmp_path / "parts"
        rows, in_memory, on_disk = _parquet(data, blocks)
        extra: tuple[str, ...] = ()
    else:
        data = tmp_path / "big.csv"
        rows, in_memory, on_disk = _csv(data, blocks)
        extra = ("--stream",)
    assert in_memory >= 4 * cap and on_disk >= 4 * cap

    model = tmp_path / "model.safetensors"
    run = _cli(tmp_path, cap, *_train_args(data, model, *extra))
    figures = (
        f"{kind}: cap {cap / MiB:.0f} MiB (fixed cost {baseline.data / MiB:.0f} MiB, peak "
        f"RSS {baseline.peak_rss / MiB:.0f} MiB), data {in_memory / MiB:.0f} MiB in memory, "
        f"{on_disk / MiB:.0f} MiB on disk; peak RSS {run.peak_rss / MiB:.0f} MiB"
    )
    print(figures)
    assert run.code == 0, f"{figures}\n{run.err}"
    assert f"classification of 'y', {rows} rows, {FEATURES} inputs" in run.out
    assert model.stat().st_size > 0
    loss = json.loads(model.with_suffix(".history.json").read_text())["history"]["loss"]
    assert loss[-1] < 0.2, loss  # a linear rule, learned: the batches were the data
    assert 0 < run.peak_rss < cap, figures
    if kind == "csv":
        # The in-memory path (no --stream) on the same file under the same cap: out of
        # memory, a one-line error, no model.
        model.unlink()
        run = _cli(tmp_path, cap, *_train_args(data, model))
        assert run.code == 2, run.err
        assert run.err.startswith("chainrule: error: out of memory"), run.err
        assert not model.exists()
