"""``chainrule train --arch cnn``: square image columns through a small conv net."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli.main import main
from chainrule.data import load_digits
from chainrule.pipeline import Pipeline

pytest.importorskip("safetensors")


def _digits_csv(path, rows: int, columns: int = 64) -> str:
    x, y = load_digits(np.float64)
    with open(path, "w") as f:
        f.write(",".join([f"p{i}" for i in range(columns)] + ["digit"]) + "\n")
        for r, t in zip(x[:rows, :columns], y[:rows], strict=True):
            f.write(",".join(str(int(v)) for v in r) + f",{int(t)}\n")
    return str(path)


def test_cnn_trains_on_digits_and_the_saved_pipeline_predicts(tmp_path, capsys):
    data = _digits_csv(tmp_path / "digits.csv", 400)
    model = str(tmp_path / "cnn.safetensors")
    args = ["train", data, "--target", "digit", "--arch", "cnn", "--hidden", "32"]
    code = main([*args, "--epochs", "6", "--out", model, "--quiet", "--val-split", "0.1"])
    assert code == 0
    pipeline = cr.load(model)
    assert isinstance(pipeline, Pipeline)
    kinds = [type(m).__name__ for m in pipeline.model]
    assert kinds[:4] == ["Unflatten", "Conv2d", "ReLU", "MaxPool2d"]
    capsys.readouterr()
    assert main(["evaluate", model, data]) == 0
    accuracy = float(capsys.readouterr().out.split("accuracy ")[1].split(",")[0])
    assert accuracy > 0.85  # 400 training digits, 6 epochs


def test_cnn_refuses_a_non_square_number_of_columns(tmp_path, capsys):
    data = _digits_csv(tmp_path / "digits.csv", 50, columns=60)
    out = str(tmp_path / "cnn.safetensors")
    code = main(["train", data, "--target", "digit", "--arch", "cnn", "--out", out, "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "square number of numeric input columns" in err and "got 60 columns" in err
