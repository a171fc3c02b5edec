"""explain's output holds on any machine, kinks are named, and the cost is bounded."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.cli.main import main
from chainrule.explain import ExplainLimitError, api, fmt, trace
from chainrule.explain.spec import explain_spec, load_spec

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "explain"
SPECS = sorted(EXAMPLES.glob("*.toml"))


# -- the digits printed are the ones that agree across BLAS kernels and CPUs --------------


def test_finite_difference_keeps_only_stable_digits():
    # The two values that w3's check printed on two machines (OpenBLAS on Intel and AMD).
    assert fmt.finite_difference(0.000497712788, 0.298371109) == "0.00049771"
    assert fmt.finite_difference(0.00049771276, 0.298371109) == "0.00049771"
    assert fmt.finite_difference(0.0821670406, 0.298371109) == "0.082167"
    assert fmt.finite_difference(-1182.66666667, 1.0) == "−1182.67"  # six digits at most
    assert fmt.finite_difference(3e-12, 0.3) == "0"  # below what E's rounding resolves
    assert fmt.finite_difference(0.0, 0.3) == "0"


def test_relative_error_is_a_bound_not_noise():
    assert fmt.relative_error(1.1e-7, True) == "< 1e−6"
    assert fmt.relative_error(4.9e-8, True) == "< 1e−6"
    assert fmt.relative_error(0.2, True) == "within tolerance"  # a tiny gradient's noise
    assert fmt.relative_error(0.3456, False) == "0.35"
    # decided with the difference's rounding noise added (Check.below_floor)
    assert fmt.relative_error(4.9e-8, True, below_floor=False) == "within tolerance"
    assert fmt.relative_error(0.0, True, below_floor=True) == "< 1e−6"


def test_a_zero_gradient_reads_within_tolerance_whatever_the_noise(tmp_path, monkeypatch):
    """w5 of the ReLU-kink network has gradient 0 (its unit is at 0); its central
    difference is 0 or a few ulps over 2h, by machine: the line must not say which."""
    spec = ROOT / "docs" / "seeds" / "relu_kink.toml"
    exact_text = explain_spec(spec).to_text()
    w5 = (
        "(E(w5 + h) − E(w5 − h)) / 2h = 0  ✓   "
        "[finite difference, h = 1e−6: relative error within tolerance]"
    )
    assert w5 in exact_text
    exact = trace.replay
    for shifts in ([3, -3, 2, -4], [0, 0, 0, 0], [-1, 1, 4, 2]):
        cycle = iter(shifts * 10_000)

        def noisy(recorded, overrides, cycle=cycle):
            value = exact(recorded, overrides)
            return value + next(cycle) * np.spacing(value)

        monkeypatch.setattr(trace, "replay", noisy)
        assert explain_spec(spec).to_text() == exact_text


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_output_is_unchanged_by_loss_rounding_noise(spec, monkeypatch):
    """Each loss the checks evaluate is moved by a few ulps, as another BLAS would."""
    exact = trace.replay
    shifts = iter([3, -3, 2, -4, 1, -1, 4, -2] * 10_000)

    def noisy(recorded, overrides):
        value = exact(recorded, overrides)
        return value + next(shifts) * np.spacing(value)

    monkeypatch.setattr(trace, "replay", noisy)
    e = explain_spec(spec)
    assert e.to_text() == spec.with_suffix(".txt").read_text(encoding="utf-8")


def _nudge(array: np.ndarray, direction: float) -> np.ndarray:
    # Nonzero entries move by one ulp; zeros stay (they are exact, and may be a kink).
    return np.where(array != 0, np.nextafter(array, direction * np.inf), array)


@pytest.mark.parametrize("direction", [1.0, -1.0], ids=["up", "down"])
@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_output_is_unchanged_by_one_ulp_in_the_inputs(spec, direction):
    """Inputs and weights one ulp off: a printed digit that moves would be noise."""
    kwargs = load_spec(spec)
    kwargs["x"] = _nudge(kwargs["x"], direction)
    for p in kwargs["model"].parameters():
        p.data[...] = _nudge(p.data, direction)
    e = api.explain(**kwargs)
    assert e.to_text() == spec.with_suffix(".txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("threads", ["1", "2"])
def test_committed_outputs_hold_with_one_or_two_blas_threads(threads):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = threads
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_every_format_prints_the_same_rounded_check():
    e = explain_spec(EXAMPLES / "mazur_2_2_2.toml")
    for rendered in (e.to_text(), e.to_markdown(), e.to_html(), e.to_latex()):
        assert "0.00049771" in rendered
        # The finite difference's digits that differ between machines (the analytic
        # gradient, 0.000497712735, is shown to 9 digits: a few ulps cannot move it).
        assert "0.000497712788" not in rendered and "0.00049771276" not in rendered
        assert "7.3e-09" not in rendered and "1.1e-07" not in rendered
    assert "relative error < 1e−6" in e.to_text()
    assert "relative error $<$ 1e$-$6" in e.to_latex()  # "<" would be "¡" in text mode
    assert "relative error &lt; 1e−6" in e.to_html()


def test_spot_check_ties_go_to_the_first_element():
    grad = np.array([[1.0, -1.0 - 1e-15], [0.5, 1.0]])
    assert api._largest("w", grad) == ("w", (0, 0))
    assert api._largest("w", np.array([0.2, -3.0])) == ("w", (1,))


# -- kinks: relu at 0 and friends ------------------------------------------------------

KINK_SPEC = {
    "inputs": [[1.0, 2.0]],
    "targets": [[0.5]],
    "loss": "mse",
    "lr": 0.1,
    "layers": [
        # net_h1 = 0.5·1 − 0.25·2 + 0 = 0 exactly: relu's kink.
        {"weight": [[0.5, -0.25], [0.3, 0.2]], "bias": [0.0, 0.1], "activation": "relu"},
        {"weight": [[0.7, -0.4]], "bias": [0.2]},
    ],
}


def _kink_explanation(tmp_path, activation="relu"):
    spec = json.loads(json.dumps(KINK_SPEC))
    spec["layers"][0]["activation"] = activation
    path = tmp_path / "kink.json"
    path.write_text(json.dumps(spec))
    return explain_spec(path)


def test_relu_at_zero_is_a_kink_not_a_failure(tmp_path):
    e = _kink_explanation(tmp_path)
    text = e.to_text()
    assert "✗" not in text
    assert e.all_checks_pass
    kinked = [c for c in e.checks if c.kink]
    assert sorted(c.label for c in kinked) == ["b1", "w1", "w2"]
    w1 = next(c for c in kinked if c.label == "w1")
    assert w1.grad == 0.0 and w1.left == pytest.approx(0.0, abs=1e-9)
    assert w1.right == pytest.approx(-0.868, rel=1e-5)
    assert (
        "(E(w1 + h) − E(w1 − h)) / 2h = −0.434   [kink: not differentiable here (relu at "
        "net_h1 = 0); backprop uses the left one-sided derivative, relu'(0) = 0 (PyTorch's "
        "convention); one-sided: right −0.868, left 0]"
    ) in text
    assert (
        "6 of 9 gradient elements agree with central differences (h = 1e−6, float64; "
        "tolerance 1e−6 + 1e−5·|g|); largest relative error within tolerance; 3 at a kink, where E "
        "has no derivative and backprop's value matches a one-sided difference; 0 failures ✓"
    ) in text
    for rendered in (e.to_markdown(), e.to_html()):
        assert "kink: not differentiable here" in rendered and "0 failures" in rendered
    assert r"kink: not differentiable here" in e.to_latex()


def test_each_check_names_only_the_kink_it_straddles(tmp_path):
    spec = json.loads(json.dumps(KINK_SPEC))
    spec["layers"][0]["weight"] = [[0.5, -0.25], [0.4, -0.2]]  # net_h1 = net_h2 = 0
    spec["layers"][0]["bias"] = [0.0, 0.0]
    path = tmp_path / "two.json"
    path.write_text(json.dumps(spec))
    e = explain_spec(path)
    kink = {c.label: c.kink for c in e.checks if c.kink}
    assert sorted(kink) == ["b1", "b2", "w1", "w2", "w3", "w4"]
    assert "(relu at net_h1 = 0)" in kink["w1"] and "net_h2" not in kink["w1"]
    assert "(relu at net_h2 = 0)" in kink["w4"] and "net_h1" not in kink["w4"]
    assert "6 at a kink" in e.to_text() and "0 failures ✓" in e.to_text()


def test_leaky_relu_at_zero_names_the_negative_slope(tmp_path):
    e = _kink_explanation(tmp_path, "leaky_relu")
    text = e.to_text()
    assert "leaky_relu at net_h1 = 0" in text
    assert "backprop uses the left one-sided derivative, leaky_relu'(0) = 0.01" in text
    assert "0 failures ✓" in text and "✗" not in text


def test_l1_loss_at_its_target_averages_the_sides():
    # out = w·x = 0.5 = target: |out − target| has its kink; sign(0) = 0 is the average.
    model = nn.Linear(1, 1, bias=False)
    model.weight.data[...] = 0.5
    e = cr.explain(model, F.l1_loss, [[1.0]], [[0.5]])
    (check,) = e.checks
    assert check.grad == 0.0 and check.ok
    assert check.kink.startswith("kink: not differentiable here (l1_loss at")
    assert "backprop uses the average of the two sides" in check.kink
    assert "0 failures ✓" in e.to_text()


class TwoScalars(nn.Module):
    """out = f(a·x, b·x) for one op f with a kink: a graph that is not layered."""

    def __init__(self, f, a: float, b: float):
        super().__init__()
        self.f = f
        self.a = nn.Parameter(np.array([a]))
        self.b = nn.Parameter(np.array([b]))

    def forward(self, x):
        return self.f(self.a * x, self.b * x)


# op -> (f, a, b, x, target, what the kink line says): each at exactly its kink.
GENERIC_KINKS = {
    "maximum_tie": (
        lambda u, v: cr.maximum(u, v),
        1.0,
        1.0,
        2.0,
        0.0,
        "(maximum at v2[0,0] = 2); backprop uses the average of the two sides, a tie shares "
        "the gradient half and half (PyTorch's convention)",
    ),
    "abs_at_0": (
        lambda u, v: cr.abs(u) + v,
        0.0,
        1.0,
        2.0,
        0.0,
        "(abs at v2[0,0] = 0); backprop uses the average of the two sides, abs'(0) = 0",
    ),
    "clamp_at_max": (
        lambda u, v: cr.clamp(u, max=1.0) + v,
        0.5,
        1.0,
        2.0,
        0.0,
        "(clip at v2[0,0] = 1); backprop uses the left one-sided derivative, clamp passes the "
        "gradient at its ends",
    ),
}


@pytest.mark.parametrize("case", sorted(GENERIC_KINKS))
def test_kinks_of_other_ops_in_a_graph_that_is_not_layered(case):
    f, a, b, x, target, phrase = GENERIC_KINKS[case]
    e = cr.explain(TwoScalars(f, a, b), F.mse_loss, [x], [target], params=["a", "b"])
    check = next(c for c in e.checks if c.param == "a")
    assert check.ok and check.kink.startswith("kink: not differentiable here ")
    assert phrase in check.kink
    text = e.to_text()
    assert "✗" not in text and " at a kink, where E has no derivative" in text
    assert text.rstrip().endswith("; 0 failures ✓")


def test_a_wrong_gradient_still_fails(monkeypatch):
    """Kinks are told apart from real disagreements, which are still counted."""
    real = api.record

    def corrupted(*args, **kwargs):
        recorded = real(*args, **kwargs)
        recorded.grads["0.weight"][0, 0] += 0.1
        return recorded

    monkeypatch.setattr(api, "record", corrupted)
    model = nn.Sequential(nn.Linear(2, 1, generator=0), nn.Tanh())
    e = cr.explain(model, F.mse_loss, [[0.3, -0.2]], [[0.1]])
    assert not e.all_checks_pass
    text = e.to_text()
    assert "relative error 0.37]" in text  # the check line of w1
    assert "; 1 disagree (largest relative error 0.37) ✗" in text
    assert "kink" not in text


# -- the cost of one explanation is bounded ----------------------------------------------


def test_too_many_parameters_is_refused_before_any_copy():
    model = nn.Sequential(nn.Linear(2, 3000), nn.ReLU(), nn.Linear(3000, 3000))
    start = time.perf_counter()
    with pytest.raises(ExplainLimitError) as caught:
        cr.explain(model, F.mse_loss, [[1.0, 2.0]], np.zeros((1, 3000)), lr=0.1)
    assert time.perf_counter() - start < 2.0
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == (
        "explain follows at most 1,000,000 trainable parameters (the limit MAX_PARAMETERS), "
        "got 9,012,000; explain a smaller network"
    )


def test_parameters_times_steps_is_bounded():
    model = nn.Linear(100, 100)  # 10,100 parameters
    with pytest.raises(ExplainLimitError, match="MAX_WORK") as caught:
        cr.explain(model, F.mse_loss, np.ones((10, 100)), np.zeros((10, 100)), lr=0.1, steps=1000)
    assert "10,100 × 10 × 1,000 = 101,000,000, is more than the limit" in str(caught.value)


def test_too_many_detailed_elements_is_refused():
    model = nn.Linear(50, 40)
    with pytest.raises(ExplainLimitError, match="MAX_DETAILED") as caught:
        cr.explain(model, F.mse_loss, np.ones((1, 50)), np.zeros((1, 40)), params=["weight"])
    assert "got 2000 from params=" in str(caught.value)


def test_finite_differences_are_sampled_and_the_output_says_so():
    model = nn.Linear(20, 10, generator=0)  # 210 elements, all detailed in scalar form
    x = np.linspace(-1, 1, 20)[None]
    e = cr.explain(model, F.mse_loss, x, np.zeros((1, 10)), form="scalar")
    assert len(e.checks) == api.MAX_FD_CHECKS == 100 and e.all_checks_pass
    checked = {c.label for c in e.checks}
    assert "w1" in checked and "b10" in checked  # the ends of the even sample
    assert "100 of 210 elements checked, an even sample" in e.to_text()
    assert "at most 100)" in e.to_text()


def test_cli_refuses_two_3000_unit_layers_in_one_line(tmp_path, capsys):
    path = tmp_path / "big.json"
    path.write_text(
        json.dumps(
            {
                "inputs": [[1.0, 2.0]],
                "targets": [[0.5]],
                "loss": "mse",
                "lr": 0.1,
                "layers": [{"size": 3000, "activation": "relu"}, {"size": 3000}, {"size": 1}],
            }
        )
    )
    start = time.perf_counter()
    assert main(["explain", str(path)]) == 2
    assert time.perf_counter() - start < 5.0
    err = capsys.readouterr().err
    assert err == (
        "chainrule: error: spec field 'layers[1].size': 3000 × 3000 weights bring the network "
        "to 9,012,000 parameters, more than the 1,000,000 explain follows (MAX_PARAMETERS)\n"
    )


def test_cli_refuses_too_many_steps_for_the_size_in_one_line(tmp_path):
    path = tmp_path / "mid.json"
    path.write_text(
        json.dumps(
            {
                "inputs": [[1.0, 2.0]],
                "targets": [[0.5]],
                "loss": "mse",
                "lr": 0.01,
                "layers": [{"size": 500, "activation": "tanh"}, {"size": 500}, {"size": 1}],
            }
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "chainrule", "explain", str(path), "--steps", "1000"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("chainrule: error: explain's work, parameters × samples")
    assert "MAX_WORK = 100,000,000" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_model_mode_names_the_limit_in_one_line(tmp_path, capsys):
    model = nn.Sequential(nn.Linear(3, 1000), nn.ReLU(), nn.Linear(1000, 1000), nn.Linear(1000, 1))
    cr.save(model, tmp_path / "big.safetensors")
    row = tmp_path / "row.csv"
    row.write_text("1,2,3,0.5\n")
    code = main(["explain", "--model", str(tmp_path / "big.safetensors"), "--data", str(row)])
    assert code == 2
    err = capsys.readouterr().err
    assert err == (
        "chainrule: error: explain follows at most 1,000,000 trainable parameters (the limit "
        "MAX_PARAMETERS), got 1,006,001; explain a smaller network\n"
    )


@pytest.mark.parametrize("kind", ["fifo", "directory", "huge"])
def test_a_spec_that_is_not_a_small_regular_file_is_refused_without_reading(tmp_path, capsys, kind):
    path = tmp_path / "net.toml"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block forever
    elif kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"#" * (16 << 20) + b"\n")
    assert main(["explain", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    expected = {"fifo": "FIFO", "directory": "directory", "huge": "byte limit"}[kind]
    assert expected in error and str(path) in error
