"""The seed tutorials' networks as presets: their rows, layers, loss, learning rate and
starting weights, exactly as ``examples/explain/*.toml`` has them (a test compares)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .datasets import Dataset
from .network import Config


@dataclass
class Preset:
    title: str
    config: Config
    x: list[list[float]]
    y: list[list[float]]
    weights: list[list[list[float]]]  # one (out, in) matrix per Linear layer
    biases: list[list[float]] | None = None
    names: dict[str, str] = field(default_factory=dict)  # explain's aliases, e.g. "A"

    def dataset(self) -> Dataset:
        x, y = np.array(self.x, dtype=np.float64), np.array(self.y, dtype=np.float64)
        empty_x, empty_y = np.zeros((0, x.shape[1])), np.zeros((0, y.shape[1]))
        names = [f"i{k + 1}" for k in range(x.shape[1])]
        return Dataset(x, y, empty_x, empty_y, "regression", names, self.title)


PRESETS = {
    # Matt Mazur's "A Step by Step Backpropagation Example" (examples/explain/mazur_2_2_2.toml)
    "mazur_2_2_2": Preset(
        title="The 2-2-2 sigmoid network (Mazur's tutorial)",
        config=Config(hidden=[2], activation="sigmoid", output="sigmoid", loss="half_sse", lr=0.5),
        x=[[0.05, 0.10]],
        y=[[0.01, 0.99]],
        weights=[[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
        biases=[[0.35, 0.35], [0.60, 0.60]],
    ),
    # examples/explain/tanh_2_2_1.toml
    "tanh_2_2_1": Preset(
        title="A 2-2-1 tanh network, one sample, MSE",
        config=Config(hidden=[2], activation="tanh", output="tanh", loss="mse", lr=0.1),
        x=[[1.0, 1.0]],
        y=[[1.0]],
        weights=[[[0.5, 0.3], [-0.4, 0.2]], [[0.6, -0.3]]],
        biases=[[0.1, -0.1], [0.05]],
    ),
    # examples/explain/linear_chain_abcd.toml: ŷ = D·C·B·A·x
    "chain_abcd": Preset(
        title="The linear chain A → B → C → D",
        config=Config(
            hidden=[1, 1, 1], activation="linear", output="none", loss="mse", lr=1e-4, bias=False
        ),
        x=[[3.0], [10.0], [7.0]],
        y=[[17.0], [200.0], [-17.0]],
        weights=[[[1.0]], [[1.0]], [[1.0]], [[1.0]]],
        names={
            "A": "0.weight[0,0]",
            "B": "1.weight[0,0]",
            "C": "2.weight[0,0]",
            "D": "3.weight[0,0]",
        },
    ),
}
