"""--config types, batch norm and batch size, checkpoint cost, tampered checkpoints, and
resuming: continuing a finished run, refusing another run's checkpoint early."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import train as train_command
from chainrule.cli.main import main
from chainrule.io import Checkpoint
from chainrule.train import History
from chainrule.train.checkpoint import HistoryLog

pytest.importorskip("safetensors")


def data_csv(path, n=60, seed=0):
    rng = np.random.default_rng(seed)
    lines = ["a,b,colour,label"]
    for _ in range(n):
        a, b = rng.normal(size=2)
        colour = rng.choice(["red", "blue"])
        lines.append(f"{a:.4f},{b:.4f},{colour},{'x' if a + b > 0 else 'o'}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def one_error_line(capsys):
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


# ----------------------------------------------------------------- --config
CONFIG_CASES = [
    ("data = 5", "data expected a TOML string, got 5 (int)"),
    ("epochs = inf", "epochs expected a TOML integer, got inf (float)"),
    ("epochs = 1.7", "epochs expected a TOML integer, got 1.7 (float)"),
    ('epochs = "10"', 'epochs expected a TOML integer, got "10" (str)'),
    ('batchnorm = "no"', 'batchnorm expected a TOML boolean, got "no" (str)'),
    ("batchnorm = 1", "batchnorm expected a TOML boolean, got 1 (int)"),
    ("seed = true", "seed expected a TOML integer, got True (bool)"),
    ("lr = nan", "lr expected a TOML number, got nan (float)"),
    ("dropout = -inf", "dropout expected a TOML number, got -inf (float)"),
    ('hidden = [64, "32"]', "hidden expected a TOML list of integers"),
    ("hidden = [64.0]", "hidden expected a TOML list of integers"),
    ("hidden = 64", "hidden expected a TOML list of integers, got 64 (int)"),
    ("target = [1]", "target expected a TOML string, got [1] (list)"),
    ("activation = 3", "activation expected a TOML string"),
    ("early-stopping = 2.5", "early_stopping expected a TOML integer"),
    ("hiden = [3]", "unknown option 'hiden' (known: activation, arch, augment, batch_size"),
    ("epochs = ", "not a valid TOML file"),
    # the data and evaluation keys (the flags of issue 12)
    ("impute = 1", "impute expected a TOML string, got 1 (int)"),
    ('impute = "zero"', "impute expected one of median, mean, most_frequent"),
    ('na_values = "NA"', 'na_values expected a TOML list of strings, got "NA" (str)'),
    ('na-values = ["NA", 0]', "na_values expected a TOML list of strings"),
    ('drop = "colour"', 'drop expected a TOML list of strings, got "colour" (str)'),
    ("columns = [1, 2]", "columns expected a TOML list of strings, got [1, 2] (list)"),
    ("id = 3", "id expected a TOML string, got 3 (int)"),
    ("max_categories = 2.0", "max_categories expected a TOML integer, got 2.0 (float)"),
    ("max_categories = 1", "--max-categories expected a value in [2, 100000], got 1"),
    ('strict_categories = "yes"', "strict_categories expected a TOML boolean"),
    ("test_split = true", "test_split expected a TOML number, got True (bool)"),
    ("test_split = 0.95", "--test-split expected a value in [0.0, 0.9], got 0.95"),
    ("cv = 2.5", "cv expected a TOML integer, got 2.5 (float)"),
    ("cv = 1", "--cv expected a value in [2, 100], got 1"),
    ("refit = 0", "refit expected a TOML boolean, got 0 (int)"),
    ('no_refit = "true"', "no_refit expected a TOML boolean"),
    ("refit = true\nno_refit = true", "contradict each other"),
    ('format = "xlsx"', "format expected one of csv, tsv, parquet, feather, got 'xlsx'"),
    ("format = 1", "format expected a TOML string, got 1 (int)"),
    ('arch = ["mlp"]', "arch expected a TOML string"),
]


@pytest.mark.parametrize("text, fragment", CONFIG_CASES)
def test_config_values_of_the_wrong_type_are_refused(text, fragment, tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(text + "\n")
    data = data_csv(tmp_path / "d.csv", n=20)
    argv = ["train", data, "--target", "label", "--config", str(config), "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "m.safetensors")]) == 2
    assert fragment in one_error_line(capsys)
    assert not (tmp_path / "m.safetensors").exists()


def test_config_with_the_right_types_is_used(tmp_path, capsys):
    config = tmp_path / "run.toml"
    data = data_csv(tmp_path / "d.csv", n=30)
    out = tmp_path / "m.safetensors"
    config.write_text(
        f'data = "{data}"\ntarget = "label"\nhidden = [5]\nepochs = 2\n'
        f'batchnorm = false\nlr = 1\nout = "{out}"\n'
    )
    assert main(["train", "--config", str(config), "--quiet"]) == 0
    options = cr.load(out).provenance["options"]
    assert options["hidden"] == [5] and options["epochs"] == 2 and options["batchnorm"] is False
    assert options["lr"] == 1.0
    capsys.readouterr()


def test_config_data_keys_are_used_and_flags_win(tmp_path, capsys):
    data = data_csv(tmp_path / "d.csv", n=40)
    out = tmp_path / "m.safetensors"
    config = tmp_path / "run.toml"
    config.write_text(
        f'data = "{data}"\ntarget = "label"\nhidden = [4]\nepochs = 2\nout = "{out}"\n'
        'drop = ["colour"]\nimpute = "none"\nna_values = ["?"]\nrefit = false\n'
        "test_split = 0.25\nmax_categories = 5\nstrict_categories = true\n"
        'format = "csv"\n'
    )
    assert main(["train", "--config", str(config), "--quiet"]) == 0
    pipeline = cr.load(out)
    assert pipeline.feature_names == ["a", "b"]
    assert "refit" not in pipeline.provenance
    # a flag given on the command line wins over the config's key
    assert main(["train", "--config", str(config), "--quiet", "--drop", "b"]) == 0
    assert cr.load(out).feature_names == ["a", "colour"]
    capsys.readouterr()


def test_config_no_refit_false_refits(tmp_path, capsys):
    data = data_csv(tmp_path / "d.csv", n=40)
    out = tmp_path / "m.safetensors"
    config = tmp_path / "run.toml"
    config.write_text(
        f'data = "{data}"\ntarget = "label"\nhidden = [4]\nepochs = 2\nout = "{out}"\n'
        "no_refit = true\n"
    )
    assert main(["train", "--config", str(config), "--quiet"]) == 0
    assert "refit" not in cr.load(out).provenance
    config.write_text(config.read_text().replace("no_refit = true", "no_refit = false"))
    assert main(["train", "--config", str(config), "--quiet"]) == 0
    assert cr.load(out).provenance["refit"]["rows"] == 40
    capsys.readouterr()


def test_a_fifo_config_is_refused_without_blocking(tmp_path, capsys):
    fifo = tmp_path / "run.toml"
    os.mkfifo(fifo)
    assert main(["train", "d.csv", "--target", "y", "--config", str(fifo)]) == 2
    assert "is a FIFO (named pipe), not a TOML config file" in one_error_line(capsys)


# ----------------------------------------------------------- batch norm sizes
def test_batchnorm_with_batch_size_1_is_refused_up_front(tmp_path, capsys):
    data = data_csv(tmp_path / "d.csv", n=20)
    argv = ["train", data, "--target", "label", "--batchnorm", "--batch-size", "1", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "m.safetensors")]) == 2
    assert "--batchnorm needs --batch-size of at least 2" in one_error_line(capsys)


def test_batchnorm_trains_when_the_last_batch_has_one_row(tmp_path, capsys):
    # 41 rows, 20% validation: 33 training rows, batches of 32 and 1 -> one batch of 33.
    data = data_csv(tmp_path / "d.csv", n=41)
    out = tmp_path / "m.safetensors"
    argv = ["train", data, "--target", "label", "--batchnorm", "--epochs", "3", "--quiet"]
    assert main([*argv, "--out", str(out)]) == 0
    history = json.loads((tmp_path / "m.history.json").read_text())
    assert len(history["epoch"]) == 3
    assert all(np.isfinite(v) for v in history["history"]["loss"])
    assert cr.load(out).provenance["rows"]["train"] == 33
    capsys.readouterr()


# ---------------------------------------------------------- checkpoint cost
def _metadata_length(path):
    content = path.read_bytes()
    length = struct.unpack("<Q", content[:8])[0]
    return len(json.loads(content[8 : 8 + length])["__metadata__"]["chainrule"])


def test_checkpoint_work_does_not_grow_with_the_history(tmp_path, monkeypatch, capsys):
    records = []
    original = History.record
    monkeypatch.setattr(
        History, "record", lambda self, e, logs: (records.append(e), original(self, e, logs))
    )
    sizes = {}
    data = data_csv(tmp_path / "d.csv", n=20)
    for epochs in (3, 60):
        records.clear()
        checkpoint = tmp_path / f"run{epochs}.ckpt"
        argv = ["train", data, "--target", "label", "--hidden", "4", "--quiet"]
        argv += ["--epochs", str(epochs), "--checkpoint", str(checkpoint)]
        assert main([*argv, "--out", str(tmp_path / f"m{epochs}.safetensors")]) == 0
        sizes[epochs] = _metadata_length(checkpoint)
        # fit records each epoch once, the final merge once more, and the refit on all rows
        # at most once more (for the epochs chosen): linear, not quadratic.
        assert 2 * epochs <= len(records) <= 3 * epochs
    # The JSON part of a checkpoint does not grow with the epochs (57 more epochs of six
    # logged values would add thousands of characters; digits of counters and generator
    # states differ by a few).
    assert abs(sizes[60] - sizes[3]) < 50
    saved = cr.load(tmp_path / "run60.ckpt")
    assert saved.tensors["history.epoch"].tolist() == list(range(1, 61))
    assert saved.tensors["history.loss"].shape == (60,)
    capsys.readouterr()


# ------------------------------------------------------- tampered checkpoints
BASE = ["--target", "label", "--hidden", "4", "--quiet", "--early-stopping", "50"]


def _checkpoint(tmp_path, capsys, epochs=3):
    data = data_csv(tmp_path / "d.csv", n=30)
    checkpoint = tmp_path / "run.ckpt"
    argv = ["train", data, *BASE, "--epochs", str(epochs), "--checkpoint", str(checkpoint)]
    assert main([*argv, "--out", str(tmp_path / "first.safetensors")]) == 0
    capsys.readouterr()
    return data, checkpoint


def _edit_state(path, change):
    checkpoint = cr.load(path)
    change(checkpoint.state, checkpoint.tensors)
    cr.save(checkpoint, path)


def _truncate(tensors, key):
    tensors[key] = tensors[key][:-1]


TAMPERED = [
    (
        "epoch_999",
        lambda s, t: s.__setitem__("epoch", 999),
        "field 'epochs': expected an integer >= 999, got 3",
    ),
    ("epoch_negative", lambda s, t: s.__setitem__("epoch", -3), "'epoch': expected an epoch >= 1"),
    ("epoch_string", lambda s, t: s.__setitem__("epoch", "3"), "'epoch': expected an epoch"),
    ("epoch_bool", lambda s, t: s.__setitem__("epoch", True), "'epoch': expected an epoch"),
    ("epoch_2_of_3", lambda s, t: s.__setitem__("epoch", 2), "history.epoch must be 2 integers"),
    ("history_unequal", lambda s, t: _truncate(t, "history.val_loss"), "history 'val_loss' has"),
    ("history_keys_wrong", lambda s, t: s["history"].__setitem__("keys", "loss"), "history keys"),
    (
        "history_key_missing",
        lambda s, t: s["history"]["keys"].append("f1"),
        "history 'f1' is missing",
    ),
    (
        "history_not_object",
        lambda s, t: s.__setitem__("history", [1]),
        "'history': expected an object",
    ),
    (
        "history_codes",
        lambda s, t: t["history_code.loss"].__setitem__(0, 9),
        "codes must be integers 0 to 3",
    ),
    (
        "finished_string",
        lambda s, t: s.__setitem__("finished", "yes"),
        "'finished': expected true or false",
    ),
    ("stopped_epoch_wrong", lambda s, t: s.__setitem__("stopped_epoch", 1), "'stopped_epoch'"),
    (
        "rng_garbage",
        lambda s, t: s.__setitem__("rng", {"bit_generator": "X"}),
        "checkpoint state is invalid",
    ),
    ("rng_not_object", lambda s, t: s.__setitem__("rng", 5), "'rng': expected an object"),
    (
        "dropout_count",
        lambda s, t: s.__setitem__("dropout", [{}]),
        "'dropout': expected a list of 0",
    ),
    ("wait_negative", lambda s, t: s["early_stopping"].__setitem__("wait", -1), "'wait'"),
    (
        "best_epoch_future",
        lambda s, t: s["early_stopping"].__setitem__("best_epoch", 99),
        "'best_epoch'",
    ),
    (
        "best_string",
        lambda s, t: s["early_stopping"].__setitem__("best", "low"),
        "'best': expected a number",
    ),
    (
        "best_weights_missing",
        lambda s, t: [t.pop(k) for k in list(t) if k.startswith("best.")],
        "early-stopping weights",
    ),
    ("early_stopping_null", lambda s, t: s.__setitem__("early_stopping", None), "'early_stopping'"),
    (
        "fingerprint_not_object",
        lambda s, t: s.__setitem__("fingerprint", 3),
        "the checkpoint has no fingerprint",
    ),
    (
        "epochs_target_below",
        lambda s, t: s.__setitem__("epochs", 1),
        "'epochs': expected an integer >= 3",
    ),
]


@pytest.mark.parametrize("name, change, fragment", TAMPERED, ids=[c[0] for c in TAMPERED])
def test_tampered_checkpoint_fields_are_one_line_errors(name, change, fragment, tmp_path, capsys):
    data, checkpoint = _checkpoint(tmp_path, capsys)
    _edit_state(checkpoint, change)
    argv = ["train", data, *BASE, "--epochs", "5", "--resume", str(checkpoint)]
    out = tmp_path / "resumed.safetensors"
    assert main([*argv, "--out", str(out)]) == 2
    assert fragment in one_error_line(capsys)
    assert not out.exists()


# ---------------------------------------------------------------- resuming
PLAIN = ["--target", "label", "--hidden", "8", "--dropout", "0.1", "--batchnorm", "--quiet"]


def _tensors(path):
    from safetensors.numpy import load_file

    return load_file(str(path))


def _identical(first, second):
    a, b = _tensors(first), _tensors(second)
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].tobytes() == b[key].tobytes(), key


def test_a_finished_run_continues_with_more_epochs_bit_identically(tmp_path, capsys):
    # In one process both runs use the same BLAS threads, so the sums are the same.
    data = data_csv(tmp_path / "d.csv", n=50)
    full = tmp_path / "full.safetensors"
    assert main(["train", data, *PLAIN, "--epochs", "6", "--out", str(full)]) == 0
    checkpoint = tmp_path / "run.ckpt"
    short = ["train", data, *PLAIN, "--epochs", "4", "--checkpoint", str(checkpoint)]
    assert main([*short, "--out", str(tmp_path / "four.safetensors")]) == 0
    assert cr.load(checkpoint).state["finished"] is True
    more = tmp_path / "more.safetensors"
    argv = ["train", data, *PLAIN, "--epochs", "6", "--resume", str(checkpoint)]
    assert main([*argv, "--out", str(more)]) == 0
    _identical(full, more)
    assert cr.load(checkpoint).state["epoch"] == 6
    history = json.loads((tmp_path / "more.history.json").read_text())
    assert history["epoch"] == [1, 2, 3, 4, 5, 6]
    assert history == json.loads((tmp_path / "full.history.json").read_text()) | {
        "history": history["history"]
    }
    # Fewer epochs than the checkpoint has: refused, in one line.
    capsys.readouterr()
    fewer = ["train", data, *PLAIN, "--epochs", "2", "--resume", str(checkpoint)]
    assert main([*fewer, "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "already trained 6 epochs; --epochs 2 is fewer" in one_error_line(capsys)


def _stopping_run(tmp_path, capsys, epochs):
    data = data_csv(tmp_path / "d.csv", n=40, seed=3)
    checkpoint = tmp_path / "stop.ckpt"
    # lr 0: the validation loss never improves, so patience 2 stops at epoch 3.
    argv = ["train", data, "--target", "label", "--hidden", "4", "--optimizer", "sgd"]
    argv += ["--lr", "1e-30", "--early-stopping", "2", "--quiet", "--epochs", str(epochs)]
    return data, checkpoint, argv


def test_stopped_epoch_survives_a_resume_and_more_epochs_continue(tmp_path, capsys):
    _, checkpoint, argv = _stopping_run(tmp_path, capsys, 20)
    first = tmp_path / "first.safetensors"
    assert main([*argv, "--checkpoint", str(checkpoint), "--out", str(first)]) == 0
    stopped = cr.load(first).provenance["stopped_epoch"]
    assert stopped is not None and stopped < 20
    assert cr.load(checkpoint).state["stopped_epoch"] == stopped
    again = tmp_path / "again.safetensors"
    assert main([*argv, "--resume", str(checkpoint), "--out", str(again)]) == 0
    assert cr.load(again).provenance["stopped_epoch"] == stopped
    assert cr.load(again).provenance["epochs_trained"] == stopped
    _identical(first, again)
    # Asking for more epochs than the stopped run had continues it from its last epoch.
    argv[argv.index("--epochs") + 1] = "40"
    more = tmp_path / "more.safetensors"
    assert main([*argv, "--resume", str(checkpoint), "--out", str(more)]) == 0
    provenance = cr.load(more).provenance
    assert provenance["epochs_trained"] > stopped
    history = json.loads((tmp_path / "more.history.json").read_text())
    assert history["epoch"] == list(range(1, provenance["epochs_trained"] + 1))
    capsys.readouterr()


def test_another_runs_checkpoint_is_refused_before_the_csv_is_parsed(tmp_path, capsys, monkeypatch):
    data = data_csv(tmp_path / "d.csv", n=30)
    checkpoint = tmp_path / "run.ckpt"
    argv = ["train", data, "--target", "label", "--epochs", "2", "--quiet"]
    argv += ["--out", str(tmp_path / "m.safetensors")]
    assert main([*argv, "--checkpoint", str(checkpoint)]) == 0
    capsys.readouterr()

    def no_parsing(path):
        raise AssertionError("the CSV was parsed before the checkpoint was checked")

    monkeypatch.setattr(train_command, "read_table", no_parsing)
    assert main([*argv, "--resume", str(checkpoint), "--lr", "0.5"]) == 2
    assert "differs in: lr (None in the checkpoint, 0.5 now)" in one_error_line(capsys)
    changed = tmp_path / "d.csv"
    changed.write_text(changed.read_text() + "0.1,0.2,red,x\n")
    assert main([*argv, "--resume", str(checkpoint)]) == 2
    assert "differs in: the data (the file's bytes changed)" in one_error_line(capsys)
    assert main([*argv[:3], "colour", *argv[4:], "--resume", str(checkpoint)]) == 2
    assert "target ('label' in the checkpoint, 'colour' now)" in one_error_line(capsys)


def test_the_checkpoint_writer_keeps_generators_and_history_together(tmp_path, capsys):
    _, checkpoint = _checkpoint(tmp_path, capsys, epochs=2)
    saved = cr.load(checkpoint)
    assert isinstance(saved, Checkpoint)
    assert saved.state["history"]["keys"][:2] == ["loss", "accuracy"]
    assert saved.state["epochs"] == 2 and saved.state["finished"] is True
    assert not any(isinstance(v, list) and len(v) == 2 for v in saved.state["history"].values())
    assert HistoryLog.read(saved.tensors, saved.state["history"]["keys"], 2).epoch == [
        1,
        2,
    ]


def _to_legacy(state, tensors):
    """Rewrite a checkpoint's history the way earlier versions stored it: JSON lists."""
    history = HistoryLog.read(tensors, state["history"]["keys"], state["epoch"])
    for key in [k for k in tensors if k.startswith(("history.", "history_code."))]:
        del tensors[key]
    state["history"] = history.to_dict()


def test_checkpoints_with_a_json_history_still_resume(tmp_path, capsys):
    data, checkpoint = _checkpoint(tmp_path, capsys)
    _edit_state(checkpoint, _to_legacy)
    argv = ["train", data, *BASE, "--epochs", "5", "--resume", str(checkpoint)]
    assert main([*argv, "--out", str(tmp_path / "resumed.safetensors")]) == 0
    history = json.loads((tmp_path / "resumed.history.json").read_text())
    assert history["epoch"] == [1, 2, 3, 4, 5]
    capsys.readouterr()

    def unequal(state, tensors):
        _to_legacy(state, tensors)
        state["history"]["history"]["loss"].pop()

    data, checkpoint = _checkpoint(tmp_path, capsys)
    _edit_state(checkpoint, unequal)
    assert main([*argv, "--out", str(tmp_path / "again.safetensors")]) == 2
    assert "history 'loss' must list 3 values" in one_error_line(capsys)
