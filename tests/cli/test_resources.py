"""Inputs that must not exhaust memory or time: a huge network, many classes, wide
files, numbers near the float64 limits. Each either works in bounded time and memory
or ends with one line and exit code 2, never a traceback."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import chainrule.cli.training as training
from chainrule.cli.errors import UsageError
from chainrule.cli.main import main
from chainrule.cli.options import (
    MAX_PARAMETERS,
    TrainOptions,
    check_parameter_count,
    count_parameters,
)
from chainrule.data import TabularEncoder, read_csv
from chainrule.data.csv import Table
from chainrule.train import metrics as M


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("chainrule: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def _classes_csv(path, classes: int, rows_per_class: int = 1) -> None:
    rng = np.random.default_rng(0)
    lines = ["a,b,y"]
    for k in range(classes):
        for _ in range(rows_per_class):
            lines.append(f"{rng.random():.4f},{rng.random():.4f},c{k}")
    path.write_text("\n".join(lines) + "\n")


# -- the network's size ---------------------------------------------------------------
def test_parameter_count_by_hand():
    # 4-64-32-3: (4+1)·64 + (64+1)·32 + (32+1)·3 = 320 + 2080 + 99
    assert count_parameters(4, [64, 32], 3, batchnorm=False) == 2499
    assert count_parameters(4, [64, 32], 3, batchnorm=True) == 2499 + 2 * (64 + 32)
    assert count_parameters(10, [], 1, batchnorm=False) == 11


def test_parameter_limit_is_inclusive(monkeypatch):
    import chainrule.cli.options as options

    monkeypatch.setattr(options, "MAX_PARAMETERS", 2499)
    assert check_parameter_count(4, 3, TrainOptions(hidden=[64, 32])) == 2499
    with pytest.raises(UsageError, match="a 4-64-32-3 network has 2,691 parameters"):
        check_parameter_count(4, 3, TrainOptions(hidden=[64, 32], batchnorm=True))


def test_large_layers_under_the_limit_are_allowed():
    # 3-100000-60-2: 4·100000 + 100001·60 + 61·2
    assert check_parameter_count(3, 2, TrainOptions(hidden=[100_000, 60])) == 6_400_182


@pytest.mark.parametrize(
    ("hidden", "count"),
    [
        ("1000000,1000000", "1,000,007,000,002"),  # 4·10⁶ + 1000001·10⁶ + 1000001·2
        ("1000000,60", "64,000,182"),  # 4·10⁶ + 1000001·60 + 61·2
        ("9000,9000", "81,063,002"),  # 4·9000 + 9001·9000 + 9001·2
    ],
)
def test_huge_hidden_is_one_line_before_any_allocation(hidden, count, tmp_path, capsys):
    data = tmp_path / "data.csv"
    data.write_text("a,b,c,y\n" + "".join(f"{i},{i % 3},{i % 5},{i % 2}\n" for i in range(20)))
    out = tmp_path / "model.safetensors"
    started = time.perf_counter()
    code = main(["train", str(data), "--target", "y", "--hidden", hidden, "--out", str(out)])
    err = _one_line_error(capsys)
    assert code == 2
    assert f"has {count} parameters, more than the limit of {MAX_PARAMETERS:,}" in err
    assert time.perf_counter() - started < 30  # refused up front, not after allocating
    assert sorted(os.listdir(tmp_path)) == ["data.csv"]


def test_hidden_help_names_the_limit(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert f"{MAX_PARAMETERS:,}" in " ".join(capsys.readouterr().out.split())


def test_memory_error_during_training_is_one_line(tmp_path, capsys, monkeypatch):
    data = tmp_path / "data.csv"
    data.write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))

    def refuse(*args, **kwargs):
        raise MemoryError(
            "Unable to allocate 3.64 TiB for an array with shape (1000000, 1000000) and "
            "data type float32"
        )

    monkeypatch.setattr(training, "fit", refuse)
    out = tmp_path / "model.safetensors"
    code = main(["train", str(data), "--target", "y", "--epochs", "1", "--out", str(out)])
    err = _one_line_error(capsys)
    assert code == 2
    assert "out of memory: Unable to allocate 3.64 TiB" in err
    assert sorted(os.listdir(tmp_path)) == ["data.csv"]


# -- many classes ---------------------------------------------------------------------
def test_many_classes_print_the_top_confusions_not_a_matrix(tmp_path, capsys, monkeypatch):
    dense = M.confusion_matrix

    def small_only(y_true, y_pred, labels=None, normalize=None):
        assert labels is None or len(labels) <= training.MATRIX_CLASSES
        return dense(y_true, y_pred, labels=labels, normalize=normalize)

    monkeypatch.setattr(M, "confusion_matrix", small_only)
    data = tmp_path / "data.csv"
    _classes_csv(data, 300)
    out = tmp_path / "model.safetensors"
    args = ["train", str(data), "--target", "y", "--epochs", "1", "--hidden", "4", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[1] == (
        "most frequent confusions (300 classes, too many for a matrix; true → predicted: count)"
    )
    confusions = [line for line in lines if " → " in line and line.startswith("  c")]
    assert 1 <= len(confusions) <= training.TOP_CONFUSIONS
    assert len(captured.out) < 2000
    assert "has 300 classes for 300 rows" in captured.err  # the note
    assert main(["evaluate", str(out), str(data)]) == 0
    evaluated = capsys.readouterr().out
    assert "most frequent confusions (300 classes" in evaluated and len(evaluated) < 2000


def test_top_confusions_are_the_most_frequent_errors():
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, *range(3, 30)])
    p = np.array([1, 1, 0, 2, 2, 0, 1, 1, 1, *range(3, 30)])
    found = training._confusions(y, p, 30)
    # (2 → 1) ×3, then (0 → 1) and (1 → 2) ×2 (ties by true class), then (2 → 0) ×1
    assert found == {"top_confusions": [[2, 1, 3], [0, 1, 2], [1, 2, 2], [2, 0, 1]]}
    text = training.format_confusion(found, [f"k{i}" for i in range(30)])
    assert text.splitlines()[1:] == ["  k2 → k1: 3", "  k0 → k1: 2", "  k1 → k2: 2", "  k2 → k0: 1"]
    perfect = training._confusions(y, y, 30)
    assert training.format_confusion(perfect, [str(i) for i in range(30)]).endswith(
        "none: every prediction is right"
    )


def test_twenty_classes_still_print_the_matrix():
    y = np.arange(20)
    found = training._confusions(y, y, 20)
    assert np.array_equal(found["confusion_matrix"], np.eye(20, dtype=int))
    text = training.format_confusion(found, [str(i) for i in range(20)])
    assert text.startswith("confusion matrix (rows: true, columns: predicted)")


def test_per_class_metrics_are_linear_in_classes():
    # 100,000 classes: a dense confusion matrix would be 10¹⁰ counts (80 GB).
    rng = np.random.default_rng(0)
    labels = np.arange(100_000)
    y = rng.integers(0, 100_000, size=2000)
    p = np.where(rng.random(2000) < 0.5, y, rng.integers(0, 100_000, size=2000))
    f1 = M.f1_score(y, p, labels=labels, average="macro")
    # Classes present in y or p with tp > 0 have F1 = 2tp/(2tp+fp+fn); the others 0.
    right = y == p
    expected = np.zeros(100_000)
    tp = np.bincount(y[right], minlength=100_000)
    support = np.bincount(y, minlength=100_000) + np.bincount(p, minlength=100_000)
    np.divide(2 * tp, support, out=expected, where=support > 0)
    assert f1 == pytest.approx(expected.mean(), rel=1e-12)
    rows, _, counts = M.confusion_pairs(y, p, labels=labels)
    assert counts.sum() == 2000 and len(rows) <= 2000


def test_confusion_pairs_are_the_nonzero_cells_of_the_matrix():
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 7, size=300), rng.integers(0, 7, size=300)
    dense = M.confusion_matrix(y, p, labels=np.arange(7))
    rows, columns, counts = M.confusion_pairs(y, p, labels=np.arange(7))
    rebuilt = np.zeros((7, 7), dtype=np.int64)
    rebuilt[rows, columns] = counts
    assert np.array_equal(rebuilt, dense) and (counts > 0).all()


def test_probabilities_are_computed_in_bounded_chunks(monkeypatch):
    k, n = 50_000, 300  # n·k = 15 million cells: more than one chunk

    class Pipeline:
        classes = tuple(str(i) for i in range(k))
        largest = 0

        def predict_proba(self, x):
            Pipeline.largest = max(Pipeline.largest, len(x) * k)
            out = np.full((len(x), k), 0.5 / (k - 1))
            out[np.arange(len(x)), x[:, 0].astype(int)] = 0.5
            return out

    x = (np.arange(n) % k)[:, None].astype(float)
    y = np.arange(n)
    predicted, picked = training._class_probabilities(Pipeline(), x, y)
    assert np.array_equal(predicted, y) and np.allclose(picked, 0.5)
    assert 0 < Pipeline.largest <= training._CHUNK_CELLS


# -- wide files -----------------------------------------------------------------------
class CountedName(str):
    """A column name that counts its equality comparisons."""

    comparisons = 0

    def __eq__(self, other):
        CountedName.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def _counted_table(width: int) -> Table:
    names = [CountedName(f"f{j}") for j in range(width)] + [CountedName("y")]
    columns = {name: ["1", "2", "3"] for name in names}
    columns[names[-1]] = ["0", "1", "0"]
    return Table("wide.csv", names, columns, [2, 3, 4])


@pytest.mark.parametrize("width", [1000, 4000])
def test_column_checks_compare_names_a_linear_number_of_times(width):
    encoder = TabularEncoder("y").fit(_counted_table(width))
    table = _counted_table(width)  # the same names, other objects: no identity shortcut
    CountedName.comparisons = 0
    assert encoder.check_columns(table) == []
    encoder.transform(table)
    # was ~width²/2 (a list scanned for every column): 8 million at 4000 columns; now ~5 each
    assert CountedName.comparisons <= 10 * width


def test_sixty_thousand_columns_read_and_encode_in_seconds(tmp_path):
    width = 60_000
    path = tmp_path / "wide.csv"
    header = ",".join(f"f{j}" for j in range(width)) + ",y\n"
    body = "".join(",".join(["1"] * width) + f",{i % 2}\n" for i in range(4))
    path.write_text(header + body)
    started = time.perf_counter()
    table = read_csv(path)
    encoder = TabularEncoder("y").fit(table)
    assert encoder.check_columns(table) == []
    assert encoder.transform(table).shape == (4, width)
    # ~1 s here; the quadratic column check alone took 20 s at this width
    assert time.perf_counter() - started < 15


# -- numbers near the float64 limits --------------------------------------------------
@pytest.mark.parametrize("value", [1e200, 1.5e308, -1.7e308])
@pytest.mark.parametrize("where", ["feature", "target"])
def test_huge_values_train_and_evaluate(value, where, tmp_path, capsys):
    rng = np.random.default_rng(0)
    lines = ["a,b,y"]
    for _ in range(40):
        u = rng.random()
        if where == "feature":
            lines.append(f"{u * value!r},{rng.random()},{int(u > 0.5)}")
        else:
            lines.append(f"{u},{rng.random()},{u * value!r}")
    data = tmp_path / "data.csv"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "model.safetensors"
    args = ["train", str(data), "--target", "y", "--epochs", "2", "--quiet", "--out", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    trained = capsys.readouterr()
    assert "Traceback" not in trained.err and " nan" not in trained.out
    assert main(["evaluate", str(out), str(data)]) == 0
    metrics = capsys.readouterr().out.splitlines()[0]
    numbers = [float(part.split()[-1]) for part in metrics.split(": ", 1)[1].split(", ")]
    assert all(np.isfinite(numbers)), metrics
    assert main(["predict", str(out), str(data)]) == 0
    predictions = capsys.readouterr().out.splitlines()[1:]
    if where == "target":
        values = np.array([float(v) for v in predictions])
        assert np.isfinite(values).all()
        # the scale of the predictions is that of the targets
        assert 1e-3 < np.abs(values).max() / abs(value) < 1e3


def test_prediction_value_beyond_float32_is_named(tmp_path, capsys):
    data = tmp_path / "data.csv"
    data.write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    out = tmp_path / "model.safetensors"
    main(["train", str(data), "--target", "y", "--epochs", "1", "--quiet", "--out", str(out)])
    capsys.readouterr()
    far = tmp_path / "far.csv"
    far.write_text("a,y\n1,0\n-1.5e308,1\n")
    for command in (["predict", str(out), str(far)], ["evaluate", str(out), str(far)]):
        assert main(command) == 2
        err = _one_line_error(capsys)
        assert f"{far}: row 3, column 'a': the value is -2.6e+307 standard deviations" in err


def test_validation_value_beyond_float32_is_named_when_training(tmp_path, capsys):
    _, validation = training.split(20, 0.2, 0)
    far = int(validation[0])  # a validation row: the scaler never saw it
    cells = ["1e300" if i == far else str(i % 7) for i in range(20)]
    data = tmp_path / "data.csv"
    data.write_text("a,y\n" + "".join(f"{c},{i % 2}\n" for i, c in enumerate(cells)))
    out = tmp_path / "model.safetensors"
    assert main(["train", str(data), "--target", "y", "--epochs", "1", "--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert f"{data}: data row {far + 1}, column 'a': the value is " in err
    assert sorted(os.listdir(tmp_path)) == ["data.csv"]
