"""``chainrule train / predict / evaluate / info`` on data as users download it: gaps,
identifiers, a pandas index, unseen categories, dates and the data flags."""

from __future__ import annotations

import csv

import pytest

from chainrule.cli.main import main


def rows(n: int = 40) -> str:
    """id, age (gaps), region (NA is a value here), day (dates), name (unique), y."""
    lines = ["id,age,region,day,name,y"]
    for i in range(n):
        age = "" if i % 5 == 0 else str(20 + i)
        region = ("NA", "EU", "AS")[i % 3]
        lines.append(f"{1000 + i},{age},{region},2024-01-{1 + i % 28:02d},person{i},{'ab'[i % 2]}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(rows())
    return path


def train(data, tmp_path, *extra):
    out = tmp_path / "m.safetensors"
    args = ["train", str(data), "--target", "y", "--out", str(out), "--epochs", "2"]
    return main([*args, "--hidden", "8", *extra]), out


def test_defaults_fill_gaps_drop_names_and_announce_the_task(data, tmp_path, capsys):
    code, model = train(data, tmp_path, "--id", "id")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.startswith("classification of 'y', 2 classes: a, b; 40 rows")
    assert "dropped column 'name': near-unique text" in captured.err
    assert (
        "missing values in age are filled (median); in region become a category of their own"
        in captured.err
    )
    assert main(["info", str(model)]) == 0
    info = capsys.readouterr().out
    assert "age: numeric, gaps filled with" in info and "indicator column age:missing" in info
    assert "day: date -> year, month, day of week" in info
    assert "missing values: median" in info
    assert "id column 'id': copied into predictions" in info


def test_predict_carries_the_id_and_counts_unseen_categories(data, tmp_path, capsys):
    code, model = train(data, tmp_path, "--id", "id", "--na-values", "")
    assert code == 0
    new = tmp_path / "new.csv"
    new.write_text("id,age,region,day\n7,31,Atlantis,2024-02-01\n8,,NA,2024-02-02\n")
    capsys.readouterr()
    assert main(["predict", str(model), str(new)]) == 0
    captured = capsys.readouterr()
    table = list(csv.reader(captured.out.splitlines()))
    assert table[0] == ["id", "prediction"]
    assert [r[0] for r in table[1:]] == ["7", "8"]
    assert "1 rows with unseen categories in 'region'" in captured.err
    assert "filled 1 missing values" in captured.err
    assert main(["predict", str(model), str(new), "--strict-categories"]) == 2
    assert "row 2, column 'region': unknown category 'Atlantis'" in capsys.readouterr().err


def test_rows_without_a_target_are_left_out_with_a_count(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text(rows().replace(",a\n", ",\n", 3))
    code, _ = train(path, tmp_path)
    assert code == 0
    assert "dropped 3 rows whose target is missing" in capsys.readouterr().err


def test_a_pandas_index_is_dropped_with_a_note(tmp_path, capsys):
    path = tmp_path / "d.csv"
    body = rows().splitlines()
    path.write_text("\n".join(["," + body[0]] + [f"{i},{line}" for i, line in enumerate(body[1:])]))
    code, _ = train(path, tmp_path)
    assert code == 0
    assert "dropped the unnamed first column: a row index" in capsys.readouterr().err


def test_impute_none_restores_the_strict_error(data, tmp_path, capsys):
    code, _ = train(data, tmp_path, "--impute", "none")
    assert code == 2
    assert "row 2, column 'age': an empty cell" in capsys.readouterr().err


def test_drop_and_columns_choose_the_features(data, tmp_path, capsys):
    code, model = train(data, tmp_path, "--columns", "age,region", "--drop", "region")
    assert code == 0
    capsys.readouterr()
    main(["info", str(model)])
    info = capsys.readouterr().out
    assert "input columns (1)" in info and "dropped column 'region': --drop" in info


def test_unknown_flag_values_are_one_line_errors(data, tmp_path, capsys):
    code, _ = train(data, tmp_path, "--drop", "nope")
    assert code == 2
    assert "no column 'nope'" in capsys.readouterr().err
    code, _ = train(data, tmp_path, "--max-categories", "1")
    assert code == 2
    assert "--max-categories expected a value in [2, 100000]" in capsys.readouterr().err


DATA_FLAGS = ["--impute", "--na-values", "--drop", "--columns", "--id", "--max-categories",
              "--strict-categories", "--format", "--test-split", "--no-refit", "--cv"]  # fmt: skip


@pytest.mark.parametrize("flag", DATA_FLAGS)
def test_every_data_flag_has_help_and_an_example(flag, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert flag in text
    examples = text[text.index("examples:") :]
    assert flag in examples or (flag == "--format" and ".parquet" in examples)


def test_test_split_reports_rows_never_trained_on(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text(rows(100))
    code, _ = train(path, tmp_path, "--test-split", "0.25")
    out = capsys.readouterr().out
    assert code == 0
    assert "75 rows" in out.splitlines()[0]  # the announcement counts training rows only
    assert "test (25 held-out rows, never trained on): accuracy" in out


def test_early_stopping_is_on_by_default_and_0_turns_it_off(tmp_path, capsys):
    import numpy as np

    from chainrule.io import load

    rng = np.random.default_rng(0)
    path = tmp_path / "noise.csv"  # labels unrelated to the feature: validation loss rises
    values, labels = rng.normal(size=60), rng.integers(0, 2, 60)
    lines = [f"{v:.4f},{'ab'[int(c)]}\n" for v, c in zip(values, labels, strict=True)]
    path.write_text("a,y\n" + "".join(lines))
    out = tmp_path / "m.safetensors"
    common = ["train", str(path), "--target", "y", "--out", str(out), "--quiet", "--lr", "0.05"]
    assert main([*common, "--epochs", "300"]) == 0
    provenance = load(str(out)).provenance
    assert provenance["stopped_epoch"] is not None and provenance["epochs_trained"] < 300
    assert main([*common, "--epochs", "30", "--early-stopping", "0"]) == 0
    provenance = load(str(out)).provenance
    assert provenance["stopped_epoch"] is None and provenance["epochs_trained"] == 30


def test_the_model_is_refit_on_all_rows_unless_no_refit(data, tmp_path, capsys):
    from chainrule.io import load

    code, model = train(data, tmp_path, "--epochs", "3", "--early-stopping", "0")
    out = capsys.readouterr().out
    assert code == 0
    assert "refit on all 40 rows for 3 epochs" in out
    assert load(str(model)).provenance["refit"] == {"epochs": 3, "rows": 40}
    code, model = train(data, tmp_path, "--no-refit")
    assert code == 0
    assert "refit on all" not in capsys.readouterr().out
    assert "refit" not in load(str(model)).provenance


def test_cv_prints_k_scores_and_their_mean(data, tmp_path, capsys):
    code, model = train(data, tmp_path, "--cv", "3")
    out = capsys.readouterr().out
    assert code == 0, out
    line = next(l for l in out.splitlines() if l.startswith("3-fold cross-validation: accuracy"))
    scores = [float(v) for v in line[line.index("(") + 1 : -1].split(", ")]
    mean = float(line.split()[3])
    assert len(scores) == 3 and abs(mean - sum(scores) / 3) < 1e-4
    assert model.exists()
