"""ONNX export checked by onnxruntime: outputs equal chainrule's to 1e-5 (float32).

Skipped when onnx or onnxruntime is missing (``pip install "chainrule[onnx]"``),
except the test that the missing extra is named.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.cli.main import main

HAVE_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAVE_ONNX, reason="needs onnx and onnxruntime")

IMG = (4, 3, 8, 8)
MODELS = {
    "mlp": (lambda: nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)), (5, 6)),
    "linear 3-D input": (lambda: nn.Sequential(nn.Linear(6, 4), nn.Tanh()), (2, 3, 6)),
    "conv net": (
        lambda: nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2),
            nn.AvgPool2d(2),
            nn.Flatten(),
            nn.Linear(8, 5),
            nn.Softmax(dim=1),
        ),
        IMG,
    ),
    "conv same dilation": (
        lambda: nn.Sequential(nn.Conv2d(3, 4, 4, padding="same", dilation=2)),
        IMG,
    ),
    "conv1d + pools": (
        lambda: nn.Sequential(
            nn.Conv1d(3, 4, 3, stride=2, padding=1), nn.MaxPool1d(2), nn.AvgPool1d(2, 1, 1)
        ),
        (2, 3, 16),
    ),
    "pool padding": (
        lambda: nn.Sequential(
            nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        ),
        IMG,
    ),
    "reflect and replicate padding, ceil_mode pools": (
        lambda: nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=2, padding_mode="reflect"),
            nn.MaxPool2d(3, 2, 1, ceil_mode=True),
            nn.Conv2d(4, 2, 2, padding="same", padding_mode="replicate"),
            nn.AvgPool2d(2),
        ),
        (4, 3, 9, 9),
    ),
    "adaptive global": (lambda: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), IMG),
    "adaptive even": (lambda: nn.Sequential(nn.AdaptiveAvgPool2d((2, 4))), IMG),
    "group + layer norm": (
        lambda: nn.Sequential(nn.GroupNorm(3, 3), nn.LayerNorm([8, 8]), nn.PReLU(3)),
        IMG,
    ),
    "batchnorm1d + dropout": (
        lambda: nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.Dropout(0.5), nn.PReLU()),
        (7, 6),
    ),
    "unflatten": (lambda: nn.Sequential(nn.Unflatten(1, (3, 8, 8)), nn.Conv2d(3, 2, 3)), (2, 192)),
    "flatten middle": (lambda: nn.Sequential(nn.Flatten(1, 2), nn.Identity()), IMG),
    **{
        name: (lambda name=name: nn.Sequential(getattr(nn, name)()), (4, 10))
        for name in (
            "ReLU Tanh Sigmoid LeakyReLU ELU GELU Softplus LogSoftmax Softmin SiLU Mish "
            "SELU CELU ReLU6 Hardtanh Hardsigmoid Hardswish LogSigmoid"
        ).split()
    },
    "gelu tanh": (lambda: nn.Sequential(nn.GELU(approximate="tanh")), (4, 10)),
    "softplus beta": (lambda: nn.Sequential(nn.Softplus(beta=2.0)), (4, 10)),
    "celu alpha": (lambda: nn.Sequential(nn.CELU(0.5), nn.Hardtanh(-0.3, 2.0)), (4, 10)),
}


def _run(path, x):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path))
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@needs_onnx
@pytest.mark.parametrize("name", list(MODELS))
def test_export_matches_chainrule(name, tmp_path):
    make, shape = MODELS[name]
    model = make()
    rng = np.random.default_rng(0)
    x = (4 * rng.normal(size=shape)).astype(np.float32)
    model.train()
    model(cr.tensor(x))  # moves batch-norm statistics away from their initial values
    cr.onnx.export(model, x, tmp_path / "m.onnx")
    assert model.training  # export restores the mode
    model.eval()
    expected = model(cr.tensor(x)).data
    np.testing.assert_allclose(_run(tmp_path / "m.onnx", x), expected, rtol=1e-5, atol=1e-5)
    batch = np.concatenate([x, x])  # the batch dimension is free
    assert _run(tmp_path / "m.onnx", batch).shape[0] == 2 * shape[0]


@needs_onnx
def test_embedding_exports_as_gather(tmp_path):
    model = nn.Sequential(nn.Embedding(10, 3), nn.Flatten())
    idx = np.array([[1, 9], [0, 4]], dtype=np.int64)
    cr.onnx.export(model, idx, tmp_path / "e.onnx")
    np.testing.assert_allclose(_run(tmp_path / "e.onnx", idx), model(idx).data, rtol=1e-6)


@needs_onnx
def test_unsupported_layer_is_named(tmp_path):
    class Custom(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="does not cover Custom"):
        cr.onnx.export(nn.Sequential(Custom()), np.zeros((1, 2)), tmp_path / "c.onnx")
    assert not (tmp_path / "c.onnx").exists()


def _csv(path, rows, regression=False):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(rows, 3)) * [1, 10, 100] + [0, 50, -20]
    y = x[:, 0] + x[:, 1] / 10 if regression else (x[:, 0] + x[:, 1] / 10 > 5).astype(int)
    with open(path, "w") as f:
        f.write("a,b,c,y\n")
        for r, t in zip(x, y, strict=True):
            f.write(f"{r[0]},{r[1]},{r[2]},{t}\n")
    return str(path), x.astype(np.float32)


@needs_onnx
@pytest.mark.parametrize("regression", [False, True])
def test_cli_export_includes_the_preprocessing(tmp_path, capsys, regression):
    data, x = _csv(tmp_path / "d.csv", 60, regression)
    model = str(tmp_path / "m.safetensors")
    assert main(["train", data, "--target", "y", "--epochs", "3", "--out", model, "--quiet"]) == 0
    out = tmp_path / "m.onnx"
    assert main(["export", model, "--format", "onnx", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    pipeline = cr.load(model)
    got = _run(out, x)  # raw, unstandardized columns
    if regression:
        np.testing.assert_allclose(got[:, 0], pipeline.predict(x), rtol=1e-4, atol=1e-4)
    else:
        np.testing.assert_allclose(got, pipeline.predict_proba(x), rtol=1e-5, atol=1e-6)


@needs_onnx
def test_cli_export_of_a_bare_network_needs_the_input_shape(tmp_path, capsys):
    path = tmp_path / "net.safetensors"
    cr.save(nn.Sequential(nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3)), path)
    out = tmp_path / "net.onnx"
    assert main(["export", str(path), "--out", str(out)]) == 2
    assert "--input-shape is needed" in capsys.readouterr().err
    assert main(["export", str(path), "--out", str(out), "--input-shape", "16"]) == 0
    x = np.ones((2, 16), np.float32)
    model = cr.load(path)
    np.testing.assert_allclose(_run(out, x), model(x).data, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "args, message",
    [
        (["export", "MODEL", "--out", "MODEL"], "same file"),
        (["export", "MODEL", "--format", "tflite", "--out", "x.onnx"], "invalid choice"),
    ],
)
def test_cli_export_refuses_bad_requests(tmp_path, capsys, args, message):
    model = tmp_path / "m.safetensors"
    cr.save(nn.Sequential(nn.Linear(2, 2)), model)
    args = [str(model) if a == "MODEL" else a for a in args]
    with pytest.raises(SystemExit) if "tflite" in args else _nothing():
        code = main(args)
        assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(HAVE_ONNX, reason="checks the message shown when onnx is missing")
def test_missing_onnx_extra_is_named(tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    cr.save(nn.Sequential(nn.Linear(2, 2)), model)
    code = main(["export", str(model), "--out", str(tmp_path / "m.onnx"), "--input-shape", "2"])
    assert code == 2
    assert 'pip install "chainrule[onnx]"' in capsys.readouterr().err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
