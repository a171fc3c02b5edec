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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._regular_file import read_regular_file
from .atomic import atomic_write
from .errors import ModelFormatError

METADATA_KEY = "chainrule"
# safetensors itself refuses headers above 100 MB; a model's header is a few kB.
MAX_HEADER_BYTES = 100_000_000
# What one model or checkpoint file may hold; reading stops there (a device never ends).
MAX_FILE_BYTES = 1 << 34
TEXT_NOT_MODEL = (
    "this is a text/CSV file, not a model file (safetensors); "
    "give the .safetensors file that chainrule train or chainrule.save wrote"
)
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
    try:  # the same checks as reading: never write a file that load refuses
        infos_of(arrays)
        check_finite(arrays)
    except ModelFormatError as error:
        raise ModelFormatError(f"{os.fspath(path)}: refusing to save: {error}") from None
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


def _looks_like_text(prefix: bytes) -> bool:
    """True when the first bytes are printable text (a CSV, JSON or notes), not a length."""
    try:
        text = prefix.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\t\r\n" for ch in text)


def read_model_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a model or checkpoint file: a regular file only, never more than
    ``MAX_FILE_BYTES`` read (a FIFO or a device is refused, it cannot hang a command)."""
    return read_regular_file(
        path, what="a model file", error=ModelFormatError, max_bytes=MAX_FILE_BYTES
    )


def parse_header(name: str, content: bytes) -> tuple[dict[str, TensorInfo], dict[str, str], int]:
    """Validate the header of a file's bytes ``content``: (tensors, __metadata__, data start).

    ``name`` is only used in messages. Raises ModelFormatError for anything a
    safetensors file may not contain.
    """
    size = len(content)
    prefix = content[:8]
    if len(prefix) < 8:
        if size and _looks_like_text(content):
            raise ModelFormatError(f"{name}: {TEXT_NOT_MODEL}")
        raise ModelFormatError(
            f"{name}: not a model file: {size} bytes is shorter than the 8-byte "
            "header length of a safetensors file"
        )
    length = int.from_bytes(prefix, "little")
    if length > min(size - 8, MAX_HEADER_BYTES):
        # A text file's first 8 bytes read as a length near 10**18: say what it is instead.
        if _looks_like_text(content[:64]):
            raise ModelFormatError(f"{name}: {TEXT_NOT_MODEL}")
        raise ModelFormatError(
            f"{name}: not a model file: its header length field says {length} bytes "
            f"but the file has {size - 8} after it{_sniff(prefix)}"
        )
    raw = content[8 : 8 + length]
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
    _check_layout(name, tensors, size - 8 - length)
    return tensors, metadata, 8 + length


def _check_layout(name: str, tensors: dict[str, TensorInfo], data_size: int) -> None:
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


def read_header(path: str | os.PathLike) -> tuple[dict[str, TensorInfo], dict[str, str], int]:
    """Validate a file's header: (tensors, __metadata__, data start); see ``parse_header``."""
    name = os.fspath(path)
    return parse_header(name, read_model_bytes(name))


def infos_of(tensors: Mapping[str, np.ndarray]) -> dict[str, TensorInfo]:
    """The header entries ``tensors`` will get when written (what ``save`` validates)."""
    codes = {dtype: code for code, dtype in DTYPES.items()}
    infos = {}
    for key, value in tensors.items():
        array = np.asarray(value)
        code = codes.get(array.dtype.newbyteorder("<"))
        if code is None:
            raise ModelFormatError(
                f"tensor {key!r}: unknown or unsupported dtype {array.dtype} "
                f"(known: {', '.join(DTYPES)})"
            )
        infos[key] = TensorInfo(code, tuple(array.shape), 0, array.nbytes)
    return infos


def check_finite(tensors: Mapping[str, np.ndarray]) -> None:
    """Raise ModelFormatError naming the first float tensor (in order) with a NaN or inf.

    Shared by ``save`` and ``load``: a file ``save`` writes is one ``load`` accepts.
    """
    for key, array in tensors.items():
        array = np.asarray(array)
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
            raise ModelFormatError(
                f"tensor {key!r} has a non-finite value ({array[where]}) at index {where}"
            )


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
    content = read_model_bytes(name)
    infos, metadata, _ = parse_header(name, content)
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
        tensors = st.load(content)
    except Exception as error:  # the decoder's own refusal, whatever its type
        raise ModelFormatError(f"{name}: safetensors could not decode it ({error})") from None
    if set(tensors) != set(infos):
        raise ModelFormatError(f"{name}: the decoder found other tensors than the header lists")
    try:
        check_finite({key: tensors[key] for key in infos})  # header order: a stable name
    except ModelFormatError as error:
        raise ModelFormatError(f"{name}: {error}") from None
    return tensors, document
