"""The shipped examples: tutorial numbers, committed outputs, and the CLI."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from chainrule.cli.main import main
from chainrule.explain.spec import explain_spec

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "explain"
SPECS = sorted(EXAMPLES.glob("*.toml"))


def test_mazur_numbers_digit_for_digit():
    e = explain_spec(EXAMPLES / "mazur_2_2_2.toml")
    q = e.quantities
    assert q["E"] == pytest.approx(0.298371109, abs=1e-9)
    assert q["∂E/∂w5"] == pytest.approx(0.082167041, abs=1e-9)
    assert q["w5⁺"] == pytest.approx(0.35891648, abs=1e-8)
    assert q["∂E/∂w1"] == pytest.approx(0.000438568, abs=1e-9)
    assert q["w1⁺"] == pytest.approx(0.149780716, abs=1e-9)
    text = e.to_text()
    for shown in (
        "E = ½ Σ (target − out)² = 0.298371109",
        "out_h1 = σ(net_h1)",
        "∂E/∂out_h1 = ∂E_o1/∂out_h1 + ∂E_o2/∂out_h1",
        "w5⁺ = w5 − η · ∂E/∂w5",
    ):
        assert shown in text
    assert "✗" not in text
    assert e.all_checks_pass


def test_sigmoid_chain_notes_and_numbers():
    e = explain_spec(EXAMPLES / "sigmoid_chain_bce.toml")
    assert e.quantities["∂E/∂w2"] == pytest.approx(-0.2631849055, abs=1e-9)
    assert e.quantities["∂E/∂w1"] == pytest.approx(-0.0496815026, abs=1e-9)
    text = e.to_text()
    assert "σ(z)(1 − σ(z))" in text and "z(1 − z)" in text
    assert "−y/ŷ + (1 − y)/(1 − ŷ)" in text


def test_tanh_and_chain_numbers():
    e = explain_spec(EXAMPLES / "tanh_2_2_1.toml")
    assert e.quantities["E"] == pytest.approx(0.2368966232, abs=1e-9)
    assert e.gradients["2.weight"][0, 0] == pytest.approx(-0.5135724755, abs=1e-9)
    assert e.losses[0] > 0.1477971336 - 1e-9
    abcd = explain_spec(EXAMPLES / "linear_chain_abcd.toml")
    assert abcd.quantities["∂E/∂A"] == pytest.approx(-3548 / 3, rel=1e-12)
    assert abcd.quantities["A⁺"] == pytest.approx(1.11826667, rel=1e-6)
    az = explain_spec(EXAMPLES / "linear_chain_a_to_z.toml")
    assert az.quantities["∂E/∂Z"] == pytest.approx(-3548 / 3, rel=1e-12)
    assert "reuses the δ of layer" in az.to_text()


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_committed_outputs_are_current(spec):
    e = explain_spec(spec)
    assert spec.with_suffix(".txt").read_text(encoding="utf-8") == e.to_text()
    assert spec.with_suffix(".md").read_text(encoding="utf-8") == e.to_markdown()
    assert e.all_checks_pass


def test_relu_example_is_in_matrix_form():
    e = explain_spec(EXAMPLES / "relu_softmax_ce.toml")
    assert e.form == "matrix"
    assert "(W³)ᵀ δ³" in e.to_text()


def test_cli_explain_formats(tmp_path, capsys):
    spec = str(EXAMPLES / "mazur_2_2_2.toml")
    assert main(["explain", spec]) == 0
    assert "0.298371109" in capsys.readouterr().out
    for form in ("markdown", "latex", "html"):
        out = tmp_path / f"out.{form}"
        assert main(["explain", spec, "--format", form, "--out", str(out), "--steps", "3"]) == 0
        assert "0.298371109" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "content, field",
    [
        ('inputs = [[1.0]]\ntargets = [[1.0]]\nloss = "mse"\n', "layers"),
        (
            'inputs = [[1.0]]\ntargets = [[1.0]]\nloss = "nope"\n[[layers]]\nweight = [[1.0]]\n',
            "loss",
        ),
        (
            'inputs = [[1.0]]\ntargets = [[1.0]]\nloss = "mse"\n[[layers]]\nweight = [[1.0, 2.0]]\n',  # noqa: E501
            "layers[0].weight",
        ),
        (
            'inputs = [[1.0]]\ntargets = [[1.0]]\nloss = "mse"\nlr = "x"\n[[layers]]\nweight = [[1.0]]\n',  # noqa: E501
            "lr",
        ),
        ("not toml [", "TOML"),
    ],
)
def test_cli_bad_spec_is_one_line_exit_2(tmp_path, content, field):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "chainrule", "explain", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert field in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_model_mode_with_a_missing_model_file(tmp_path, capsys):
    row = tmp_path / "row.csv"
    row.write_text("a,b\n1,2\n")
    assert main(["explain", "--model", str(tmp_path / "m.safetensors"), "--data", str(row)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chainrule: error:") and "m.safetensors" in err
    assert len(err.strip().splitlines()) == 1


def test_json_spec(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(
        '{"inputs": [[1.0, 1.0]], "targets": [[1.0]], "loss": "mse", "lr": 0.1,'
        ' "layers": [{"weight": [[0.5, -0.5]], "bias": [0.1], "activation": "tanh"}]}'
    )
    e = explain_spec(path)
    assert e.all_checks_pass and len(e.losses) == 1


def _spec(**changes):
    """A valid 2-2 JSON spec (one sigmoid layer) with some fields replaced."""
    spec = {
        "inputs": [[0.05, 0.1]],
        "targets": [[0.01, 0.99]],
        "loss": "mse",
        "lr": 0.5,
        "layers": [{"weight": [[0.15, 0.2], [0.25, 0.3]], "activation": "sigmoid"}],
    }
    spec.update(changes)
    return spec


# name -> (spec, expected fragment): each was a traceback before it was checked.
BAD_SPECS = {
    "loss_list": (_spec(loss=["mse"]), "spec field 'loss': expected one of"),
    "activation_list": (
        _spec(layers=[{"weight": [[1.0, 2.0]], "activation": ["relu"]}], targets=[[1.0]]),
        "spec field 'layers[0].activation': expected one of",
    ),
    "freeze_int": (_spec(freeze=5), "spec field 'freeze': expected a list of strings, got 5"),
    "freeze_nested": (_spec(freeze=[["0.bias"]]), "spec field 'freeze': expected a list"),
    "class_targets_ragged": (
        _spec(loss="cross_entropy", targets=[[0], [1, 2]]),
        "spec field 'targets': expected a list of class indices",
    ),
    "class_target_too_large": (
        _spec(loss="cross_entropy", targets=[5]),
        "spec field 'targets': expected class indices 0 to 1 (the output size is 2), got 5",
    ),
    "class_target_negative": (
        _spec(loss="nll", targets=[-1]),
        "expected class indices 0 to 1 (the output size is 2), got -1",
    ),
    "input_beyond_float": (_spec(inputs=[[10**400, 1]]), "spec field 'inputs': expected numbers"),
    "lr_beyond_float": (_spec(lr=10**400), "spec field 'lr': expected a number, got one beyond"),
    "negative_seed": (
        _spec(seed=-1, layers=[{"size": 2}]),
        "spec field 'seed': expected an integer >= 0, got -1",
    ),
    "huge_size": (
        _spec(layers=[{"size": 10**12}], targets=[[1.0]]),
        "spec field 'layers[0].size': 1000000000000 × 2 weights bring the network to "
        "3,000,000,000,000 parameters, more than the 1,000,000 explain follows (MAX_PARAMETERS)",
    ),
    "title_list": (_spec(title=[1, 2]), "spec field 'title': expected a string"),
    "notes_int": (_spec(notes=5), "spec field 'notes': expected a list of strings, got 5"),
}


@pytest.mark.parametrize("name", sorted(BAD_SPECS))
def test_malformed_json_specs_are_one_line_exit_2(name, tmp_path, capsys):
    import json

    spec, fragment = BAD_SPECS[name]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    assert main(["explain", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chainrule: error: ") and err.count("\n") == 1, err
    assert fragment in err, err


def test_cli_lr_must_be_positive(capsys):
    spec = str(EXAMPLES / "mazur_2_2_2.toml")
    assert main(["explain", spec, "--lr", "-1"]) == 2
    assert "--lr expected a positive learning rate, got -1.0" in capsys.readouterr().err


def test_steps_are_capped_and_an_optimizer_table_needs_a_name(tmp_path, capsys):
    from chainrule.cli.main import main

    spec = tmp_path / "s.json"
    spec.write_text(
        '{"inputs": [[1.0]], "targets": [[0.5]], "loss": "mse", "lr": 0.1,'
        ' "layers": [{"weight": [[0.3]], "bias": [0.1], "activation": "sigmoid"}]}'
    )
    assert main(["explain", str(spec), "--steps", "100000000"]) == 2
    assert "--steps expected an integer from 1 to 10000" in capsys.readouterr().err
    nameless = tmp_path / "n.json"
    nameless.write_text(spec.read_text().replace('"lr": 0.1', '"optimizer": {"lr": 0.1}'))
    assert main(["explain", str(nameless)]) == 2
    assert "spec field 'optimizer': expected a name or a table with 'name'" in (
        capsys.readouterr().err
    )


def _saved_2_2_2(tmp_path):
    import chainrule as cr
    import chainrule.nn as nn

    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 2), nn.Sigmoid())
    path = tmp_path / "m.safetensors"
    cr.save(model, path)
    return str(path)


def test_cli_model_mode_unknown_param_is_one_line(tmp_path, capsys):
    model = _saved_2_2_2(tmp_path)
    row = tmp_path / "row.csv"
    row.write_text("0.05,0.10,1\n")
    assert main(["explain", "--model", model, "--data", str(row), "--params", "w99"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "w99" in err


def test_cli_model_mode_data_fifo_is_refused_not_waited_on(tmp_path, capsys):
    model = _saved_2_2_2(tmp_path)
    fifo = tmp_path / "row.csv"
    os.mkfifo(fifo)
    assert main(["explain", "--model", model, "--data", str(fifo)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "FIFO" in err
