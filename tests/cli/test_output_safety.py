"""Never lose a user's data: every output of every command is checked up front against
every input and every other output (by the file it really is), written atomically and
together, with the umask's permissions, under unique temporaries; closed pipes and
Ctrl-C never leave half a result.

The first test is a replayable corpus: each row is a command line run in a scratch
folder holding the inputs (``d.csv``, ``m.safetensors``, ``spec.toml``, ``row.csv``,
``run.toml``), a symlink ``link`` to that folder, hard links ``hard.csv`` and
``hardspec.toml``, a symlink ``filelink.csv`` to ``d.csv``, a FIFO ``fifo``, a
character device ``device``, a folder ``a_folder`` and a read-only folder ``ro``.
A row gives the exit code, a fragment of the one-line message, and for a success the
output that must appear; every file that was there before keeps its bytes and kind.
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli.main import main
from chainrule.io import atomic
from chainrule.train import History

pytest.importorskip("safetensors")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "src")
SPEC = os.path.join(ROOT, "examples", "explain", "mazur_2_2_2.toml")
ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0

TRAIN = ["train", "d.csv", "--target", "y", "--epochs", "1", "--quiet"]
PREDICT = ["predict", "m.safetensors", "d.csv"]
EXPLAIN = ["explain", "spec.toml"]
EXPLAIN_MODEL = ["explain", "--model", "m.safetensors", "--data", "row.csv"]
DEMO = ["demo", "--epochs", "1", "--quiet", "--out"]
L248 = "a" * 236 + ".safetensors"  # fits, and so must its history, PNG and temporaries
L250 = "b" * 250  # fits, but MODEL.history.json beside it would not
L256 = "c" * 256  # longer than NAME_MAX itself
SAME = "would overwrite the input"
NO_FOLDER = "does not exist"
DOTDOT = "a '..' after a missing folder does not cancel it"
TOO_LONG = "bytes long; the folder allows at most"

# (id, command line, exit code, message fragment or the output a success writes)
CORPUS = [
    # train: the model onto the data, by every way of naming the same file
    ("train-out-is-data", [*TRAIN, "--out", "d.csv"], 2, f"--out d.csv: {SAME} DATA.csv d.csv"),
    ("train-out-dot-slash", [*TRAIN, "--out", "./d.csv"], 2, SAME),
    ("train-out-dotdot", [*TRAIN, "--out", "a_folder/../d.csv"], 2, SAME),
    ("train-out-symlinked-folder", [*TRAIN, "--out", "link/d.csv"], 2, SAME),
    ("train-out-hard-link", [*TRAIN, "--out", "hard.csv"], 2, f"{SAME} DATA.csv d.csv"),
    ("train-out-symlink-to-data", [*TRAIN, "--out", "filelink.csv"], 2, SAME),
    ("train-data-via-link", ["train", "link/d.csv", *TRAIN[2:], "--out", "d.csv"], 2, SAME),
    # train: the files written beside the model, and the checkpoint
    (
        "train-checkpoint-is-data",
        [*TRAIN, "--checkpoint", "d.csv"],
        2,
        f"--checkpoint d.csv: {SAME}",
    ),
    ("train-checkpoint-via-link", [*TRAIN, "--checkpoint", "link/hard.csv"], 2, SAME),
    ("train-resume-is-data", [*TRAIN, "--resume", "./d.csv"], 2, f"--resume ./d.csv: {SAME}"),
    (
        "train-history-lands-on-data",
        ["train", "m.history.json", *TRAIN[2:], "--out", "m"],
        2,
        f"--out (its history) m.history.json: {SAME} DATA.csv m.history.json",
    ),
    (
        "train-png-lands-on-data",
        ["train", "m.loss.png", *TRAIN[2:], "--out", "m.safetensors"],
        2,
        f"--out (its loss curve) m.loss.png: {SAME}",
    ),
    (
        "train-out-is-config",
        [*TRAIN, "--config", "run.toml", "--out", "run.toml"],
        2,
        f"{SAME} --config",
    ),
    (
        "train-history-is-config",
        [*TRAIN, "--config", "run.history.json", "--out", "run"],
        2,
        f"{SAME} --config run.history.json",
    ),
    (
        "train-checkpoint-is-out",
        [*TRAIN, "--out", "x.safetensors", "--checkpoint", "./x.safetensors"],
        2,
        "the checkpoint and the model (--out) must be different files",
    ),
    (
        "train-checkpoint-is-history",
        [*TRAIN, "--out", "x.safetensors", "--checkpoint", "x.history.json"],
        2,
        "--checkpoint x.history.json: is the same file as --out (its history)",
    ),
    (
        "train-checkpoint-is-png-via-link",
        [*TRAIN, "--out", "x.safetensors", "--checkpoint", "link/x.loss.png"],
        2,
        "is the same file as --out (its loss curve) x.loss.png",
    ),
    # train: outputs that are not regular files, or cannot be written
    (
        "train-out-device",
        [*TRAIN, "--out", "device"],
        2,
        "is a character device; expected a regular file",
    ),
    ("train-out-fifo", [*TRAIN, "--out", "fifo"], 2, "--out fifo: is a FIFO (named pipe)"),
    ("train-checkpoint-fifo", [*TRAIN, "--checkpoint", "fifo"], 2, "--checkpoint fifo: is a FIFO"),
    ("train-history-is-fifo", [*TRAIN, "--out", "fifo.history.json"], 2, "is a FIFO"),
    ("train-out-folder", [*TRAIN, "--out", "a_folder"], 2, "--out a_folder: is a folder"),
    ("train-checkpoint-folder", [*TRAIN, "--checkpoint", "a_folder/"], 2, "is a folder"),
    ("train-out-missing-folder", [*TRAIN, "--out", "missing/m.safetensors"], 2, NO_FOLDER),
    ("train-out-nowhere-dotdot", [*TRAIN, "--out", "nowhere/../m.safetensors"], 2, DOTDOT),
    ("train-checkpoint-nowhere", [*TRAIN, "--checkpoint", "nowhere/../c.ckpt"], 2, DOTDOT),
    (
        "train-out-under-a-file",
        [*TRAIN, "--out", "d.csv/m.safetensors"],
        2,
        "d.csv is not a folder",
    ),
    ("train-out-empty", [*TRAIN, "--out", ""], 2, "expected a file name"),
    ("train-out-256-chars", [*TRAIN, "--out", L256], 2, f"256 {TOO_LONG}"),
    ("train-out-250-history-too-long", [*TRAIN, "--out", L250], 2, f"263 {TOO_LONG}"),
    (
        "train-out-read-only-folder",
        [*TRAIN, "--out", "ro/m.safetensors"],
        2,
        "cannot write to the folder",
    ),
    ("train-out-248-chars-works", [*TRAIN, "--out", L248], 0, L248),
    # predict
    ("predict-out-is-data", [*PREDICT, "--out", "d.csv"], 2, f"{SAME} DATA.csv d.csv"),
    ("predict-out-is-model", [*PREDICT, "--out", "m.safetensors"], 2, f"{SAME} MODEL"),
    ("predict-out-dotdot", [*PREDICT, "--out", "./a_folder/../d.csv"], 2, SAME),
    ("predict-out-symlinked-folder", [*PREDICT, "--out", "link/d.csv"], 2, SAME),
    ("predict-out-hard-link", [*PREDICT, "--out", "hard.csv"], 2, SAME),
    ("predict-out-device", [*PREDICT, "--out", "device"], 2, "is a character device"),
    ("predict-out-fifo", [*PREDICT, "--out", "fifo"], 2, "is a FIFO (named pipe)"),
    ("predict-out-folder", [*PREDICT, "--out", "a_folder"], 2, "is a folder"),
    ("predict-out-missing-folder", [*PREDICT, "--out", "missing/p.csv"], 2, NO_FOLDER),
    ("predict-out-nowhere-dotdot", [*PREDICT, "--out", "nowhere/../p.csv"], 2, DOTDOT),
    ("predict-out-256-chars", [*PREDICT, "--out", L256], 2, f"256 {TOO_LONG}"),
    (
        "predict-out-read-only-folder",
        [*PREDICT, "--out", "ro/p.csv"],
        2,
        "cannot write to the folder",
    ),
    ("predict-out-250-chars-works", [*PREDICT, "--out", L250], 0, L250),
    # explain
    ("explain-out-is-spec", [*EXPLAIN, "--out", "spec.toml"], 2, f"{SAME} SPEC spec.toml"),
    ("explain-out-dot-slash", [*EXPLAIN, "--out", "./spec.toml"], 2, SAME),
    ("explain-out-symlinked-folder", [*EXPLAIN, "--out", "link/spec.toml"], 2, SAME),
    ("explain-out-hard-link", [*EXPLAIN, "--out", "hardspec.toml"], 2, SAME),
    ("explain-out-is-data", [*EXPLAIN_MODEL, "--out", "row.csv"], 2, f"{SAME} --data row.csv"),
    ("explain-out-is-model", [*EXPLAIN_MODEL, "--out", "link/m.safetensors"], 2, f"{SAME} --model"),
    ("explain-out-device", [*EXPLAIN, "--out", "device"], 2, "is a character device"),
    ("explain-out-fifo", [*EXPLAIN, "--out", "fifo"], 2, "is a FIFO (named pipe)"),
    ("explain-out-folder", [*EXPLAIN, "--out", "a_folder"], 2, "is a folder"),
    ("explain-out-nowhere-dotdot", [*EXPLAIN, "--out", "nowhere/../e.txt"], 2, DOTDOT),
    ("explain-out-256-chars", [*EXPLAIN, "--out", L256], 2, f"256 {TOO_LONG}"),
    (
        "explain-out-read-only-folder",
        [*EXPLAIN, "--out", "ro/e.txt"],
        2,
        "cannot write to the folder",
    ),
    ("explain-out-250-chars-works", [*EXPLAIN, "--out", L250], 0, L250),
    # demo: its folder and every file it writes there
    ("demo-out-is-a-file", [*DEMO, "d.csv"], 2, "d.csv: exists and is not a folder"),
    (
        "demo-model-is-fifo",
        [*DEMO, "dd_fifo"],
        2,
        "--out (model) dd_fifo/model.safetensors: is a FIFO",
    ),
    ("demo-test-csv-is-folder", [*DEMO, "dd_folder"], 2, "dd_folder/test.csv: is a folder"),
    (
        "demo-history-is-device",
        [*DEMO, "dd_device"],
        2,
        "model.history.json: is a character device",
    ),
    ("demo-out-nowhere-dotdot", [*DEMO, "nowhere/../dd"], 2, DOTDOT),
    ("demo-out-missing-parent", [*DEMO, "missing/dd"], 2, NO_FOLDER),
]


def data_csv(path, n=24, seed=0):
    rng = np.random.default_rng(seed)
    lines = ["a,b,y"] + [f"{rng.normal():.3f},{rng.normal():.3f},{i % 2}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    data = data_csv(folder / "d.csv")
    out = str(folder / "m.safetensors")
    assert main(["train", data, "--target", "y", "--epochs", "1", "--quiet", "--out", out]) == 0
    with open(out, "rb") as handle:
        return handle.read()


def make_device(path):
    """A character device that is safe to lose: a private copy of /dev/null as root,
    else /dev/null itself (which only root could replace)."""
    if ROOT_USER:
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
            return
        except OSError:
            pytest.skip("cannot create a device node here")
    os.symlink("/dev/null", path)


@pytest.fixture
def workspace(tmp_path, monkeypatch, model_bytes):
    data_csv(tmp_path / "d.csv")
    (tmp_path / "m.safetensors").write_bytes(model_bytes)
    shutil.copy(SPEC, tmp_path / "spec.toml")
    (tmp_path / "row.csv").write_text("a,b,y\n0.5,-0.25,1\n")
    (tmp_path / "run.toml").write_text("epochs = 1\n")
    (tmp_path / "run.history.json").write_text("epochs = 1\n")
    shutil.copy(tmp_path / "d.csv", tmp_path / "m.history.json")
    shutil.copy(tmp_path / "d.csv", tmp_path / "m.loss.png")
    os.link(tmp_path / "d.csv", tmp_path / "hard.csv")
    os.link(tmp_path / "spec.toml", tmp_path / "hardspec.toml")
    os.symlink(tmp_path, tmp_path / "link")
    os.symlink("d.csv", tmp_path / "filelink.csv")
    os.mkfifo(tmp_path / "fifo")
    os.mkfifo(tmp_path / "fifo.history.json")
    make_device(tmp_path / "device")
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "ro").mkdir()
    (tmp_path / "dd_fifo").mkdir()
    os.mkfifo(tmp_path / "dd_fifo" / "model.safetensors")
    (tmp_path / "dd_folder" / "test.csv").mkdir(parents=True)
    (tmp_path / "dd_device").mkdir()
    make_device(tmp_path / "dd_device" / "model.history.json")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(folder):
    """Every path under ``folder``: its kind, and a regular file's bytes."""
    found = {}
    for where, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(where, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                with open(path, "rb") as handle:
                    found[path] = handle.read()
            else:
                found[path] = stat.S_IFMT(mode)
    return found


@pytest.mark.parametrize(
    ("args", "code", "expected"), [r[1:] for r in CORPUS], ids=[r[0] for r in CORPUS]
)
def test_outputs_never_destroy_inputs(workspace, capsys, args, code, expected):
    if "ro/" in " ".join(args):
        if ROOT_USER:
            pytest.skip("root writes to read-only folders")
        os.chmod(workspace / "ro", 0o555)
    before = snapshot(workspace)
    assert main(args) == code
    err = capsys.readouterr().err
    after = snapshot(workspace)
    if code == 2:
        assert err.startswith("chainrule: error: ") and err.count("\n") == 1, err
        assert expected in err, err
        assert after == before
    else:
        written = str(workspace / expected)
        assert os.path.getsize(written) > 0
        assert {p: v for p, v in after.items() if p in before} == before
    assert not [p for p in after if p.endswith(".tmp")]


@pytest.mark.parametrize(
    "args", [[*TRAIN, "--out", "ro/m.safetensors"], [*PREDICT, "--out", "ro/p.csv"]]
)
def test_an_unwritable_folder_is_refused_up_front_even_as_root(
    workspace, capsys, monkeypatch, args
):
    # Root may write anywhere, so the folder's answer to os.access is simulated here; the
    # corpus rows above check a real read-only folder when not run as root.
    from chainrule.cli import errors

    real_access = os.access
    monkeypatch.setattr(
        errors.os, "access", lambda path, mode: path != "ro" and real_access(path, mode)
    )
    before = snapshot(workspace)
    assert main(args) == 2
    assert "cannot write to the folder ro" in capsys.readouterr().err
    assert snapshot(workspace) == before


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 40
    assert {r[1][0] for r in CORPUS} == {"train", "predict", "explain", "demo"}


# --- permissions -------------------------------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_are_created_with_the_umask(workspace, capsys, umask, mode):
    previous = os.umask(umask)
    try:
        args = [*TRAIN, "--out", "new.safetensors", "--checkpoint", "new.ckpt"]
        assert main(args) == 0
        assert main([*PREDICT, "--out", "p.csv"]) == 0
        assert main([*EXPLAIN, "--out", "e.txt"]) == 0
    finally:
        os.umask(previous)
    names = ["new.safetensors", "new.history.json", "new.loss.png", "new.ckpt", "p.csv", "e.txt"]
    assert {n: stat.S_IMODE(os.stat(n).st_mode) for n in names} == dict.fromkeys(names, mode)


# --- outputs land together ------------------------------------------------------------


def _old_outputs(folder):
    for name, text in (("m.safetensors", b"old model"), ("m.history.json", b"old history")):
        (folder / name).write_bytes(text)
    (folder / "m.loss.png").write_bytes(b"old curve")
    return {n: (folder / n).read_bytes() for n in ("m.safetensors", "m.history.json", "m.loss.png")}


@pytest.mark.parametrize(
    ("failure", "code", "fragment"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), 2, "No space left on device"),
        (KeyboardInterrupt(), 130, "chainrule: interrupted"),
    ],
    ids=["disk-full", "ctrl-c"],
)
def test_a_failure_while_writing_the_png_keeps_all_old_outputs(
    workspace, capsys, monkeypatch, failure, code, fragment
):
    old = _old_outputs(workspace)

    def half_a_png(self, path, **_):
        with open(path, "wb") as handle:
            handle.write(b"\x89PNG half")
        raise failure

    monkeypatch.setattr(History, "plot", half_a_png)
    assert main([*TRAIN, "--out", "m.safetensors"]) == code
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1, err
    assert {n: (workspace / n).read_bytes() for n in old} == old
    assert not [n for n in os.listdir(workspace) if ".tmp" in n]


