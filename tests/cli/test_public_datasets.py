"""Raw public files, unedited, with the CLI's defaults, against scikit-learn's usual
pipeline (SimpleImputer + OneHotEncoder(handle_unknown="ignore") + StandardScaler +
MLP) on the same held-out rows. Optional: skipped unless palmerpenguins, vega_datasets,
pandas, pyarrow and scikit-learn are installed. Marked slow (a few seconds each)."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from chainrule.cli.main import main

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("sklearn")


def _penguins(name: str) -> str:
    module = pytest.importorskip("palmerpenguins")
    return os.path.join(os.path.dirname(module.__file__), "data", name)


def _vega(name: str) -> str:
    module = pytest.importorskip("vega_datasets")
    return os.path.join(os.path.dirname(module.__file__), "_data", name)


def sklearn_score(path: str, target: str, regression: bool, drop: tuple[str, ...]) -> float:
    """scikit-learn's pipeline on the CLI's test rows (same seeded permutation)."""
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.read_csv(path)
    frame = frame[frame[target].notna()].reset_index(drop=True)
    order = np.random.default_rng([0, 2]).permutation(len(frame))
    n_test = round(len(frame) * 0.2)
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    x = frame.drop(columns=[target, *drop])
    numbers = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    text = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
    )
    columns = make_column_transformer(
        (numbers, make_column_selector(dtype_include="number")),
        (text, make_column_selector(dtype_exclude="number")),
    )
    net = (MLPRegressor if regression else MLPClassifier)(
        hidden_layer_sizes=(64, 32), max_iter=500, early_stopping=True, random_state=0
    )
    model = make_pipeline(columns, net)
    y = frame[target].to_numpy()
    model.fit(x.iloc[train], y[train])
    return float(model.score(x.iloc[test], y[test]))


def cli_score(path: str, target: str, tmp_path, capsys, *extra: str) -> float:
    out = tmp_path / "m.safetensors"
    argv = ["train", path, "--target", target, "--out", str(out), "--quiet", "--test-split", "0.2"]
    assert main([*argv, *extra]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("test ("))
    return float(re.search(r"(accuracy|r2) (-?[0-9.]+)", line).group(2))


CASES = {
    "penguins_species": (lambda: _penguins("penguins.csv"), "species", False, (), ()),
    "penguins_raw_species": (
        lambda: _penguins("penguins-raw.csv"),
        "Species",
        False,
        ("studyName", "Sample Number", "Individual ID", "Date Egg", "Comments"),
        (),
    ),
    "penguins_mass": (lambda: _penguins("penguins.csv"), "body_mass_g", True, (), ()),
    "seattle_weather": (lambda: _vega("seattle-weather.csv"), "weather", False, ("date",), ()),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_defaults_score_like_scikit_learn(name, tmp_path, capsys):
    locate, target, regression, sk_drop, extra = CASES[name]
    path = locate()
    ours = cli_score(path, target, tmp_path, capsys, *extra)
    theirs = sklearn_score(path, target, regression, sk_drop)
    allowed = 0.03 if regression else 0.02
    assert ours >= theirs - allowed, f"chainrule {ours:.3f}, scikit-learn {theirs:.3f}"
