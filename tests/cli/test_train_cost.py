"""What ``chainrule train`` does once instead of twice (issue 12: its cost against
``pandas.read_csv``): rows standardized once, straight to float32, with the same
checks and messages; metrics from those rows in large blocks; the data fingerprint
hashed in place. Each shortcut must give what the longer way gave."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import chainrule.cli.training as training
import chainrule.nn as nn
import chainrule.train.evaluation as loop
from chainrule.cli.main import main
from chainrule.data import StandardScaler, TabularEncoder
from chainrule.pipeline import Pipeline

F32_MAX = float(np.finfo(np.float32).max)


def _where(row: int, column: str) -> str:
    return f"data row {row + 1}, column {column!r}"


def _scaler(scale: float = 1.0) -> StandardScaler:
    """mean 0 for two columns; the first one's values are divided by ``scale``."""
    return StandardScaler.from_dict(
        {"with_mean": True, "with_std": True, "n_features_in": 2, "mean": [0, 0],
         "scale": [scale, 1]}
    )  # fmt: skip


@pytest.mark.parametrize("block", [3, 1 << 15])
def test_standardized_rows_are_the_scaler_output_as_float32(monkeypatch, block):
    monkeypatch.setattr(training, "_STANDARDIZE_ROWS", block)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3)) * [1, 100, 1e-3] + [5, -2, 0]
    train, val = training.split(50, 0.2, 0)
    scaler = StandardScaler().fit(x[train])
    parts = [(x[train], train), (x[val], val)]
    a, b = training.standardize_rows(scaler, parts, ["p", "q", "r"], _where)
    whole = scaler.transform(x).astype(np.float32)
    assert a.dtype == b.dtype == np.float32
    np.testing.assert_array_equal(a, whole[train])  # bit for bit: the same arithmetic
    np.testing.assert_array_equal(b, whole[val])


# (rows and the bad values in them, the parts, the message expected): the first bad
# value in the file's row order is named, whichever part it is in.
UNFIT_CASES = [
    ({7: 1e300}, [[0, 1, 7, 9], [2, 3]], "data row 8, column 'a': the value is 1e+300"),
    ({3: -1e300, 7: 1e300}, [[0, 1, 7, 9], [2, 3]], "data row 4, column 'a': the value is -1e+300"),
    ({2: 1e300, 1: 1e-300}, [[0, 1], [2, 3]], "data row 3, column 'a': the value is 1e+300"),
    ({5: 1e300}, [[5], [0]], "data row 6, column 'a': the value is 1e+300"),
    # just past float32's largest value: the cast rounds it to that value, not to inf
    ({0: F32_MAX * (1 + 2**-30)}, [[0, 1], []], "data row 1, column 'a': the value is 3.4e+38"),
    ({4: -F32_MAX * (1 + 2**-30)}, [[0, 1], [4]], "data row 5, column 'a': the value is -3.4e+38"),
]


@pytest.mark.parametrize("block", [1, 3, 1 << 15])
@pytest.mark.parametrize("bad, parts, message", UNFIT_CASES)
def test_the_first_value_beyond_float32_in_file_order_is_named(
    monkeypatch, bad, parts, message, block
):
    monkeypatch.setattr(training, "_STANDARDIZE_ROWS", block)
    x = np.zeros((10, 2))
    for row, value in bad.items():
        x[row, 0] = value
    indexes = [np.array(p, dtype=np.int64) for p in parts]
    with pytest.raises(training.DataError) as caught:
        training.standardize_rows(_scaler(), [(x[i], i) for i in indexes], ["a", "b"], _where)
    assert str(caught.value).startswith(message), caught.value
    assert "beyond the 3.4e+38 that the network's float32 inputs hold" in str(caught.value)


def test_a_value_that_overflows_float64_when_standardized_is_named():
    x = np.zeros((4, 2))
    x[2, 0] = 1e300  # / 1e-10: inf in float64 already
    with pytest.raises(training.DataError, match="data row 3, column 'a': the value is inf"):
        training.standardize_rows(_scaler(1e-10), [(x, np.arange(4))], ["a", "b"], _where)


