"""scikit-learn estimators trained by chainrule: ``MLPClassifier`` and ``MLPRegressor``.

Drop-in replacements for ``sklearn.neural_network``'s estimators (same parameters,
defaults and fitted attributes) with dropout, batch normalization, L1, more solvers,
class and sample weights, more regression losses and early stopping on the validation
loss. Needs the ``sklearn`` extra: ``pip install "chainrule[sklearn]"``.

>>> from chainrule.sklearn import MLPClassifier   # doctest: +SKIP
"""

from __future__ import annotations

try:
    import scipy  # noqa: F401

    import sklearn  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "chainrule.sklearn needs scikit-learn and scipy: pip install 'chainrule[sklearn]'"
    ) from error

from ._estimators import MLPClassifier, MLPRegressor

# The public path, for repr, pickles and ``chainrule.save``'s ``kind`` (which ``load``
# resolves through public modules only): chainrule.sklearn:MLPClassifier.
MLPClassifier.__module__ = MLPRegressor.__module__ = __name__

__all__ = ["MLPClassifier", "MLPRegressor"]
