"""scikit-learn's GridSearchCV over a chainrule estimator on a Dask cluster (joblib's
``dask`` backend, a process-based ``LocalCluster`` of 2 workers) finds the same best
parameters and the same scores as ``n_jobs=1``: each fit is seeded (``random_state``)
and runs in one process whichever worker gets it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from sklearn.model_selection import GridSearchCV  # noqa: E402

GRID = {"hidden_layer_sizes": [(8,), (16,)], "alpha": [1e-4, 1e-1]}


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 > 0.4).astype(np.int64)
    return x, y


def _search():
    from chainrule.sklearn import MLPClassifier

    estimator = MLPClassifier(max_iter=30, random_state=0, learning_rate_init=0.01)
    return GridSearchCV(estimator, GRID, cv=3)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_on_a_dask_cluster_equals_one_process():
    import joblib

    x, y = _data()
    alone = _search().fit(x, y)
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            worker_dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        with joblib.parallel_backend("dask"):
            clustered = _search().fit(x, y)
        workers = client.run(lambda: __import__("os").getpid())
    assert len(set(workers.values())) == 2  # the cluster: two worker processes
    assert clustered.best_params_ == alone.best_params_
    for key in ("mean_test_score", "std_test_score", *(f"split{i}_test_score" for i in range(3))):
        np.testing.assert_array_equal(clustered.cv_results_[key], alone.cv_results_[key])
    assert clustered.best_score_ == alone.best_score_
    np.testing.assert_array_equal(clustered.predict(x), alone.predict(x))
    assert alone.best_score_ > 0.6  # it learned something: the scores are not all chance