def test_float32s_largest_value_itself_is_allowed():
    x = np.array([[F32_MAX, 0.0], [-F32_MAX, 1.0]])
    (out,) = training.standardize_rows(_scaler(), [(x, np.arange(2))], ["a", "b"], _where)
    np.testing.assert_array_equal(out[:, 0], [F32_MAX, -F32_MAX])


def _pipeline(task: str, hidden: int = 8, classes: int = 3):
    rng = np.random.default_rng(1)
    outputs = classes if task == "classification" else 1
    model = nn.Sequential(nn.Linear(4, hidden, generator=rng), nn.Tanh(),
                          nn.Linear(hidden, outputs, generator=rng))  # fmt: skip
    encoder = TabularEncoder("y", task)
    encoder.task = task
    encoder.classes = [str(k) for k in range(classes)] if task == "classification" else None
    encoder.features = [{"name": f"f{j}", "kind": "numeric"} for j in range(4)]
    x = rng.normal(size=(3000, 4)) * [1, 10, 0.1, 3]
    scaler = StandardScaler().fit(x)
    pipe = Pipeline(model.eval(), encoder, scaler, target_mean=2.0, target_scale=3.0)
    return pipe, x


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_metrics_from_standardized_rows_match_the_pipeline(monkeypatch, task):
    pipe, x = _pipeline(task)
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, size=len(x)) if task == "classification" else rng.normal(size=len(x))
    features = pipe.transform(x)
    monkeypatch.setattr(loop, "EVAL_CELLS", 8 * 700)  # blocks of 700 rows: 5 of them
    monkeypatch.setattr(loop, "MIN_BLOCK_ROWS", 1)
    assert loop.eval_block_rows(pipe.model, 4) == 700
    got = training.evaluate_features(pipe, features, y)
    assert got == training.evaluate_pipeline(pipe, x, y)
    # and the same as the Pipeline's own predictions (256-row batches) give
    if task == "classification":
        proba = pipe.predict_proba(x)
        assert got["accuracy"] == float(np.mean(proba.argmax(axis=1) == y))
        expected = -np.mean(np.log(proba[np.arange(len(y)), y]))
        assert got["cross_entropy"] == pytest.approx(expected, rel=1e-6)
        assert np.sum(got["confusion_matrix"]) == len(y)
    else:
        predicted = pipe.predict(x)
        rmse = float(np.sqrt(np.mean((predicted - y) ** 2)))
        assert got["rmse"] == pytest.approx(rmse, rel=1e-5)