def test_a_failed_fsync_keeps_all_old_outputs(workspace, capsys, monkeypatch):
    old = _old_outputs(workspace)

    def broken(descriptor):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(atomic.os, "fsync", broken)
    assert main([*TRAIN, "--out", "m.safetensors"]) == 2
    assert "Input/output error" in capsys.readouterr().err
    assert {n: (workspace / n).read_bytes() for n in old} == old
    assert not [n for n in os.listdir(workspace) if ".tmp" in n]


def test_a_group_lands_together_or_not_at_all(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_bytes(b"old a")
    with pytest.raises(RuntimeError), atomic.atomic_group() as group:
        group.write_bytes(first, b"new a")
        group.write_bytes(second, b"new b")
        raise RuntimeError("before the renames")
    assert first.read_bytes() == b"old a" and sorted(os.listdir(tmp_path)) == ["a"]
    with atomic.atomic_group() as group:
        group.write_bytes(first, b"new a")
        with open(group.path(second, ".png"), "wb") as handle:
            handle.write(b"new b")
    assert (first.read_bytes(), second.read_bytes()) == (b"new a", b"new b")
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


# --- temporary names ---------------------------------------------------------------------


def dead_pid():
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    return int(done.stdout)


def test_stale_temporaries_of_dead_runs_are_swept_and_live_ones_kept(workspace, capsys):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        check_sweep(workspace, dead_pid(), os.getpid(), sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()


def check_sweep(workspace, dead, live, other):
    names = {
        "dead": [
            f".m.safetensors.{dead}.0123abcd.tmp",
            f".m.loss.png.{dead}.0123abcd.tmp.png",
            f".m.history.json.{dead}.89abcdef.tmp",
            f".c.ckpt.{dead}.00000000.tmp",
            f"..m.safetensors.{dead}.0123abcd.tmp.{dead}.456789ab.tmp",  # save() into a temp
        ],
        "live": [
            f".m.safetensors.{live}.0123abcd.tmp",
            f".c.ckpt.{live}.0123abcd.tmp",
            f".m.loss.png.{other}.0123abcd.tmp.png",
            f".m.safetensors.{other}.fedcba98.tmp",
        ],
        "other": [".m.safetensors.notapid.tmp", "m.safetensors.1.0123abcd.tmp"],
    }
    for group in names.values():
        for name in group:
            (workspace / name).write_bytes(b"partial")
    assert main([*TRAIN, "--out", "m.safetensors", "--checkpoint", "c.ckpt"]) == 0
    present = set(os.listdir(workspace))
    assert not present & set(names["dead"])
    assert set(names["live"] + names["other"]) <= present


def test_a_second_run_while_the_first_writes_its_png_both_succeed(workspace, capsys, monkeypatch):
    """Two runs to one --out, interleaved deterministically: a whole second run (its
    sweep, its temporaries, its renames) happens while the first is writing its PNG."""
    original = History.plot
    nested: list[int] = []

    def plot_and_run_another(self, path, **kwargs):
        original(self, path, **kwargs)
        if not nested:
            nested.append(-1)  # the second run's own plot must not start a third
            nested[0] = main([*TRAIN, "--seed", "1", "--out", "shared.safetensors"])
        return path

    monkeypatch.setattr(History, "plot", plot_and_run_another)
    assert main([*TRAIN, "--out", "shared.safetensors"]) == 0
    assert nested == [0]
    # The first run renamed last: its provenance (seed 0) is what landed, whole.
    assert cr.load(workspace / "shared.safetensors").provenance["options"]["seed"] == 0
    assert not [n for n in os.listdir(workspace) if ".tmp" in n]


@pytest.mark.parametrize("length", [1, 100, 222, 223, 240, 255])
def test_temporary_names_fit_name_max_and_are_unique(tmp_path, length):
    target = tmp_path / ("n" * length)
    prefix = os.path.basename(atomic.temporary_prefix(target))
    assert prefix.startswith(".")
    assert len(prefix) + len("4294967295.01234567.tmp.png") <= 255
    if length <= 222:
        assert prefix == "." + "n" * length + "."
    with atomic.atomic_group() as group:
        first, second = group.path(target), group.path(target)
        assert first != second and str(os.getpid()) in first
        group.write_bytes(target, b"last wins")
    assert target.read_bytes() == b"last wins"
    assert os.listdir(tmp_path) == [target.name]


# --- subprocesses: concurrency, closed pipes, Ctrl-C ------------------------------------


def cli(*args):
    """The command line in a fresh interpreter with Python's usual Ctrl-C handling (a
    test runner in the background may have started with SIGINT ignored)."""
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from chainrule.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    return [sys.executable, "-c", code, *args]


ENV = {**os.environ, "PYTHONPATH": SRC, "OPENBLAS_NUM_THREADS": "1"}


def test_two_concurrent_runs_to_one_out_both_succeed(workspace):
    args = cli(*TRAIN[:4], "--epochs", "3", "--out", "shared.safetensors", "--quiet")
    runs = [subprocess.Popen(args, env=ENV, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(run.wait(timeout=120), run.stderr.read()) for run in runs]
    for run in runs:
        run.stderr.close()
    assert [code for code, _ in results] == [0, 0], results
    assert cr.load(workspace / "shared.safetensors").task == "classification"
    assert not [n for n in os.listdir(workspace) if ".tmp" in n]


@pytest.mark.parametrize(
    ("args", "written"),
    [
        ([*TRAIN[:6], "--out", "piped.safetensors"], "piped.loss.png"),
        ([*PREDICT, "--proba"], None),
        ([*EXPLAIN, "--out", "e.txt"], "e.txt"),
        (EXPLAIN, None),
    ],
    ids=["train", "predict-to-stdout", "explain-to-file", "explain-to-stdout"],
)
def test_a_reader_that_went_away_does_not_stop_the_run(workspace, args, written):
    # The read end is closed before the child writes anything: every write to stdout
    # and stderr (progress, metrics, predictions) fails with EPIPE.
    process = subprocess.Popen(
        cli(*args), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    process.stdout.close()
    assert process.wait(timeout=120) == 0
    if written:
        assert (workspace / written).stat().st_size > 0


def test_train_piped_to_head_writes_the_model_and_exits_0(workspace):
    line = " ".join(
        shlex.quote(a) for a in cli(*TRAIN[:6], "--epochs", "5", "--out", "h.safetensors")
    )
    shell = f"{line} 2>&1 | head -1; exit ${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", shell], env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and "Broken pipe" not in done.stdout + done.stderr
    assert cr.load(workspace / "h.safetensors").task == "classification"


def test_ctrl_c_during_training_leaves_no_temporaries_and_no_half_outputs(workspace):
    (workspace / "ctrl.safetensors").write_bytes(b"old model")
    args = cli(
        *TRAIN[:4], "--epochs", "100000", "--out", "ctrl.safetensors", "--checkpoint", "c.ckpt"
    )
    process = subprocess.Popen(args, env=ENV, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line or line.startswith("epoch 3/"):
            break
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=60) == 130
    lines = [n for n in rest.splitlines() if not n.startswith("epoch ")]
    assert lines == ["chainrule: interrupted"], rest
    assert (workspace / "ctrl.safetensors").read_bytes() == b"old model"
    assert not (workspace / "ctrl.history.json").exists()
    assert not (workspace / "ctrl.loss.png").exists()
    assert not [n for n in os.listdir(workspace) if ".tmp" in n]
    assert cr.load(workspace / "c.ckpt").state["epoch"] >= 2
