"""The chainrule command end to end: in-process through main() and as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli.main import build_parser, main
from chainrule.pipeline import Pipeline

pytest.importorskip("safetensors")
SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "src")


def classification_csv(path, n=80, seed=0):
    rng = np.random.default_rng(seed)
    lines = ["age,colour,noise,label"]
    for _ in range(n):
        age = rng.uniform(10, 80)
        colour = rng.choice(["red", "blue", "green"])
        label = "yes" if age + (15 if colour == "red" else 0) > 45 else "no"
        lines.append(f"{age:.2f},{colour},{rng.normal():.3f},{label}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def regression_csv(path, n=60, seed=1):
    rng = np.random.default_rng(seed)
    lines = ["x1,x2,y"]
    for _ in range(n):
        a, b = rng.uniform(-1, 1, 2)
        lines.append(f"{a:.4f},{b:.4f},{3 * a - b + 0.05 * rng.normal():.4f}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def run_cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": SRC, "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "chainrule", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
    )


def test_train_predict_evaluate_info_in_process(tmp_path, capsys):
    data = classification_csv(tmp_path / "train.csv")
    model = str(tmp_path / "model.safetensors")
    code = main(
        [
            "train",
            data,
            "--target",
            "label",
            "--epochs",
            "15",
            "--hidden",
            "16",
            "--out",
            model,
            "--quiet",
            "--early-stopping",
            "5",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "classification, validation: accuracy" in out and "confusion matrix" in out
    from chainrule.cli.training import can_plot

    for suffix in (".safetensors", ".history.json") + ((".loss.png",) if can_plot() else ()):
        assert os.path.getsize(str(tmp_path / "model") + suffix) > 0
    history = json.loads((tmp_path / "model.history.json").read_text())
    assert len(history["epoch"]) >= 1 and "val_loss" in history["history"]

    pipe = cr.load(model)
    assert isinstance(pipe, Pipeline) and pipe.classes == ["no", "yes"]
    assert pipe.provenance["options"]["hidden"] == [16]
    assert len(pipe.provenance["data_sha256"]) == 64

    new = tmp_path / "new.csv"
    new.write_text("colour,extra,age,noise\nred,1,70,0\nblue,2,12,0\n")
    preds = tmp_path / "preds.csv"
    assert main(["predict", model, str(new), "--out", str(preds), "--proba"]) == 0
    captured = capsys.readouterr()
    assert "ignoring columns the model does not use: extra" in captured.err
    lines = preds.read_text().splitlines()
    assert lines[0] == "prediction,p(no),p(yes)" and len(lines) == 3
    assert lines[1].startswith("yes,") and lines[2].startswith("no,")

    assert main(["evaluate", model, data]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert main(["info", model]) == 0
    info = capsys.readouterr().out
    for fragment in (
        "Linear(in_features=5, out_features=16",
        "classes (2): no, yes",
        "colour: categorical, one-hot over blue, green, red",
        "data_sha256",
        "library_version",
        "final_metrics",
    ):
        assert fragment in info


def test_regression_and_config_file(tmp_path, capsys):
    data = regression_csv(tmp_path / "r.csv")
    config = tmp_path / "run.toml"
    config.write_text(
        'target = "y"\nhidden = [8]\nepochs = 30\noptimizer = "adam"\nlr = 0.01\n'
        f'out = "{tmp_path / "r.safetensors"}"\n'
    )
    assert main(["train", data, "--config", str(config), "--quiet", "--epochs", "40"]) == 0
    assert "regression, validation: r2" in capsys.readouterr().out
    pipe = cr.load(tmp_path / "r.safetensors")
    assert pipe.task == "regression" and pipe.provenance["options"]["epochs"] == 40
    assert pipe.provenance["options"]["hidden"] == [8]
    assert main(["predict", str(tmp_path / "r.safetensors"), data]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "prediction" and len(out) == 61


@pytest.mark.parametrize(
    "optimizer", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adamw"]
)
def test_every_optimizer_and_regularizer(tmp_path, optimizer, capsys):
    data = classification_csv(tmp_path / "d.csv", n=40)
    args = [
        "train",
        data,
        "--target",
        "label",
        "--epochs",
        "2",
        "--quiet",
        "--optimizer",
        optimizer,
        "--dropout",
        "0.1",
        "--batchnorm",
        "--l1",
        "1e-4",
        "--weight-decay",
        "1e-4",
        "--augment",
        "noise:0.01",
        "--activation",
        "tanh",
        "--batch-size",
        "8",
        "--out",
        str(tmp_path / "m.safetensors"),
        "--val-split",
        "0",
    ]
    assert main(args) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--hidden", "a,b"], "--hidden expected comma-separated layer sizes"),
        (["--dropout", "1.5"], "--dropout expected a value in [0.0, 0.95]"),
        (["--lr", "0"], "--lr expected a value in (0.0, 100.0]"),
        (["--augment", "wobble:3"], "--augment:"),
        (["--val-split", "0.01"], "leaves no validation or training rows"),
        (["--config", "missing.toml"], "no such config file"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, capsys, args, fragment):
    data = classification_csv(tmp_path / "d.csv", n=20)
    code = main(
        [
            "train",
            data,
            "--target",
            "label",
            "--quiet",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "m.safetensors"),
            *args,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and err.count("\n") == 1
    assert not (tmp_path / "m.safetensors").exists()


def test_config_with_unknown_key(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text("hiden = [3]\n")
    assert main(["train", "x.csv", "--target", "y", "--config", str(config)]) == 2
    assert "unknown option 'hiden'" in capsys.readouterr().err


def test_predict_errors(tmp_path, capsys):
    data = classification_csv(tmp_path / "d.csv", n=20)
    model = str(tmp_path / "m.safetensors")
    assert (
        main(["train", data, "--target", "label", "--epochs", "1", "--quiet", "--out", model]) == 0
    )
    capsys.readouterr()
    bad = tmp_path / "bad.csv"
    bad.write_text("age,label\n1,yes\n")
    out = tmp_path / "preds.csv"
    out.write_text("old predictions")
    assert main(["predict", model, str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "missing columns 'colour', 'noise' that the model was trained on" in err
    assert out.read_text() == "old predictions"
    assert main(["predict", str(bad), data]) == 2
    assert "not a model file" in capsys.readouterr().err
    plain = tmp_path / "plain.safetensors"
    cr.save(cr.nn.Sequential(cr.nn.Linear(2, 2)), plain)
    assert main(["predict", str(plain), data]) == 2
    assert "holds a Sequential, not a model trained by chainrule train" in capsys.readouterr().err
    assert main(["info", str(plain)]) == 0


def test_every_help_has_examples():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"demo", "train", "predict", "evaluate", "info", "ops"} <= set(commands)
    for name, sub in commands.items():
        assert "example" in sub.format_help(), name
    text = commands["train"].format_help()
    for flag in (
        "--task",
        "--hidden",
        "--activation",
        "--dropout",
        "--batchnorm",
        "--optimizer",
        "--lr",
        "--momentum",
        "--weight-decay",
        "--l1",
        "--batch-size",
        "--epochs",
        "--val-split",
        "--early-stopping",
        "--augment",
        "--seed",
        "--out",
        "--checkpoint",
        "--resume",
        "--config",
    ):
        assert flag in text, flag


def test_subprocess_end_to_end(tmp_path):
    data = classification_csv(tmp_path / "d.csv", n=30)
    done = run_cli(
        "train", data, "--target", "label", "--epochs", "2", "--out", "m.safetensors", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "epoch 2/2" in done.stderr
    done = run_cli("evaluate", "m.safetensors", data, cwd=tmp_path)
    assert done.returncode == 0 and "accuracy" in done.stdout
    done = run_cli("predict", "m.safetensors", "missing.csv", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "chainrule: error: missing.csv: no such file"
    done = run_cli("--debug", "predict", "m.safetensors", "missing.csv", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" in done.stderr
    done = run_cli("train", "--help")
    assert done.returncode == 0 and "examples:" in done.stdout


def test_demo(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    accuracy = float(text.split("test accuracy: ")[1].split()[0])
    assert accuracy >= 0.95
    assert "confusion matrix" in text
    assert sorted(os.listdir(out)) == [
        "model.history.json",
        "model.loss.png",
        "model.safetensors",
        "test.csv",
    ]
    assert main(["evaluate", str(out / "model.safetensors"), str(out / "test.csv")]) == 0
    assert f"accuracy {accuracy:.4f}" in capsys.readouterr().out


def test_divergence_exits_1_and_writes_no_model(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("a,b,y\n" + "".join(f"{i},{i * i % 7},{i * 3.0}\n" for i in range(30)))
    model = tmp_path / "m.safetensors"
    code = main(
        [
            "train",
            str(data),
            "--target",
            "y",
            "--optimizer",
            "sgd",
            "--lr",
            "100",
            "--epochs",
            "30",
            "--quiet",
            "--out",
            str(model),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "training diverged at epoch" in err and err.count("\n") == 1
    assert not model.exists()


def test_image_augmentation_on_tabular_data_is_a_usage_error(tmp_path, capsys):
    data = regression_csv(tmp_path / "r.csv", n=20)
    code = main(
        [
            "train",
            data,
            "--target",
            "y",
            "--augment",
            "shift:1",
            "--quiet",
            "--out",
            str(tmp_path / "m.safetensors"),
        ]
    )
    assert code == 2 and "--augment shift:1: RandomShift expected rows of 64" in (
        capsys.readouterr().err
    )


def test_explain_reads_a_trained_model(tmp_path, capsys):
    data = regression_csv(tmp_path / "r.csv", n=20)
    model = str(tmp_path / "m.safetensors")
    assert (
        main(
            [
                "train",
                data,
                "--target",
                "y",
                "--hidden",
                "3",
                "--epochs",
                "1",
                "--quiet",
                "--out",
                model,
            ]
        )
        == 0
    )
    row = tmp_path / "row.csv"
    row.write_text("x1,x2,y\n0.5,-0.25,1.75\n")
    capsys.readouterr()
    assert main(["explain", "--model", model, "--data", str(row)]) == 0
    assert "Backpropagation" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("command", "flag", "where", "fragment"),
    [
        ("train", "--out", "missing/m.safetensors", "the folder"),
        ("train", "--out", "a_folder", "is a folder; expected a file name"),
        ("train", "--checkpoint", "missing/run.ckpt", "the folder"),
        ("train", "--checkpoint", "a_folder", "is a folder; expected a file name"),
        ("predict", "--out", "missing/p.csv", "the folder"),
        ("predict", "--out", "a_folder", "is a folder; expected a file name"),
        ("predict", "--out", "m.safetensors", "would overwrite the input"),
        ("explain", "--out", "missing/e.txt", "the folder"),
        ("explain", "--out", "a_folder", "is a folder; expected a file name"),
    ],
)
def test_unwritable_outputs_are_one_line_errors(tmp_path, capsys, command, flag, where, fragment):
    data = classification_csv(tmp_path / "d.csv", n=20)
    model = str(tmp_path / "m.safetensors")
    args = ["train", data, "--target", "label", "--epochs", "1", "--quiet", "--out", model]
    assert main(args) == 0
    (tmp_path / "a_folder").mkdir()
    before = (tmp_path / "m.safetensors").read_bytes()
    capsys.readouterr()
    target = str(tmp_path / where)
    if command == "train":
        args = [*args[:-2], "--out", str(tmp_path / "new.safetensors"), flag, target]
    elif command == "predict":
        args = ["predict", model, data, flag, target]
    else:
        spec = os.path.join(os.path.dirname(SRC), "examples", "explain", "mazur_2_2_2.toml")
        args = ["explain", spec, flag, target]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("chainrule: error: ") and err.count("\n") == 1, err
    assert f"{flag} {target}" in err and fragment in err, err
    assert (tmp_path / "m.safetensors").read_bytes() == before
    assert not (tmp_path / "new.safetensors").exists()
    assert os.listdir(tmp_path / "a_folder") == []


def test_explain_reads_a_classifier_row_by_column_name(tmp_path, capsys):
    # A pipeline's row is read as `evaluate` reads it: by column name, text one-hot,
    # the label mapped to its class index (np.loadtxt used to raise on 'red').
    data = classification_csv(tmp_path / "d.csv", n=20)
    model = str(tmp_path / "m.safetensors")
    args = ["train", data, "--target", "label", "--hidden", "2", "--epochs", "1", "--quiet"]
    assert main([*args, "--out", model]) == 0
    capsys.readouterr()
    with open(data) as handle:
        header, first = handle.readline(), handle.readline()
    row = tmp_path / "row.csv"
    row.write_text(header + first)
    assert main(["explain", "--model", model, "--data", str(row)]) == 0
    assert "gradient elements agree with central differences" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("age\n3\n")
    assert main(["explain", "--model", model, "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing columns" in err, err


def test_without_matplotlib_the_wrote_line_names_only_what_was_written(
    tmp_path, capsys, monkeypatch
):
    import chainrule.cli.training as training

    monkeypatch.setattr(training, "can_plot", lambda: False)
    data = regression_csv(tmp_path / "train.csv")
    model = str(tmp_path / "model.safetensors")
    code = main(["train", data, "--target", "y", "--epochs", "2", "--out", model, "--quiet"])
    captured = capsys.readouterr()
    assert code == 0
    assert not os.path.exists(tmp_path / "model.loss.png")
    assert "no loss-curve PNG (needs matplotlib" in captured.err
    wrote = [line for line in captured.out.splitlines() if line.startswith("wrote ")]
    assert wrote == [f"wrote {model}, {tmp_path / 'model.history.json'}"]


def _semicolon_csv(path, n=60, seed=2):
    rng = np.random.default_rng(seed)
    lines = ["size;colour;label"]
    for _ in range(n):
        size = rng.uniform(0, 2000)
        colour = rng.choice(["red", "blue"])
        label = "big" if size > 1000 else "small"
        whole, cents = divmod(round(size * 100), 100)
        grouped = f"{whole:,}".replace(",", ".")  # 1.234,56: dots group thousands
        lines.append(f'"{grouped},{cents:02d}";{colour};{label}')
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_train_and_predict_a_semicolon_csv_with_decimal_commas(tmp_path, capsys):
    data = _semicolon_csv(tmp_path / "eu.csv")
    model = str(tmp_path / "m.safetensors")
    flags = ["--delimiter", ";", "--decimal", ","]
    code = main(["train", data, "--target", "label", "--epochs", "2", "--out", model, "--quiet"])
    assert code == 2
    assert "(give --delimiter ';')" in capsys.readouterr().err
    code = main(
        ["train", data, "--target", "label", "--epochs", "2", "--out", model, "--quiet", *flags]
    )
    assert code == 0
    pipeline = cr.load(model)
    assert pipeline.encoder.features[0] == {**pipeline.encoder.features[0], "kind": "numeric"}
    capsys.readouterr()
    assert main(["predict", model, data, *flags]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert rows[0] == "prediction" and len(rows) == 61
    assert set(rows[1:]) <= {"big", "small"}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--delimiter", ";;"], "--delimiter: delimiter expected one character"),
        (["--delimiter", '"'], "can separate cells"),
        (["--format", "parquet", "--delimiter", ";"], "--delimiter applies to CSV and TSV"),
        (["--format", "parquet", "--decimal", ","], "--decimal applies to CSV and TSV"),
    ],
)
def test_bad_delimiter_or_decimal_flags_are_usage_errors(tmp_path, capsys, flags, message):
    data = regression_csv(tmp_path / "d.csv")
    assert main(["train", data, "--target", "y", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chainrule: error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("command", ["train", "predict", "evaluate"])
@pytest.mark.parametrize("flags", [["--delimiter", ";"], ["--decimal", ","]])
def test_csv_flags_on_a_file_named_parquet_are_usage_errors(tmp_path, capsys, command, flags):
    data = tmp_path / "d.parquet"
    data.write_bytes(b"PAR1")
    args = ["train", str(data), "--target", "y"]
    if command != "train":
        model = str(tmp_path / "m.safetensors")
        csv = regression_csv(tmp_path / "d.csv")
        assert (
            main(["train", csv, "--target", "y", "--epochs", "1", "--out", model, "--quiet"]) == 0
        )
        capsys.readouterr()
        args = [command, model, str(data)]
    assert main([*args, *flags]) == 2
    err = capsys.readouterr().err
    assert f"{flags[0]} applies to CSV and TSV files, not to {data} (parquet)" in err
    assert err.startswith("chainrule: error: ") and err.count("\n") == 1
