"""Both estimators pass scikit-learn's own estimator checks."""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks

from chainrule.sklearn import MLPClassifier, MLPRegressor

# Small networks and few epochs keep the ~100 checks per estimator fast; the checks that
# measure accuracy (check_classifiers_train, check_regressors_train) still pass with them.
ESTIMATORS = [
    MLPClassifier(max_iter=100, random_state=0),
    MLPRegressor(max_iter=100, random_state=0),
    MLPClassifier(solver="lbfgs", max_iter=100, random_state=0),
    MLPRegressor(solver="lbfgs", max_iter=100, random_state=0),
]


# No expected failures: with scikit-learn's dtype convention (float64 input trains in
# float64) check_sample_weight_equivalence passes in the default configuration too.
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
