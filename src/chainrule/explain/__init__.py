"""Explain backpropagation: engine events -> derivation records -> renderers.

``chainrule.explain(model, loss_fn, x, y, lr=0.5)`` returns an :class:`Explanation`
with ``to_text``, ``to_markdown``, ``to_latex``, ``to_html`` and ``to_dot``.
"""

from .api import ExplainLimitError, explain
from .explanation import Explanation

__all__ = ["ExplainLimitError", "Explanation", "explain"]
