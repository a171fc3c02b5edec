"""A replayable corpus of bad model and checkpoint files.

Each case is one data row: a name, how to make the file (bytes, or a maker for paths
that are not plain bytes such as a FIFO), and a substring the message must contain.
Every case must raise ``ModelFormatError`` from ``chainrule.load`` (never another
exception, never a hang) and make ``chainrule info`` exit 2 with one line on stderr.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import zipfile
from io import BytesIO

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.cli.main import main
from chainrule.io import Checkpoint

pytest.importorskip("safetensors")

LINEAR = {"type": "Linear", "in_features": 2, "out_features": 2, "bias": True}


def parts(layers=None, tensors=None, dtype="float32"):
    """(header, data, document) of a valid file: by default Linear(2, 2), float32."""
    document = {
        "format": "chainrule",
        "format_version": 1,
        "library_version": cr.__version__,
        "kind": "module",
        "architecture": {"type": "Sequential", "layers": layers or [LINEAR]},
        "dtype": dtype,
    }
    if tensors is None:
        tensors = {
            "0.bias": np.array([0.5, -0.5], np.float32),
            "0.weight": np.arange(4, dtype=np.float32).reshape(2, 2),
        }
    header, data, offset = {}, b"", 0
    codes = {"float32": "F32", "float16": "F16", "float64": "F64", "int64": "I64"}
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array).tobytes()
        header[name] = {
            "dtype": codes[str(array.dtype)],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        data, offset = data + raw, offset + len(raw)
    return header, data, document


def assemble(header, data, document=None, *, raw_header=None, length=None):
    if raw_header is None:
        full = dict(header)
        if document is not None:
            full["__metadata__"] = {"chainrule": json.dumps(document)}
        raw_header = json.dumps(full).encode()
    size = len(raw_header) if length is None else length
    return struct.pack("<Q", size) + raw_header + data


def edit(change, **kwargs):
    """Bytes of the valid file after ``change(header, data, document)`` edits it in place
    (or returns new (header, data, document))."""
    header, data, document = parts(**kwargs)
    result = change(header, data, document)
    if result is not None:
        header, data, document = result
    return assemble(header, data, document)


def entry(name, key, value):
    return edit(lambda h, d, m: h[name].__setitem__(key, value))


def document(key, value):
    return edit(lambda h, d, m: m.__setitem__(key, value))


def chain(*layers):
    """A model file for ``layers`` (dicts), with tensors of the shapes they declare."""
    tensors = {}
    for index, layer in enumerate(layers):
        if layer["type"] == "Linear":
            shape = (layer["out_features"], layer["in_features"])
            tensors[f"{index}.weight"] = np.zeros(shape, np.float32)
            tensors[f"{index}.bias"] = np.zeros(shape[0], np.float32)
        elif layer["type"] == "BatchNorm1d":
            n = layer["num_features"]
            for name in ("weight", "bias", "running_mean", "running_var"):
                tensors[f"{index}.{name}"] = np.ones(n, np.float32)
            tensors[f"{index}.num_batches_tracked"] = np.array(0, np.int64)
    header, data, doc = parts(list(layers), tensors)
    return assemble(header, data, doc)


def with_value(value, index=1):
    def change(header, data, doc):
        values = np.frombuffer(data, np.float32).copy()
        values[index] = value
        return header, values.tobytes(), doc

    return edit(change)


def torch_zip():
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"weight": [1.0]}))
    return buffer.getvalue()


def checkpoint_bytes(tmp_path, change):
    """A checkpoint written by chainrule, then its JSON document edited by ``change``."""
    model = nn.Sequential(nn.Linear(2, 2, generator=0))
    optimizer = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = np.ones((4, 2), np.float32), np.array([0, 1, 0, 1])
    cr.fit(model, x, y, loss="cross_entropy", optimizer=optimizer, verbose=0)
    path = tmp_path / "source.ckpt"
    cr.save(Checkpoint.capture(model, optimizer, state={"epoch": 1}), path)
    content = path.read_bytes()
    length = struct.unpack("<Q", content[:8])[0]
    header = json.loads(content[8 : 8 + length])
    doc = json.loads(header["__metadata__"]["chainrule"])
    change(header, doc)
    header["__metadata__"] = {"chainrule": json.dumps(doc)}
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + content[8 + length :]


def tampered(change):
    return lambda tmp_path: checkpoint_bytes(tmp_path, change)


def _set_optimizer_tensor_shape(header, doc):
    # Same 16 bytes, so the layout is valid; only the shape matches no parameter.
    header["optimizer.0.momentum_buffer"]["shape"] = [8]
    header["optimizer.0.momentum_buffer"]["dtype"] = "I16"


def _fifo(tmp_path):
    path = tmp_path / "model.fifo"
    os.mkfifo(path)
    return path


def _directory(tmp_path):
    path = tmp_path / "model.dir"
    path.mkdir()
    return path


HEADER_OK, DATA_OK, DOC_OK = parts()

# name -> (bytes, or a function of tmp_path giving bytes or a path; message substring)
CASES: dict[str, tuple[object, str]] = {
    # -- truncated
    "empty": (b"", "shorter than the 8-byte header length"),
    "truncated_in_length": (b"\x40\x00\x00", "shorter than the 8-byte"),
    "truncated_after_length": (assemble(HEADER_OK, DATA_OK, DOC_OK)[:8], "header length field"),
    "truncated_in_header": (assemble(HEADER_OK, DATA_OK, DOC_OK)[:60], "header length field"),
    "truncated_in_data": (assemble(HEADER_OK, DATA_OK, DOC_OK)[:-5], "(truncated?)"),
    "trailing_bytes": (assemble(HEADER_OK, DATA_OK + b"xx", DOC_OK), "(trailing bytes)"),
    # -- wrong header length
    "length_past_end": (assemble(HEADER_OK, DATA_OK, DOC_OK, length=10**6), "says 1000000"),
    "length_2_63": (struct.pack("<Q", 2**63) + b"{}", "header length field says"),
    "length_too_short": (assemble(HEADER_OK, DATA_OK, DOC_OK, length=30), "not valid JSON"),
    "length_zero": (assemble(HEADER_OK, DATA_OK, DOC_OK, length=0), "not a JSON object"),
    # -- bad JSON
    "json_garbage": (assemble({}, b"", raw_header=b"{oops}"), "not valid JSON"),
    "json_array": (assemble({}, b"", raw_header=b"[1]"), "not a JSON object"),
    "json_nan": (assemble({}, b"", raw_header=b'{"a": NaN}'), "NaN, which is not valid JSON"),
    "json_bad_utf8": (assemble({}, b"", raw_header=b'{"\xfe": 1}'), "not valid UTF-8"),
    "json_duplicate_key": (
        assemble({}, b"", raw_header=b'{"__metadata__": {}, "__metadata__": {}}'),
        "duplicate key '__metadata__'",
    ),
    "metadata_not_strings": (
        assemble({}, b"", raw_header=b'{"__metadata__": {"chainrule": 5}}'),
        "__metadata__ must map strings to strings",
    ),
    "metadata_document_bad_json": (
        assemble(HEADER_OK | {"__metadata__": {"chainrule": "{nope"}}, DATA_OK),
        "metadata is not valid JSON",
    ),
    "not_a_chainrule_file": (assemble(HEADER_OK, DATA_OK, None), "not a chainrule file"),
    # -- offsets
    "overlapping_offsets": (entry("0.weight", "data_offsets", [4, 20]), "overlaps"),
    "gap_in_offsets": (
        edit(
            lambda h, d, m: (
                h["0.weight"].__setitem__("data_offsets", [12, 28]),
                (h, d[:8] + b"\0" * 4 + d[8:], m),
            )[1]
        ),
        "a gap of 4 bytes",
    ),
    "offsets_reversed": (entry("0.bias", "data_offsets", [8, 0]), "is before begin"),
    "offsets_not_ints": (entry("0.bias", "data_offsets", [0, 8.0]), "two non-negative integers"),
    # -- shapes
    "huge_shape": (entry("0.weight", "shape", [2**40, 2**40]), "needs"),
    "negative_shape": (entry("0.weight", "shape", [-2, -2]), "non-negative integers"),
    "bool_shape": (entry("0.bias", "shape", [True, True]), "non-negative integers"),
    "too_many_dims": (entry("0.bias", "shape", [1] * 40), "is too many"),
    "shape_vs_bytes": (entry("0.bias", "shape", [3]), "needs 12 bytes"),
    # -- dtypes
    "unknown_dtype": (entry("0.bias", "dtype", "F8_E4M3"), "unknown or unsupported dtype"),
    "bf16_dtype": (entry("0.bias", "dtype", "BF16"), "unknown or unsupported dtype 'BF16'"),
    "int_weights": (
        edit(lambda h, d, m: h["0.bias"].__setitem__("dtype", "I32")),
        "has dtype I32, the architecture needs float32",
    ),
    "int_model_dtype": (document("dtype", "int32"), "unknown model dtype 'int32'"),
    # -- not safetensors at all
    "pickle_protocol_2": (pickle.dumps([1.0], protocol=2), "Python pickle"),
    "pickle_protocol_5": (pickle.dumps({"w": [1.0] * 20}, protocol=5), "Python pickle"),
    "torch_zip": (torch_zip(), "zip archive"),
    "numpy_npy": (b"\x93NUMPY\x01\x00v\x00{'descr': '<f4'}", ".npy file"),
    "csv_as_model": (
        b"sepal_length,sepal_width,species\n5.1,3.5,setosa\n",
        "this is a text/CSV file, not a model file (safetensors)",
    ),
    "short_text": (b"a,b\n", "this is a text/CSV file"),
    "json_text": (b'{"weights": [1, 2, 3]}\n', "this is a text/CSV file"),
    # -- values
    "nan_weight": (with_value(np.nan, 3), "non-finite value (nan)"),
    "inf_bias": (with_value(-np.inf, 0), "'0.bias' has a non-finite value (-inf)"),
    # -- architectures that load but cannot run
    "chain_width_mismatch": (
        chain(
            {"type": "Linear", "in_features": 5, "out_features": 8, "bias": True},
            {"type": "Linear", "in_features": 6, "out_features": 2, "bias": True},
        ),
        "layer 1 (Linear): expects 6 inputs but the layer before it gives 8",
    ),
    "chain_width_after_activation": (
        chain(
            {"type": "Linear", "in_features": 3, "out_features": 4, "bias": True},
            {"type": "ReLU"},
            {"type": "Linear", "in_features": 5, "out_features": 1, "bias": True},
        ),
        "layer 2 (Linear): expects 5 inputs",
    ),
    "batchnorm_features_mismatch": (
        chain(
            {"type": "Linear", "in_features": 3, "out_features": 4, "bias": True},
            {"type": "BatchNorm1d", "num_features": 6},
        ),
        "layer 1 (BatchNorm1d): has num_features 6 but the layer before it gives 4",
    ),
    "softmax_dim_7": (
        chain(
            {"type": "Linear", "in_features": 3, "out_features": 2, "bias": True},
            {"type": "Softmax", "dim": 7},
        ),
        "layer 1 (Softmax): dim 7 is out of range for its 2-d input",
    ),
    "log_softmax_dim_minus_3": (
        chain(
            {"type": "Linear", "in_features": 3, "out_features": 2, "bias": True},
            {"type": "LogSoftmax", "dim": -3},
        ),
        "dim -3 is out of range",
    ),
    "flatten_bad_dims": (
        chain(
            {"type": "Linear", "in_features": 3, "out_features": 2, "bias": True},
            {"type": "Flatten", "start_dim": 3, "end_dim": -1},
        ),
        "start_dim 3 / end_dim -1 do not fit its 2-d input",
    ),
    "unknown_layer": (
        document("architecture", {"type": "Sequential", "layers": [{"type": "Conv3d"}]}),
        "unknown layer type 'Conv3d'",
    ),
    "foreign_kind": (document("kind", "subprocess:Popen"), "refusing to import"),
    # -- paths that are not regular files
    "fifo": (_fifo, "is a FIFO (named pipe), not a model file"),
    "directory": (_directory, "is a directory"),
    "missing": (lambda tmp_path: tmp_path / "nothing.safetensors", "no such file"),
    # -- checkpoints whose document was edited
    "checkpoint_optimizer_state_mismatch": (
        tampered(_set_optimizer_tensor_shape),
        "matches no parameter",
    ),
    "checkpoint_architecture_widened": (
        tampered(
            lambda h, m: m["state"]["architecture"]["layers"][0].__setitem__("out_features", 3)
        ),
        "the architecture needs (3, 2)",
    ),
    "checkpoint_state_not_object": (
        tampered(lambda h, m: m.__setitem__("state", [1, 2])),
        "has no 'state' object",
    ),
    "checkpoint_unexpected_tensor": (
        tampered(lambda h, m: h.__setitem__("evil", h.pop("optimizer.0.momentum_buffer"))),
        "unexpected tensor 'evil'",
    ),
    "checkpoint_param_groups_not_list": (
        tampered(lambda h, m: m["state"]["optimizer"].__setitem__("param_groups", 7)),
        "param_groups must be a list",
    ),
    "checkpoint_bad_tagged_float": (
        tampered(lambda h, m: m["state"].__setitem__("state", {"x": {"__float__": "1e999"}})),
        "bad tagged float",
    ),
}


def _materialize(content, tmp_path):
    if callable(content):
        content = content(tmp_path)
    if isinstance(content, bytes):
        path = tmp_path / "case.safetensors"
        path.write_bytes(content)
        return path
    return content


def test_corpus_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", sorted(CASES))
def test_load_raises_model_format_error(name, tmp_path):
    content, fragment = CASES[name]
    path = _materialize(content, tmp_path)
    with pytest.raises(cr.ModelFormatError) as caught:
        cr.load(path)
    message = str(caught.value)
    assert fragment in message, message
    assert "\n" not in message and str(path) in message


@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_exits_2_with_one_line(name, tmp_path, capsys):
    content, fragment = CASES[name]
    path = _materialize(content, tmp_path)
    assert main(["info", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error: "), captured.err
    assert fragment in lines[0]


def test_predict_and_evaluate_refuse_a_fifo_without_blocking(tmp_path, capsys):
    fifo = _fifo(tmp_path)
    data = tmp_path / "d.csv"
    data.write_text("a,y\n1,x\n")
    for command in (["predict", str(fifo), str(data)], ["evaluate", str(fifo), str(data)]):
        assert main(command) == 2
        assert "FIFO" in capsys.readouterr().err


def test_float16_models_round_trip(tmp_path):
    model = nn.Sequential(
        nn.Linear(3, 4, dtype=np.float16, generator=0),
        nn.BatchNorm1d(4, dtype=np.float16),
        nn.ReLU(),
        nn.Linear(4, 2, dtype=np.float16, generator=1),
    )
    cr.save(model, tmp_path / "half.safetensors")
    loaded = cr.load(tmp_path / "half.safetensors")
    for key, value in model.state_dict().items():
        assert loaded.state_dict()[key].dtype == value.dtype
        assert loaded.state_dict()[key].tobytes() == value.tobytes()
    x = np.array([[0.5, -1.0, 2.0]], np.float16)
    assert cr.train.predict(loaded, x).dtype == np.float16


@pytest.mark.parametrize(
    "poison, fragment",
    [
        (np.nan, "tensor '0.weight' has a non-finite value (nan) at index (0, 1)"),
        (np.inf, "tensor '0.weight' has a non-finite value (inf) at index (0, 1)"),
    ],
)
def test_save_refuses_what_load_refuses_with_the_same_message(poison, fragment, tmp_path):
    model = nn.Sequential(nn.Linear(2, 2, generator=0))
    model[0].weight.data[0, 1] = poison
    path = tmp_path / "m.safetensors"
    with pytest.raises(cr.ModelFormatError) as saved:
        cr.save(model, path)
    assert fragment in str(saved.value) and "refusing to save" in str(saved.value)
    assert not path.exists()
    # The same tensor written around save is refused by load with the same words.
    header, data, doc = parts(
        tensors={"0.weight": model[0].weight.data, "0.bias": model[0].bias.data}
    )
    path.write_bytes(assemble(header, data, doc))
    with pytest.raises(cr.ModelFormatError) as loaded:
        cr.load(path)
    assert fragment in str(loaded.value)


def test_save_refuses_a_model_whose_chain_does_not_run(tmp_path):
    model = nn.Sequential(nn.Linear(5, 8, generator=0), nn.Linear(6, 2, generator=1))
    with pytest.raises(cr.ModelFormatError, match="expects 6 inputs but the layer before"):
        cr.save(model, tmp_path / "m.safetensors")
    softmax = nn.Sequential(nn.Linear(3, 2, generator=0), nn.Softmax(dim=7))
    with pytest.raises(cr.ModelFormatError, match="dim 7 is out of range"):
        cr.save(softmax, tmp_path / "s.safetensors")
