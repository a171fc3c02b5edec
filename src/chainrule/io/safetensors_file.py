"""Reading and writing safetensors files, validating every byte before trusting it.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON
(``{name: {"dtype", "shape", "data_offsets"}, "__metadata__": {str: str}}``) and the
tensor data. ``read_validated`` checks the header against the file size before it
reads anything else, so a hostile file can neither make us allocate more than its
own size nor reach the decoder with inconsistent offsets. The decoding itself and
all writing go through the ``safetensors`` package (the ``chainrule[io]`` extra),
which never unpickles.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .atomic import atomic_write
from .errors import ModelFormatError

METADATA_KEY = "chainrule"
# safetensors itself refuses headers above 100 MB; a model's header is a few kB.
MAX_HEADER_BYTES = 100_000_000
DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


@dataclass(frozen=True)
class TensorInfo:
    """One header entry: dtype code, shape and byte range inside the data section."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def safetensors_numpy() -> Any:
    """The ``safetensors.numpy`` module, or an ImportError naming the extra to install."""
    try:
        import safetensors.numpy as st
    except ImportError as error:
        raise ImportError(
            "model and checkpoint files need the safetensors package: pip install 'chainrule[io]'"
        ) from error
    return st


def write_file(
    path: str | os.PathLike, tensors: Mapping[str, np.ndarray], document: Mapping[str, Any]
) -> None:
    """Write ``tensors`` and the JSON ``document`` (stored in ``__metadata__``) atomically."""
    st = safetensors_numpy()
    # np.ascontiguousarray would turn 0-d arrays (num_batches_tracked) into shape (1,).
    arrays = {name: np.array(value, order="C", copy=None) for name, value in tensors.items()}
    # allow_nan=False: NaN and Infinity are not JSON, and other readers would reject them.
    header = {METADATA_KEY: json.dumps(document, allow_nan=False, sort_keys=True)}
    payload = st.save(arrays, metadata=header)
    with atomic_write(path) as handle:
        handle.write(payload)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ModelFormatError(f"duplicate key {key!r} in the JSON header")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ModelFormatError(f"the JSON header contains {name}, which is not valid JSON")


