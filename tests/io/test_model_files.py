"""Model files: round trips, PyTorch names, and >= 30 hand-made malformed files that must
each raise ModelFormatError naming the defect."""

from __future__ import annotations

import json
import pickle
import struct
import zipfile

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.data.tabular import TabularEncoder, columns_table
from chainrule.io import Checkpoint
from chainrule.pipeline import Pipeline

pytest.importorskip("safetensors")


def small_model():
    return nn.Sequential(nn.Linear(3, 4, generator=0), nn.Tanh(), nn.Linear(4, 2, generator=1))


def test_module_round_trip_bit_for_bit_and_torch_names(tmp_path):
    model = nn.Sequential(
        nn.Linear(5, 8, generator=0),
        nn.BatchNorm1d(8),
        nn.LeakyReLU(0.2),
        nn.Dropout(0.25),
        nn.Sequential(nn.Linear(8, 3, bias=False, generator=1), nn.GELU("tanh")),
        nn.Softmax(dim=-1),
    )
    path = tmp_path / "m.safetensors"
    cr.save(model, path)
    loaded = cr.load(path)
    assert repr(loaded) == repr(model)
    assert not loaded.training
    for key, value in model.state_dict().items():
        again = loaded.state_dict()[key]
        assert again.dtype == value.dtype and again.shape == value.shape
        assert again.tobytes() == value.tobytes()
    from safetensors.numpy import load_file

    assert sorted(load_file(str(path))) == sorted(model.state_dict())
    assert "4.0.weight" in load_file(str(path))


def test_float64_model(tmp_path):
    model = nn.Sequential(nn.Linear(2, 2, dtype=np.float64, generator=0))
    cr.save(model, tmp_path / "m")
    assert cr.load(tmp_path / "m")[0].weight.data.dtype == np.float64


def test_weights_load_into_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    model = small_model()
    cr.save(model, tmp_path / "m.safetensors")
    twin = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    twin.load_state_dict(load_file(str(tmp_path / "m.safetensors")))
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    expected = cr.predict(model, x)
    np.testing.assert_allclose(twin(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-6)


def test_pipeline_round_trip(tmp_path):
    table = columns_table({"x": [1, 2, 3, 4], "c": ["a", "b", "a", "b"], "y": ["u", "v", "u", "v"]})
    encoder = TabularEncoder("y").fit(table)
    scaler = cr.data.StandardScaler().fit(encoder.transform(table))
    model = nn.Sequential(nn.Linear(3, 2, generator=0))
    pipe = Pipeline(model, encoder, scaler, provenance={"note": "test"})
    cr.save(pipe, tmp_path / "p.safetensors")
    again = cr.load(tmp_path / "p.safetensors")
    assert isinstance(again, Pipeline) and again.classes == ["u", "v"]
    np.testing.assert_array_equal(again.predict_proba(table), pipe.predict_proba(table))
    assert list(again.predict({"x": [1], "c": ["b"]})) == list(pipe.predict({"x": [1], "c": ["b"]}))
    assert again.provenance == {"note": "test"}


def test_checkpoint_round_trip_with_optimizer_state(tmp_path):
    model = small_model()
    opt = cr.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    x = np.ones((4, 3), np.float32)
    cr.fit(model, x, np.array([0, 1, 0, 1]), loss="cross_entropy", optimizer=opt, verbose=0)
    state = {"epoch": 1, "best": float("inf"), "pair": (1, 2), "big": 2**100}
    cr.save(Checkpoint.capture(model, opt, state=state), tmp_path / "c")
    loaded = cr.load(tmp_path / "c")
    assert loaded.state == state
    opt2 = cr.optim.Adam(loaded.model.parameters())
    opt2.load_state_dict(loaded.optimizer_state)
    assert opt2.param_groups[0]["betas"] == (0.8, 0.9)
    for index, entries in opt.state_dict()["state"].items():
        for name, value in entries.items():
            np.testing.assert_array_equal(loaded.optimizer_state["state"][index][name], value)


def test_save_refuses_what_it_cannot_rebuild(tmp_path):
    class Custom(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="save_state"):
        cr.save(nn.Sequential(Custom()), tmp_path / "m")
    with pytest.raises(TypeError, match=r"expected an nn\.Module"):
        cr.save([1], tmp_path / "m")
    # A dict is a state dict now (torch.save(model.state_dict())): its values must be tensors.
    with pytest.raises(TypeError, match=r"entry 'a' must be a Tensor or an ndarray, got int"):
        cr.save({"a": 1}, tmp_path / "m")

    class Foreign:
        def _chainrule_save_state(self):
            return {}, {}

        @classmethod
        def _chainrule_from_state(cls, tensors, metadata):
            return cls()

    with pytest.raises(TypeError, match="chainrule's own classes"):
        cr.save(Foreign(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


# --------------------------------------------------------------- hand-made bad files
def _valid_parts():
    """The header dict, data bytes and document of a valid Linear(2, 2) module file."""
    weight = np.arange(4, dtype=np.float32).reshape(2, 2)
    bias = np.array([0.5, -0.5], np.float32)
    document = {
        "format": "chainrule",
        "format_version": 1,
        "library_version": cr.__version__,
        "kind": "module",
        "architecture": {
            "type": "Sequential",
            "layers": [{"type": "Linear", "in_features": 2, "out_features": 2, "bias": True}],
        },
        "dtype": "float32",
    }
    header = {
        "0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "0.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [8, 24]},
    }
    return header, bias.tobytes() + weight.tobytes(), document


def assemble(header, data, document=None, raw_header=None, length=None):
    if raw_header is None:
        full = dict(header)
        if document is not None:
            full["__metadata__"] = {"chainrule": json.dumps(document)}
        raw_header = json.dumps(full).encode()
    size = len(raw_header) if length is None else length
    return struct.pack("<Q", size) + raw_header + data


def variant(change):
    header, data, document = _valid_parts()
    header = json.loads(json.dumps(header))
    result = change(header, data, document)
    if isinstance(result, bytes):
        return result
    return assemble(*result) if result is not None else assemble(header, data, document)


def _set(mapping, path, value):
    *parents, last = path
    for key in parents:
        mapping = mapping[key]
    mapping[last] = value


def doc(path, value):
    def change(header, data, document):
        _set(document, path, value)
        return header, data, document

    return change


def head(path, value):
    def change(header, data, document):
        _set(header, path, value)
        return header, data, document

    return change


def _torch_zip():
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"weight": [1.0]}))
    return buffer.getvalue()