@pytest.mark.parametrize(
    "layers, inputs, rows",
    [
        ([(4, 8), (8, 3)], 4, loop.EVAL_CELLS // 8),
        ([(33, 64), (64, 32), (32, 2)], 33, loop.EVAL_CELLS // 64),
        ([(10, 100_000), (100_000, 2)], 10, 256),  # never fewer than 256 rows a block
        ([(500, 20)], 500, loop.EVAL_CELLS // 500),  # the inputs are the widest
    ],
)
def test_forward_blocks_hold_a_bounded_number_of_activations(layers, inputs, rows):
    rng = np.random.default_rng(0)
    model = nn.Sequential(*[nn.Linear(i, o, generator=rng) for i, o in layers])
    assert loop.eval_block_rows(model, inputs) == rows


def test_conv_activations_count_channels_times_pixels():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 16, 3, padding=1, generator=rng))
    assert loop.eval_block_rows(model, 64) == loop.EVAL_CELLS // (16 * 64)


def test_the_data_fingerprint_is_unchanged_by_hashing_in_place():
    # Checkpoints written before must still match: the digest of the same bytes.
    encoder = TabularEncoder("y")
    encoder.task, encoder.features = "regression", [{"name": "a", "kind": "numeric"}]
    x = np.arange(12.0).reshape(6, 2)[:, ::-1]  # not contiguous: hashed in C order
    y = np.arange(6)
    old = hashlib.sha256()
    old.update(json.dumps(encoder.to_dict(), sort_keys=True).encode())
    for array in (np.ascontiguousarray(x), y):
        old.update(f"{array.dtype.str}{array.shape}".encode())
        old.update(array.tobytes())
    assert training.fingerprint_data(x, y, encoder) == old.hexdigest()


def test_training_metrics_equal_evaluate_on_the_validation_rows(tmp_path, capsys):
    # The metrics train prints come from its standardized validation rows; `evaluate`
    # on those same rows (a CSV of them) reads, encodes and standardizes them again.
    rng = np.random.default_rng(3)
    n = 300
    a, b = rng.normal(size=n), rng.normal(size=n)
    city = rng.choice(["p", "q", "r"], size=n)
    label = np.where(a + (city == "q") > 0.3, "yes", "no")
    lines = ["a,b,city,y"] + [f"{a[i]:.5f},{b[i]:.5f},{city[i]},{label[i]}" for i in range(n)]
    data = tmp_path / "d.csv"
    data.write_text("\n".join(lines) + "\n")
    model = tmp_path / "m.safetensors"
    args = ["train", str(data), "--target", "y", "--epochs", "3", "--quiet", "--no-refit"]
    assert main([*args, "--out", str(model)]) == 0
    trained = capsys.readouterr().out.splitlines()[0]
    _, val = training.split(n, 0.2, 0)
    held = tmp_path / "val.csv"
    held.write_text("\n".join([lines[0]] + [lines[i + 1] for i in val]) + "\n")
    assert main(["evaluate", str(model), str(held)]) == 0
    evaluated = capsys.readouterr().out.splitlines()[0]
    assert trained.split(": ", 1)[1] == evaluated.split(": ", 1)[1]
    assert trained.startswith("classification, validation: accuracy ")


@pytest.mark.parametrize("target, extra", [("y", ["--proba"]), ("a", [])])
def test_predict_and_evaluate_standardize_once_and_match_the_python_api(
    tmp_path, capsys, monkeypatch, target, extra
):
    import chainrule

    rng = np.random.default_rng(4)
    n = 120
    a, b = rng.normal(size=n), rng.normal(size=n)
    label = np.where(a + b > 0, "yes", "no")
    lines = ["a,b,y"] + [f"{a[i]:.5f},{b[i]:.5f},{label[i]}" for i in range(n)]
    data = tmp_path / "d.csv"
    data.write_text("\n".join(lines) + "\n")
    model = tmp_path / "m.safetensors"
    task = ["--task", "regression"] if target == "a" else []
    train = ["train", str(data), "--target", target, "--epochs", "2", "--quiet", *task]
    assert main([*train, "--out", str(model)]) == 0
    capsys.readouterr()
    calls = []
    transform = StandardScaler.transform

    def counted(self, x):
        if np.shape(x)[1] > 1:  # the features (a regression's target is one column)
            calls.append(len(x))
        return transform(self, x)

    monkeypatch.setattr(StandardScaler, "transform", counted)
    assert main(["predict", str(model), str(data), *extra]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert calls == [n]  # was 2 (3 with --proba): the check, then each prediction
    monkeypatch.setattr(StandardScaler, "transform", transform)
    pipe = chainrule.load(str(model))
    table = chainrule.data.read_table(str(data))
    expected = pipe.predict(table)
    header = rows[0].split(",")
    cells = [row.split(",") for row in rows[1:]]
    if target == "y":
        assert header == ["prediction", "p(no)", "p(yes)"]
        assert [c[0] for c in cells] == list(expected)
        proba = pipe.predict_proba(table)
        assert [[float(v) for v in c[1:]] for c in cells] == proba.tolist()
    else:
        assert header == ["prediction"]
        assert [float(c[0]) for c in cells] == expected.tolist()
    monkeypatch.setattr(StandardScaler, "transform", counted)
    calls.clear()
    assert main(["evaluate", str(model), str(data)]) == 0
    assert calls == [n]