def parse_json(text: str | bytes, where: str) -> Any:
    """Strict JSON: no duplicate keys, no NaN/Infinity; errors become ModelFormatError."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except ModelFormatError as error:
        raise ModelFormatError(f"{where}: {error}") from None
    except (ValueError, RecursionError) as error:
        raise ModelFormatError(f"{where} is not valid JSON ({error})") from None


def _sniff(prefix: bytes) -> str:
    """A hint for files that are something else entirely (pickles, zips, text)."""
    if prefix[:1] == b"\x80" and prefix[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return " (it looks like a Python pickle, which chainrule never loads)"
    if prefix[:4] == b"PK\x03\x04":
        return " (it looks like a zip archive, e.g. a torch.save file, which chainrule never loads)"
    if prefix[:6] == b"\x93NUMPY":
        return " (it looks like a .npy file)"
    if prefix[:1] in (b"{", b"#", b"<") or prefix[:2] == b"\xef\xbb":
        return " (it looks like a text file)"
    return ""


def _check_entry(name: Any, entry: Any) -> TensorInfo:
    if not isinstance(name, str) or not name:
        raise ModelFormatError(f"tensor name {name!r} is not a non-empty string")
    if not isinstance(entry, dict):
        raise ModelFormatError(f"tensor {name!r}: header entry is not an object")
    extra = set(entry) - {"dtype", "shape", "data_offsets"}
    missing = {"dtype", "shape", "data_offsets"} - set(entry)
    if missing or extra:
        raise ModelFormatError(
            f"tensor {name!r}: header entry needs exactly dtype, shape and data_offsets "
            f"(missing {sorted(missing)}, unexpected {sorted(extra)})"
        )
    dtype = entry["dtype"]
    if dtype not in DTYPES:
        raise ModelFormatError(
            f"tensor {name!r}: unknown or unsupported dtype {dtype!r} (known: {', '.join(DTYPES)})"
        )
    shape = entry["shape"]
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ModelFormatError(
            f"tensor {name!r}: shape must be a list of non-negative integers, got {shape!r}"
        )
    if len(shape) > 32:
        raise ModelFormatError(f"tensor {name!r}: {len(shape)} dimensions is too many")
    offsets = entry["data_offsets"]
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
    ):
        raise ModelFormatError(
            f"tensor {name!r}: data_offsets must be two non-negative integers, got {offsets!r}"
        )
    begin, end = offsets
    if end < begin:
        raise ModelFormatError(f"tensor {name!r}: data_offsets end {end} is before begin {begin}")
    # Python integers do not overflow, so a huge shape cannot wrap around to a small size.
    needed = math.prod(shape) * DTYPES[dtype].itemsize
    if needed != end - begin:
        raise ModelFormatError(
            f"tensor {name!r}: shape {tuple(shape)} of {dtype} needs {needed} bytes but "
            f"data_offsets [{begin}, {end}] span {end - begin}"
        )
    return TensorInfo(dtype, tuple(shape), begin, end)


def read_header(path: str | os.PathLike) -> tuple[dict[str, TensorInfo], dict[str, str], int]:
    """Validate a file's header without reading its data: (tensors, __metadata__, data start).

    Raises ModelFormatError for anything a safetensors file may not contain.
    """
    name = os.fspath(path)
    try:
        info = os.stat(name)
    except FileNotFoundError:
        raise ModelFormatError(f"{name}: no such file") from None
    except OSError as error:
        raise ModelFormatError(f"{name}: cannot read it ({error.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ModelFormatError(f"{name}: is a directory, not a model file")
    size = info.st_size
    try:
        with open(name, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise ModelFormatError(
                    f"{name}: not a model file: {size} bytes is shorter than the 8-byte "
                    "header length of a safetensors file"
                )
            length = int.from_bytes(prefix, "little")
            if length > min(size - 8, MAX_HEADER_BYTES):
                raise ModelFormatError(
                    f"{name}: not a model file: its header length field says {length} bytes "
                    f"but the file has {size - 8} after it{_sniff(prefix)}"
                )
            raw = handle.read(length)
    except OSError as error:
        raise ModelFormatError(f"{name}: cannot read it ({error.strerror})") from None
    if len(raw) != length:
        raise ModelFormatError(f"{name}: the file changed while it was read")
    if not raw.lstrip(b" ").startswith(b"{"):
        raise ModelFormatError(f"{name}: not a model file: the header is not a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ModelFormatError(
            f"{name}: the header is not valid UTF-8 (byte {error.start})"
        ) from None
    header = parse_json(text, f"{name}: header")
    if not isinstance(header, dict):
        raise ModelFormatError(f"{name}: the header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ModelFormatError(f"{name}: __metadata__ must map strings to strings")
    try:
        tensors = {key: _check_entry(key, entry) for key, entry in header.items()}
    except ModelFormatError as error:
        raise ModelFormatError(f"{name}: {error}") from None
    data_size = size - 8 - length
    position = 0
    for key, entry in sorted(tensors.items(), key=lambda item: (item[1].begin, item[1].end)):
        if entry.begin < position:
            raise ModelFormatError(
                f"{name}: tensor {key!r} overlaps the tensor before it (starts at byte "
                f"{entry.begin}, previous ends at {position})"
            )
        if entry.begin > position:
            raise ModelFormatError(
                f"{name}: a gap of {entry.begin - position} bytes before tensor {key!r}: "
                "the offsets must be contiguous"
            )
        position = entry.end
    if position != data_size:
        raise ModelFormatError(
            f"{name}: the tensors cover {position} bytes of data but the file has {data_size}"
            + (" (truncated?)" if position > data_size else " (trailing bytes)")
        )
    return tensors, metadata, 8 + length


def read_validated(
    path: str | os.PathLike,
    check_header: Any = None,
) -> tuple[dict[str, np.ndarray], Any]:
    """Read a chainrule safetensors file: (name -> array, the JSON document).

    Order of checks: header bytes and offsets (``read_header``), the JSON document,
    then ``check_header(tensors_info, document)`` — the caller's check of shapes
    against the architecture — and only then the data, whose floats must be finite.
    """
    name = os.fspath(path)
    infos, metadata, _ = read_header(name)
    if METADATA_KEY not in metadata:
        raise ModelFormatError(
            f"{name}: a safetensors file but not a chainrule file (no {METADATA_KEY!r} "
            "entry in __metadata__)"
        )
    document = parse_json(metadata[METADATA_KEY], f"{name}: metadata")
    if check_header is not None:
        try:
            check_header(infos, document)
        except ModelFormatError as error:
            raise ModelFormatError(f"{name}: {error}") from None
    st = safetensors_numpy()
    try:
        with open(name, "rb") as handle:
            payload = handle.read()
        tensors = st.load(payload)
    except OSError as error:
        raise ModelFormatError(f"{name}: cannot read it ({error.strerror})") from None
    except Exception as error:  # the decoder's own refusal, whatever its type
        raise ModelFormatError(f"{name}: safetensors could not decode it ({error})") from None
    if set(tensors) != set(infos):
        raise ModelFormatError(f"{name}: the file changed while it was read")
    for key in infos:  # header order, so the first bad tensor named is stable
        array = tensors[key]
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
            raise ModelFormatError(
                f"{name}: tensor {key!r} has a non-finite value ({array[where]}) at index {where}"
            )
    return tensors, document
