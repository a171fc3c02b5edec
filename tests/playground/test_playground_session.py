"""The playground's engine side: data, presets, training steps, derivations, updates and
surfaces, without a server (NumPy only)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import chainrule as cr
from chainrule.data.errors import DataError
from chainrule.explain import fmt
from chainrule.explain.spec import build, read
from chainrule.playground import surfaces
from chainrule.playground.datasets import MAX_UPLOAD_BYTES, TOY_SETS, from_csv, toy
from chainrule.playground.derivation import tex
from chainrule.playground.network import OPTIMIZERS, Config
from chainrule.playground.presets import PRESETS
from chainrule.playground.session import Session, Target, TrainingStopped

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "explain"


@pytest.mark.parametrize("kind", TOY_SETS)
def test_toy_sets_are_two_classes_in_two_dimensions_and_reproducible(kind):
    data = toy(kind, n=200, noise=0.2, train_ratio=0.7, seed=3)
    assert data.x_train.shape == (140, 2) and data.x_test.shape == (60, 2)
    assert set(np.unique(data.y_train)) == {0.0, 1.0}
    assert np.all(np.abs(data.x_train) < 12)
    again = toy(kind, n=200, noise=0.2, train_ratio=0.7, seed=3)
    np.testing.assert_array_equal(data.x_train, again.x_train)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "moons"}, "data set expected one of circle"),
        ({"kind": "xor", "n": 3}, "points expected an integer from 4"),
        ({"kind": "xor", "noise": 2.0}, "noise expected a number from 0.0 to 1.0"),
        ({"kind": "xor", "noise": "a"}, "noise expected a number"),
        ({"kind": "xor", "train_ratio": 0.0}, "train ratio expected"),
    ],
)
def test_toy_set_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        toy(**kwargs)


def test_csv_upload_is_read_like_the_cli():
    rows = ["a,b,colour,label"] + [
        f"{i},{(i * 7) % 5},{'red' if i % 2 else 'blue'},{'yes' if i % 3 else 'no'}"
        for i in range(30)
    ]
    data = from_csv("up.csv", "\n".join(rows).encode(), train_ratio=0.5)
    assert data.task == "classification"
    assert data.names == ["a", "b", "colour=blue", "colour=red"]
    assert data.x_train.shape == (15, 4) and data.y_train.shape == (15, 1)
    assert np.allclose(np.concatenate([data.x_train, data.x_test]).mean(axis=0), 0)


@pytest.mark.parametrize(
    ("raw", "kwargs", "message"),
    [
        (b"a,b\n1,2\n3\n", {}, "up.csv: row 3, column 'b': the row has 1 fields"),
        (b"", {}, "up.csv: the file is empty"),
        (b"a,b\n1,2\n", {"target": "c"}, "no column 'c'"),
        (b"a,b\n1,\xff\n", {}, "invalid UTF-8"),
        (b"x" * (MAX_UPLOAD_BYTES + 1), {}, "limit for uploads"),
    ],
)
def test_bad_uploads_raise_data_errors_naming_the_problem(raw, kwargs, message):
    with pytest.raises(DataError, match=message):
        from_csv("up.csv", raw, **kwargs)


@pytest.mark.parametrize(
    ("preset", "toml"),
    [
        ("mazur_2_2_2", "mazur_2_2_2.toml"),
        ("tanh_2_2_1", "tanh_2_2_1.toml"),
        ("chain_abcd", "linear_chain_abcd.toml"),
    ],
)
def test_presets_are_the_examples_networks(preset, toml):
    spec = read(EXAMPLES / toml)
    p = PRESETS[preset]
    assert p.x == spec["inputs"] and p.y == spec["targets"]
    assert p.weights == [layer["weight"] for layer in spec["layers"]]
    assert p.config.lr == spec["lr"]
    if "bias" in spec["layers"][0]:
        assert p.biases == [layer["bias"] for layer in spec["layers"]]
    model = Session()
    model.set_preset(preset)
    expected = build(spec)["model"]
    for name, value in expected.state_dict().items():
        np.testing.assert_array_equal(model.model.state_dict()[name], value)


def test_mazur_preset_derivation_has_the_tutorials_numbers():
    session = Session()
    session.set_preset("mazur_2_2_2")
    d = session.derivation(Target("weight", 1, 0, 0))
    assert d["label"] == "w5" and d["name"] == "2.weight" and d["index"] == [0, 0]
    assert d["loss"] == "0.298371109"
    assert d["grad"] == "0.0821670406"  # the tutorial: ∂E/∂w5 = 0.082167041
    assert d["fd"] == "0.082167" and d["fd_ok"]
    assert d["after"] == "0.35891648"  # the tutorial: w5⁺ = 0.35891648
    texts = [b.get("text", "") for b in d["blocks"]]
    assert "net_h1 = w1·i1 + w2·i2 + b1 = 0.15·0.05 + 0.2·0.1 + 0.35 = 0.3775" in texts
    assert any(t.startswith("∂E/∂w5 = ∂E/∂out_o1 · ∂out_o1/∂net_o1") for t in texts)
    assert d["blocks"][d["focus"]]["text"].startswith("∂E/∂w5")
    session.step()
    assert session.model[2].weight.data[0, 0] == pytest.approx(0.35891648, abs=1e-8)


def test_linear_chain_preset_uses_the_names_a_to_d():
    session = Session()
    session.set_preset("chain_abcd")
    d = session.derivation(Target("weight", 0, 0, 0))
    assert d["label"] == "A"
    explained = cr.explain(**{**build(read(EXAMPLES / "linear_chain_abcd.toml")), "params": ["A"]})
    assert d["grad"] == fmt.num(explained.gradients["0.weight"][0, 0], 9)


def _trained(optimizer: str, **config) -> Session:
    session = Session()
    session.set_config({"hidden": [3, 3], "optimizer": optimizer, "lr": 0.05, **config})
    for _ in range(3):
        session.step()
    return session


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("target", [Target("weight", 1, 2, 1), Target("bias", 0, 1)])
def test_derivation_matches_explain_and_the_real_next_step(optimizer, target):
    session = _trained(optimizer, l1=0.01, l2=0.01, batch_size=50)
    d = session.derivation(target)
    name, index = session.element(target)
    rows = session.next_batch()
    explained = cr.explain(
        session.model,
        session.loss_fn,
        session.data.x_train[rows],
        session.data.y_train[rows],
        params=[f"{name}[{','.join(map(str, index))}]"],
    )
    assert d["grad"] == fmt.num(explained.gradients[name][index], 9)
    assert d["loss"] == fmt.num(explained.losses[0], 9)
    check = next(c for c in explained.checks if (c.param, c.index) == (name, index))
    assert d["fd"] == fmt.finite_difference(check.numeric, explained.losses[0]) and d["fd_ok"]
    param = dict(session.model.named_parameters())[name]
    session.step()  # the real step: the value the panel announced
    assert d["after"] == fmt.num(param.data[index], 9)
    assert d["update"][-1]["text"].endswith(d["after"])
    # the clicked element's own chain is found, under explain's name for it
    assert d["label"] == f"{name}[{','.join(map(str, index))}]"  # matrix form: no w1…wn
    assert d["blocks"][d["focus"]]["text"].startswith(f"∂E/∂{d['label']}")
    if optimizer in ("adam", "adamw"):
        assert any(line["text"].startswith("m⁺ = β₁·m") for line in d["update"])
    if optimizer in ("momentum", "nesterov"):
        assert any(line["text"].startswith("buf⁺ = μ·buf") for line in d["update"])


def test_a_unit_is_explained_through_its_bias_and_clicks_are_checked():
    session = Session()
    assert session.element(Target("unit", 0, 2)) == ("0.bias", (2,))
    with pytest.raises(ValueError, match="target layer expected 0 to 2, got 5"):
        session.element(Target("weight", 5, 0, 0))
    with pytest.raises(ValueError, match="got row 9"):
        session.element(Target("weight", 0, 9, 0))
    with pytest.raises(ValueError, match="target expected"):
        Target.from_dict({"kind": "edge"})
    with pytest.raises(ValueError, match="integers >= 0"):
        Target.from_dict({"kind": "weight", "layer": -1, "row": 0})


def test_training_on_circle_lowers_the_loss_and_epochs_cover_the_rows():
    session = Session()
    session.set_config({"hidden": [8, 8], "lr": 0.3, "batch_size": 25})
    first = session.history[-1][1]
    session.epoch()
    assert session.step_count == 10 and session.epoch_count == 1  # 250 rows / 25
    for _ in range(20):
        session.epoch()
    assert session.history[-1][1] < 0.5 * first
    frame = session.frame()
    assert len(frame["heatmap"]["values"]) == 40 * 40
    assert len(frame["network"]["layers"]) == 3
    assert frame["network"]["layers"][0]["weight_grad"] is not None


def test_settings_that_keep_the_shape_keep_the_weights():
    session = Session()
    session.step()
    weights = session.model[0].weight.data.copy()
    session.set_config({"lr": 0.01, "optimizer": "adam", "l2": 0.001})
    np.testing.assert_array_equal(session.model[0].weight.data, weights)
    assert session.optimizer.param_groups[0]["lr"] == 0.01
    session.set_config({"hidden": [5]})
    assert session.model[0].weight.shape == (5, 2) and session.step_count == 0


def test_batch_norm_and_dropout_networks_train_and_explain():
    session = Session()
    session.set_config({"batch_norm": True, "dropout": 0.2, "batch_size": 249})
    session.step()  # 250 rows: the last batch of one row joins this one
    assert session.epoch_count == 1
    d = session.derivation(Target("weight", 0, 0, 1))
    assert d["fd_ok"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hidden": [0]}, "'hidden' expected up to 6 layer sizes from 1 to 16"),
        ({"hidden": [2] * 7}, "'hidden'"),
        ({"activation": "swish"}, "'activation' expected one of tanh"),
        ({"lr": -1}, "'lr' expected a number"),
        ({"lr": True}, "'lr' expected a number"),
        ({"batch_size": 1.5}, "'batch_size' expected an integer"),
        ({"colour": "red"}, "config field 'colour' is unknown"),
        ({"bias": "yes"}, "'bias' expected true or false"),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(changes, message):
    with pytest.raises(ValueError, match=message):
        Config.from_dict(changes)


def test_a_diverging_run_stops_before_a_non_finite_step():
    session = Session()
    session.set_preset("chain_abcd")
    session.set_config({"lr": 10.0})
    with pytest.raises(TrainingStopped, match="training paused"):
        for _ in range(50):
            session.step()
    assert all(np.all(np.isfinite(p.data)) for p in session.model.parameters())


def test_formulas_become_katex_latex():
    assert tex("out_h1 = 1/(1 + e^(−net_h1))") == (
        r"\mathrm{out}_{h1}\ =\ 1/(1\ +\ e^{-\mathrm{net}_{h1}})"
    )
    assert tex("m̂·λ") == r"\hat{m}\cdot \lambda "
    # explain's LaTeX gives δ_o1 a double subscript (δ then _o_{1}); KaTeX refuses that
    assert tex("δ_o1 = Σ_k δ_h1_2") == r"\delta _{o1}\ =\ \sum _{k}\ \delta _{h1,2}"


@pytest.mark.parametrize("surface", list(surfaces.SURFACES))
def test_every_optimizer_descends_every_surface(surface):
    result = surfaces.run({"surface": surface, "steps": 100})
    assert [p["name"] for p in result["paths"]] == list(surfaces.OPTIMIZERS)
    for path in result["paths"]:
        assert len(path["points"]) == 101 and not path["diverged"]
        assert path["points"][-1][2] < path["points"][0][2], path["name"]
    assert len(result["grid"]["values"]) == surfaces.GRID**2


def test_surface_paths_are_real_optimizer_steps():
    bowl = surfaces.SURFACES["bowl"]
    path = surfaces.trajectory(bowl, "SGD", 0.1, 2)["points"]
    x, y = bowl.start
    assert path[1][:2] == pytest.approx([x - 0.1 * x, y - 0.1 * 10 * y])
    assert surfaces.trajectory(bowl, "SGD", 5.0, 50)["diverged"]
    only = surfaces.run({"surface": "bowl", "only": "Adam", "lrs": {"Adam": 0.5}, "steps": 5})
    assert only["grid"] is None and [p["name"] for p in only["paths"]] == ["Adam"]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"surface": "saddle"}, "surface expected one of bowl"),
        ({"steps": 0}, "steps expected an integer from 1 to 1000"),
        ({"lrs": {"Lion": 0.1}}, "lrs expected optimizers"),
        ({"lrs": {"Adam": -1}}, r"lrs\['Adam'\] expected a number"),
        ({"start": [1]}, r"start expected \[x, y\]"),
        ([], "surface expected an object"),
    ],
)
def test_bad_surface_requests_are_refused(request_, message):
    with pytest.raises(ValueError, match=message):
        surfaces.run(request_)


def test_leaving_a_preset_brings_the_default_network_back_and_keeps_choices_otherwise():
    session = Session()
    session.set_preset("chain_abcd")
    session.set_toy({"kind": "xor"})
    assert session.preset is None and session.config == Config()
    session.set_config({"bias": False, "activation": "relu"})
    session.set_toy({"kind": "spiral"})
    assert not session.config.bias and session.config.activation == "relu"
    rows = "a,b,t\n" + "".join(f"{i},{i % 4},{i * 0.5}\n" for i in range(20))
    session.set_csv("r.csv", rows.encode())
    assert session.data.task == "regression" and session.config.loss == "mse"
