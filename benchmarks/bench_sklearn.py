"""chainrule.sklearn's MLP estimators against scikit-learn's, on scikit-learn's bundled data.

    python -m benchmarks.bench_sklearn                          # every data set
    python -m benchmarks.bench_sklearn --rounds 2 --repeats 1   # quicker
    python -m benchmarks.bench_sklearn --only digits

For each data set (digits, breast_cancer, iris, wine: classification, test accuracy;
diabetes: regression, test R²), both peers fit with the same settings: scikit-learn's
defaults (one hidden layer of 100 ReLU units, Adam, learning_rate_init=1e-3,
batch_size='auto' = min(200, n), alpha=1e-4, max_iter=200, tol=1e-4,
n_iter_no_change=10, early stopping off) and random_state=0, so that both start from
the same weights and see the same batches. The inputs are standardized (diabetes'
target too), split 80/20 with seed 0 (stratified for classification), and given to both
as float64; chainrule computes in float32 (``dtype=np.float32``, its default before the
estimators followed scikit-learn's dtype convention; ``--cr-dtype input`` lets it follow
the input, float64, as scikit-learn does). Each peer runs in its own
process with 2 BLAS threads and times ``--rounds`` fits; the processes of the two peers
alternate ``--repeats`` times, so that a burst of load on a shared machine hits both,
and the fit time reported is the best of all of a peer's fits. Per epoch: the best fit's
wall time ÷ its epochs (µs/epoch), and the best process time ÷ epochs (cpu µs/epoch: with
2 BLAS threads it can exceed the wall time; on a loaded machine it is the steadier one).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

from benchmarks.harness import peak_rss_mib, peer_available, print_table, run_isolated

DATASETS = ["digits", "breast_cancer", "iris", "wine", "diabetes"]
PEERS = {"cr": "chainrule", "sklearn": "sklearn"}
SETTINGS = dict(
    hidden_layer_sizes=(100,),
    activation="relu",
    solver="adam",
    learning_rate_init=1e-3,
    batch_size="auto",
    alpha=1e-4,
    max_iter=200,
    tol=1e-4,
    n_iter_no_change=10,
    early_stopping=False,
    random_state=0,
)


def load(name: str):
    """Standardized train/test arrays (float64), the same for both peers."""
    from sklearn.model_selection import train_test_split

    from sklearn import datasets

    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    regression = name == "diabetes"
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=0.2, random_state=0, stratify=None if regression else y
    )
    mean, std = x_tr.mean(0), x_tr.std(0)
    std[std == 0] = 1.0
    x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    if regression:  # R² does not depend on the target's scale; the step size does
        y_mean, y_std = y_tr.mean(), y_tr.std()
        y_tr, y_te = (y_tr - y_mean) / y_std, (y_te - y_mean) / y_std
    return x_tr, x_te, y_tr, y_te, regression


def run_one(name: str, peer: str, rounds: int, cr_dtype: str = "float32") -> dict:
    from sklearn.exceptions import ConvergenceWarning

    x_tr, x_te, y_tr, y_te, regression = load(name)
    if peer == "cr":
        from chainrule.sklearn import MLPClassifier, MLPRegressor
    else:
        from sklearn.neural_network import MLPClassifier, MLPRegressor
    estimator = MLPRegressor if regression else MLPClassifier
    settings = dict(SETTINGS)
    if peer == "cr" and cr_dtype == "float32":
        settings["dtype"] = np.float32
    best = best_cpu = float("inf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(rounds):
            model = estimator(**settings)
            start, cpu = time.perf_counter(), time.process_time()
            model.fit(x_tr, y_tr)
            best = min(best, time.perf_counter() - start)
            # process time too: on a shared machine it counts this process's work only
            best_cpu = min(best_cpu, time.process_time() - cpu)
    return {
        "fit_s": best,
        "epoch_us": best / max(int(model.n_iter_), 1) * 1e6,
        "cpu_epoch_us": best_cpu / max(int(model.n_iter_), 1) * 1e6,
        "score": float(model.score(x_te, y_te)),
        "n_iter": int(model.n_iter_),
        "final_loss": float(model.loss_),
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("DATASET", "PEER"), help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3, help="fits per process")
    parser.add_argument("--repeats", type=int, default=3, help="processes per peer, alternating")
    parser.add_argument("--only", choices=DATASETS, help="one data set")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--cr-dtype",
        choices=["float32", "input"],
        default="float32",
        help="chainrule's dtype: float32, or the input's (float64, scikit-learn's convention)",
    )
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one, args.rounds, args.cr_dtype)))
        return
    if not peer_available("sklearn"):
        print("scikit-learn is not installed: nothing to compare with (and no data sets)")
        return
    rows = []
    for name in [args.only] if args.only else DATASETS:
        result: dict[str, dict] = {}
        for _ in range(args.repeats):
            for peer in PEERS:
                extra = ["--rounds", str(args.rounds), "--cr-dtype", args.cr_dtype]
                run = run_isolated("benchmarks.bench_sklearn", name, peer, extra_args=extra)
                if "fit_s" in run and run["fit_s"] < result.get(peer, {}).get("fit_s", np.inf):
                    result[peer] = run
                elif peer not in result:
                    result[peer] = run
        cr, sk = result["cr"], result["sklearn"]
        row = {"dataset": name, "metric": "R²" if name == "diabetes" else "accuracy"}
        for peer, values in result.items():
            for key, value in values.items():
                row[f"{peer}_{key}"] = value
        if "fit_s" in cr and "fit_s" in sk:
            row["speedup"] = sk["fit_s"] / cr["fit_s"]
            row["score_diff"] = cr["score"] - sk["score"]
        rows.append(row)
    print_table(
        "chainrule.sklearn vs sklearn.neural_network (speedup = sklearn fit time ÷ cr fit time)",
        rows,
        [
            ("dataset", "dataset"),
            ("metric", "metric"),
            ("cr_fit_s", "cr fit s"),
            ("sklearn_fit_s", "sklearn fit s"),
            ("speedup", "speedup"),
            ("cr_epoch_us", "cr µs/epoch"),
            ("sklearn_epoch_us", "sklearn µs/epoch"),
            ("cr_cpu_epoch_us", "cr cpu µs/epoch"),
            ("sklearn_cpu_epoch_us", "sklearn cpu µs/epoch"),
            ("cr_score", "cr score"),
            ("sklearn_score", "sklearn score"),
            ("cr_n_iter", "cr epochs"),
            ("sklearn_n_iter", "sklearn epochs"),
            ("cr_error", "cr error"),
            ("sklearn_error", "sklearn error"),
        ],
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
