"""A trained model with everything needed to use it on raw data: ``Pipeline``.

A pipeline is what ``chainrule train`` writes and ``chainrule predict`` reads:
the network, the column encoder (numeric / one-hot columns, target classes), the
feature scaler, the target scaling for regression, and the run's provenance. From
Python::

    pipe = chainrule.load("model.safetensors")
    pipe.predict({"age": [31, 45], "color": ["red", "blue"]})   # class labels
    pipe.predict_proba(x)        # x (N, n_features) numbers when every column is numeric
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .autodiff import Tensor, no_grad
from .data.csv import Table
from .data.reading import from_frame, is_frame
from .data.scaling import StandardScaler
from .data.tabular import TabularEncoder, columns_table
from .io import architecture
from .io.model_header import build_model, check_model_header, model_header
from .train import predict as _raw_predict


class Pipeline:
    """Encoder + scaler + network (+ target scaling for regression) + provenance.

    ``model`` maps standardized encoded features (N, len(encoder.output_names)) to
    logits (N, C) for classification or standardized values (N, 1) for regression.
    """

    def __init__(
        self,
        model: Any,
        encoder: TabularEncoder,
        scaler: StandardScaler,
        target_mean: float = 0.0,
        target_scale: float = 1.0,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        self.model, self.encoder, self.scaler = model, encoder, scaler
        self.target_mean, self.target_scale = float(target_mean), float(target_scale)
        self.provenance = dict(provenance or {})

    # ----------------------------------------------------------------- facts
    @property
    def task(self) -> str:
        return str(self.encoder.task)

    @property
    def classes(self) -> list[str] | None:
        return self.encoder.classes

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.encoder.features]

    def __repr__(self) -> str:
        what = f"{len(self.classes or [])} classes" if self.task == "classification" else "values"
        return f"Pipeline({self.task}, {len(self.feature_names)} columns -> {what})"

    # ------------------------------------------------------------- inference
    def _table(self, x: Any) -> Table | None:
        if isinstance(x, Table):
            return x
        if is_frame(x):  # pandas / polars DataFrame, Arrow table: columns by name
            return from_frame(x)
        if isinstance(x, Mapping):
            return columns_table(dict(x))
        return None

    def transform(self, x: Any) -> np.ndarray:
        """Model inputs (N, n_encoded) from a ``Table``, a pandas or polars DataFrame, an
        Arrow table, a column mapping, or a numeric array (N, n_encoded)."""
        table = self._table(x)
        if table is not None:
            encoded = self.encoder.transform(table)
        else:
            encoded = np.asarray(x, dtype=np.float64)
            width = len(self.encoder.output_names)
            if encoded.ndim != 2 or encoded.shape[1] != width:
                raise ValueError(
                    f"Pipeline expected x of shape (N, {width}) (columns "
                    f"{', '.join(self.encoder.output_names)}), got {encoded.shape}"
                )
        dtype = architecture.model_dtype(self.model)
        return self.scaler.transform(encoded).astype(dtype)

    def preprocess(self, x: Any) -> np.ndarray:
        """Alias of ``transform``: what ``chainrule explain --model`` feeds the network."""
        return self.transform(x)

    def decision_function(self, x: Any) -> np.ndarray:
        """Raw network outputs: logits (N, C), or standardized values (N, 1)."""
        return _raw_predict(self.model, self.transform(x))

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities (N, C), columns in the order of ``classes``."""
        if self.task != "classification":
            raise ValueError("predict_proba needs a classification pipeline")
        logits = self.decision_function(x).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, x: Any) -> np.ndarray:
        """Class labels (N,) as strings for classification, values (N,) for regression."""
        outputs = self.decision_function(x)
        if self.task == "classification":
            return np.asarray(self.classes)[outputs.argmax(axis=1)]
        return outputs[:, 0].astype(np.float64) * self.target_scale + self.target_mean

    # ----------------------------------------------------------- persistence
    def _chainrule_save_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Tensors are the network's state_dict, under PyTorch's names (``0.weight``)."""
        metadata = {
            **model_header(self.model),
            "encoder": self.encoder.to_dict(),
            "scaler": self.scaler.to_dict(),
            "target_mean": self.target_mean,
            "target_scale": self.target_scale,
            "provenance": self.provenance,
        }
        return dict(self.model.state_dict()), metadata

    @classmethod
    def _chainrule_check_header(cls, infos: dict[str, Any], metadata: dict[str, Any]) -> None:
        spec, dtype = check_model_header(metadata)
        architecture.check_tensors(spec, dtype, infos)

    @classmethod
    def _chainrule_from_state(
        cls, tensors: dict[str, np.ndarray], metadata: dict[str, Any]
    ) -> Pipeline:
        model = build_model(metadata)
        model.load_state_dict(tensors)
        model.eval()
        encoder = TabularEncoder.from_dict(metadata.get("encoder"))
        scaler = StandardScaler.from_dict(metadata.get("scaler"))
        width = len(encoder.output_names)
        if scaler.n_features_in_ != width:
            raise ValueError(
                f"the scaler has {scaler.n_features_in_} features, the encoder produces {width}"
            )
        classes = encoder.classes if encoder.task == "classification" else None
        outputs = 1 if classes is None else len(classes)
        _check_widths(model, width, outputs)
        scale = metadata.get("target_scale", 1.0)
        mean = metadata.get("target_mean", 0.0)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (mean, scale)):
            raise ValueError("target_mean and target_scale must be numbers")
        provenance = metadata.get("provenance", {})
        if not isinstance(provenance, dict):
            raise ValueError("provenance must be an object")
        return cls(model, encoder, scaler, mean, scale, provenance)


def _check_widths(model: Any, width: int, outputs: int) -> None:
    """The network must map (N, width) to (N, outputs); ValueError naming both otherwise.

    A chain of Linear layers is read from the shapes; a network with a shape-changing
    layer (a conv after an Unflatten, a pool) is run once on two rows of zeros instead,
    since its widths depend on the image size.
    """
    kinds = {type(m).__name__ for m in model.modules()}
    if kinds & set(architecture.SHAPE_CHANGING):
        try:
            with no_grad():
                shape = model(Tensor(np.zeros((2, width), dtype=np.float32))).shape
        except (ValueError, TypeError, IndexError) as error:
            raise ValueError(f"the network does not take {width} inputs: {error}") from None
        if tuple(shape) != (2, outputs):
            raise ValueError(
                f"the network maps {width} inputs to shape {tuple(shape)[1:]}; the "
                f"preprocessing needs {width} -> {outputs}"
            )
        return
    linears = [m for m in model.modules() if type(m).__name__ == "Linear"]
    if linears and (linears[0].in_features != width or linears[-1].out_features != outputs):
        raise ValueError(
            f"the network maps {linears[0].in_features} inputs to "
            f"{linears[-1].out_features} outputs; the preprocessing needs {width} -> {outputs}"
        )
