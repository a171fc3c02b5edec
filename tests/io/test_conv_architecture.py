"""cr.save / cr.load of conv-net models: every new layer round-trips; bad specs are named."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.io import architecture


def _cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 4, 3, padding=1, generator=0),
        nn.BatchNorm2d(4),
        nn.SiLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding="same", groups=2, generator=1),
        nn.GroupNorm(2, 8),
        nn.PReLU(8),
        nn.AvgPool2d(2),
        nn.AdaptiveAvgPool2d((2, 2)),
        nn.Flatten(),
        nn.LayerNorm(32),
        nn.Linear(32, 10, generator=2),
        nn.Mish(),
        nn.Hardtanh(-2.0, 2.0),
        nn.Softmin(dim=1),
    )


def test_cnn_round_trips_with_identical_outputs(tmp_path):
    model = _cnn()
    model(cr.randn(8, 64, generator=3))  # moves the batch-norm running statistics
    model.eval()
    cr.save(model, tmp_path / "cnn.safetensors")
    loaded = cr.load(tmp_path / "cnn.safetensors")
    x = cr.randn(5, 64, generator=4)
    np.testing.assert_array_equal(loaded(x).data, model(x).data)
    assert repr(loaded) == repr(model)


def test_conv1d_and_embedding_round_trip(tmp_path):
    model = nn.Sequential(
        nn.Embedding(10, 4, padding_idx=0, generator=0), nn.Flatten(), nn.Linear(12, 3)
    )
    cr.save(model, tmp_path / "emb.safetensors")
    idx = np.array([[1, 0, 9], [3, 3, 2]])
    np.testing.assert_array_equal(cr.load(tmp_path / "emb.safetensors")(idx).data, model(idx).data)
    conv = nn.Sequential(nn.Conv1d(2, 3, 3, stride=2, generator=0), nn.ReLU(), nn.MaxPool1d(2))
    cr.save(conv, tmp_path / "c1.safetensors")
    x = cr.randn(2, 2, 11, generator=1)
    np.testing.assert_array_equal(cr.load(tmp_path / "c1.safetensors")(x).data, conv(x).data)


@pytest.mark.parametrize(
    "layer, message",
    [
        (
            {"type": "Conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3, "groups": 2},
            "groups=2",
        ),
        (
            {"type": "Conv2d", "in_channels": 2, "out_channels": 2, "kernel_size": [3, 3, 3]},
            "kernel_size needs 2",
        ),
        (
            {
                "type": "Conv2d",
                "in_channels": 2,
                "out_channels": 2,
                "kernel_size": 3,
                "stride": 2,
                "padding": "same",
            },
            "stride 1",
        ),
        (
            {"type": "Conv2d", "in_channels": 2, "out_channels": 2, "kernel_size": 0},
            "invalid kernel_size",
        ),
        ({"type": "Conv2d", "in_channels": 2, "out_channels": 2}, "missing kernel_size"),
        ({"type": "GroupNorm", "num_groups": 3, "num_channels": 4}, "not divisible"),
        (
            {"type": "Embedding", "num_embeddings": 3, "embedding_dim": 2, "padding_idx": 5},
            "padding_idx",
        ),
        ({"type": "MaxPool2d", "kernel_size": "2"}, "invalid kernel_size"),
        (
            {"type": "Unflatten", "dim": 1, "unflattened_size": [1, True]},
            "invalid unflattened_size",
        ),
    ],
)
def test_bad_layer_specs_are_named(layer, message):
    with pytest.raises(cr.ModelFormatError) as caught:
        architecture.check(json.loads(json.dumps({"type": "Sequential", "layers": [layer]})))
    assert message in str(caught.value)


def test_width_check_resumes_at_the_next_linear_after_a_conv():
    spec = architecture.describe(_cnn())
    architecture.check(spec)  # passes: widths past the conv are not followed
    spec["layers"].append({"type": "BatchNorm1d", "num_features": 7})
    with pytest.raises(cr.ModelFormatError, match="num_features 7"):
        architecture.check(spec)