def _nan_data(header, data, document):
    values = np.frombuffer(data, np.float32).copy()
    values[3] = np.nan
    return header, values.tobytes(), document


def _inf_data(header, data, document):
    values = np.frombuffer(data, np.float32).copy()
    values[0] = -np.inf
    return header, values.tobytes(), document


def _deep(levels):
    spec = {"type": "Linear", "in_features": 2, "out_features": 2}
    for _ in range(levels):
        spec = {"type": "Sequential", "layers": [spec]}
    return spec


BAD: dict[str, tuple[object, str]] = {
    "empty": (b"", "shorter than the 8-byte header length"),
    "seven_bytes": (b"\x10\x00\x00\x00\x00\x00\x00", "shorter than the 8-byte"),
    "length_past_end": (
        lambda h, d, m: assemble(h, d, m, length=10_000),
        "header length field says 10000",
    ),
    "length_huge": (struct.pack("<Q", 2**63) + b"{}", "header length field says"),
    "length_short": (lambda h, d, m: assemble(h, d, m, length=20), "not valid JSON"),
    "not_json": (lambda h, d, m: assemble(h, d, raw_header=b"{not json}"), "not valid JSON"),
    "json_array": (lambda h, d, m: assemble(h, d, raw_header=b"[1, 2]"), "not a JSON object"),
    "header_bad_utf8": (
        lambda h, d, m: assemble(h, d, raw_header=b'{"\xff": 1}'),
        "not valid UTF-8",
    ),
    "duplicate_key": (
        lambda h, d, m: assemble(
            h,
            d,
            raw_header=(
                b'{"0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
                b'"0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}'
            ),
        ),
        "duplicate key '0.bias'",
    ),
    "nan_in_metadata": (
        lambda h, d, m: assemble({**h, "__metadata__": {"chainrule": '{"format": NaN}'}}, d),
        "NaN, which is not valid JSON",
    ),
    "unknown_dtype": (head(["0.bias", "dtype"], "X9"), "unknown or unsupported dtype 'X9'"),
    "bfloat16": (head(["0.bias", "dtype"], "BF16"), "unsupported dtype 'BF16'"),
    "negative_shape": (head(["0.bias", "shape"], [-2]), "shape must be a list of non-negative"),
    "float_shape": (head(["0.bias", "shape"], [2.0]), "shape must be a list"),
    "bool_shape": (head(["0.bias", "shape"], [True, True]), "shape must be a list"),
    "offsets_length": (head(["0.bias", "data_offsets"], [0]), "two non-negative integers"),
    "offsets_backwards": (head(["0.bias", "data_offsets"], [8, 0]), "end 0 is before begin 8"),
    "size_mismatch": (head(["0.bias", "shape"], [3]), "needs 12 bytes but data_offsets"),
    "huge_shape": (
        head(["0.bias", "shape"], [2**40, 2**40]),
        "needs 4835703278458516698824704 bytes",
    ),
    "overlap": (head(["0.weight", "data_offsets"], [4, 20]), "overlaps"),
    "gap": (
        lambda h, d, m: (
            {**h, "0.weight": {**h["0.weight"], "data_offsets": [12, 28]}},
            d + b"\0" * 4,
            m,
        ),
        "a gap of 4 bytes",
    ),
    "trailing_bytes": (lambda h, d, m: (h, d + b"\0" * 8, m), "trailing bytes"),
    "truncated_data": (lambda h, d, m: (h, d[:-4], m), "truncated"),
    "extra_entry_keys": (head(["0.bias", "extra"], 1), "unexpected ['extra']"),
    "empty_tensor_name": (lambda h, d, m: ({"": h.pop("0.bias"), **h}, d, m), "tensor name '' "),
    "plain_safetensors": (lambda h, d, m: (h, d, None), "not a chainrule file"),
    "metadata_not_strings": (
        lambda h, d, m: assemble({**h, "__metadata__": {"chainrule": 5}}, d),
        "__metadata__ must map strings to strings",
    ),
    "document_not_object": (
        lambda h, d, m: assemble({**h, "__metadata__": {"chainrule": "[1]"}}, d),
        "not a JSON object",
    ),
    "wrong_format": (doc(["format"], "gguf"), "format is 'gguf'"),
    "newer_version": (doc(["format_version"], 99), "format_version 99 was written by a newer"),
    "foreign_kind": (doc(["kind"], "os:system"), "not a chainrule class; refusing to import"),
    "main_module_kind": (doc(["kind"], "chainrule.__main__:main"), "refusing to import"),
    "not_loadable_kind": (
        doc(["kind"], "chainrule.nn:Linear"),
        "not a class that chainrule can load",
    ),
    "missing_module_kind": (doc(["kind"], "chainrule.nothing:X"), "no module chainrule.nothing"),
    "unknown_layer": (
        doc(["architecture", "layers", 0, "type"], "Conv3d"),
        "unknown layer type 'Conv3d'",
    ),
    "negative_width": (
        doc(["architecture", "layers", 0, "in_features"], -2),
        "invalid in_features -2",
    ),
    "giant_width": (
        doc(["architecture", "layers", 0, "in_features"], 10**12),
        "invalid in_features",
    ),
    "deep_nesting": (doc(["architecture"], _deep(100)), "deeper than 32"),
    "unknown_model_dtype": (doc(["dtype"], "int8"), "unknown model dtype 'int8'"),
    "shape_vs_architecture": (
        doc(["architecture", "layers", 0, "out_features"], 1),
        "'0.weight' has shape (2, 2), the architecture needs (1, 2)",
    ),
    "missing_tensor": (
        doc(["architecture", "layers", 0, "bias"], False),
        "'0.bias' is not part of",
    ),
    "extra_layer": (
        doc(
            ["architecture", "layers"],
            [{"type": "Linear", "in_features": 2, "out_features": 2}] * 2,
        ),
        "tensor '1.bias' of the architecture is missing",
    ),
    "dtype_vs_architecture": (
        doc(["dtype"], "float64"),
        "has dtype F32, the architecture needs float64",
    ),
    "nan_weight": (_nan_data, "non-finite value (nan)"),
    "inf_bias": (_inf_data, "tensor '0.bias' has a non-finite value (-inf)"),
    "pickle": (pickle.dumps({"0.weight": [1.0, 2.0]}, protocol=4), "looks like a Python pickle"),
    "torch_zip": (_torch_zip(), "looks like a zip archive"),
    "text": (b"0.weight,0.bias\n1,2\n", "this is a text/CSV file, not a model file (safetensors)"),
}


def _materialize(content):
    if callable(content):
        return variant(content)
    return content


def test_valid_parts_load(tmp_path):
    path = tmp_path / "ok.safetensors"
    path.write_bytes(variant(lambda h, d, m: None))
    model = cr.load(path)
    np.testing.assert_array_equal(model[0].bias.data, [0.5, -0.5])


@pytest.mark.parametrize("name", sorted(BAD))
def test_malformed_model_file(name, tmp_path):
    content, fragment = BAD[name]
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(_materialize(content))
    with pytest.raises(cr.ModelFormatError) as caught:
        cr.load(path)
    message = str(caught.value)
    assert fragment in message, message
    assert str(path) in message and "\n" not in message


def test_corpus_is_large_enough():
    assert len(BAD) >= 30


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(cr.ModelFormatError, match="no such file"):
        cr.load(tmp_path / "nope.safetensors")
    with pytest.raises(cr.ModelFormatError, match="is a directory"):
        cr.load(tmp_path)


def test_model_format_error_is_a_value_error():
    assert issubclass(cr.ModelFormatError, ValueError)
    assert issubclass(cr.DataError, ValueError)


@pytest.mark.parametrize(
    "make",
    [
        lambda opt: cr.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1),
        lambda opt: cr.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5),
    ],
)
def test_checkpoint_keeps_the_scheduler(tmp_path, make):
    model = small_model()
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    scheduler = make(opt)
    scheduler.step(1.0) if hasattr(scheduler, "best") else scheduler.step()
    cr.save(Checkpoint.capture(model, opt, scheduler), tmp_path / "c")
    loaded = cr.load(tmp_path / "c")
    twin = make(cr.optim.SGD(small_model().parameters(), lr=0.1))
    twin.load_state_dict(loaded.scheduler_state)
    assert twin.state_dict() == scheduler.state_dict()
