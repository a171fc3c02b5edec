"""The MPI world: detection, start-up, rank and size, and the collectives training needs.

mpi4py is imported only when the environment shows an MPI launcher (``mpiexec`` sets
``PMI_RANK``/``PMI_SIZE`` with MPICH, ``OMPI_COMM_WORLD_SIZE`` with Open MPI, …) or when
``init(force=True)`` insists: importing ``mpi4py.MPI`` starts MPI, which a plain
``python script.py`` must not pay for (nor need mpi4py installed for).

Nothing here pickles: arrays travel with the buffer collectives (``Bcast``,
``Allreduce``), small metadata as JSON bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "all_finite",
    "allreduce_",
    "allreduce_scalars",
    "allreduce_with_scalars_",
    "barrier",
    "broadcast_array_",
    "broadcast_object",
    "broadcast_parameters",
    "init",
    "is_distributed",
    "is_main",
    "launched_under_mpi",
    "mpiexec_path",
    "rank",
    "world_size",
]

# Variables an MPI launcher sets in each process it starts; the size ones are read first.
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")
_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MPI_LOCALRANKID")

_state: dict[str, Any] = {"comm": None, "mpi": None, "tried": False}


def launched_under_mpi(environ: dict[str, str] | None = None) -> bool:
    """Whether the environment shows an MPI launcher (any of its rank/size variables)."""
    env = os.environ if environ is None else environ
    return any(name in env for name in (*_SIZE_VARIABLES, *_RANK_VARIABLES))


def _import_mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(
            "distributed training needs mpi4py and an MPI implementation: "
            'pip install "chainrule[mpi]" (installs mpi4py and the mpich wheel, with mpiexec)'
        ) from error
    return MPI


def init(force: bool = False) -> int:
    """Start MPI when launched under an MPI launcher (or always, with ``force=True``).

    Returns the number of processes (1 when not launched under MPI). Idempotent; the
    other functions call it, so an explicit call is only needed to fail early (e.g.
    mpi4py missing under ``mpiexec``).
    """
    if _state["comm"] is None and (force or (not _state["tried"] and launched_under_mpi())):
        _state["tried"] = True
        mpi = _import_mpi()
        _state["mpi"], _state["comm"] = mpi, mpi.COMM_WORLD
    _state["tried"] = True
    comm = _state["comm"]
    return 1 if comm is None else int(comm.Get_size())


def _comm() -> Any:
    init()
    return _state["comm"]


def world_size() -> int:
    """The number of processes in the job (1 without MPI)."""
    return init()


def rank() -> int:
    """This process's rank, 0 … world_size() − 1 (0 without MPI)."""
    comm = _comm()
    return 0 if comm is None else int(comm.Get_rank())


def is_main() -> bool:
    """Whether this is rank 0: the process that writes files and prints."""
    return rank() == 0


def is_distributed() -> bool:
    """Whether this process is one of several under MPI (world size above 1)."""
    return world_size() > 1


def barrier() -> None:
    """Wait until every rank gets here (nothing without MPI)."""
    comm = _comm()
    if comm is not None:
        comm.Barrier()


def mpiexec_path() -> str | None:
    """The ``mpiexec`` next to this Python (a venv with the ``mpi`` extra), else on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("mpiexec")


# ---------------------------------------------------------------------------- collectives
def _check_buffer(array: Any, what: str) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{what} expected a NumPy array, got {type(array).__name__}")
    if not array.flags.c_contiguous or not array.flags.writeable:
        raise ValueError(f"{what} expected a writeable C-contiguous array (a flat buffer)")
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{what} expected numbers, got dtype {array.dtype}")
    return array


def allreduce_(array: np.ndarray, average: bool = False) -> np.ndarray:
    """Sum ``array`` (any shape, C-contiguous) over all ranks, in place; returns it.

    One ``Allreduce(IN_PLACE, SUM)``: for a model's flat gradient buffer
    (``nn.utils.flatten_parameters(model).grad``) that is one message per step.
    ``average=True`` divides by the world size afterwards (the mean of equal-sized
    local means); to reproduce one process's mean over a global batch when local
    batches differ in size, weight each local loss by ``local_rows / global_rows``
    instead and sum (see ``shard.local_weight``).
    """
    _check_buffer(array, "allreduce_")
    comm = _comm()
    if comm is not None and comm.Get_size() > 1:
        comm.Allreduce(_state["mpi"].IN_PLACE, array, op=_state["mpi"].SUM)
    if average:
        array /= world_size()
    return array


def allreduce_scalars(*values: float) -> np.ndarray:
    """The sums over ranks of a few numbers (loss sums, row counts, 0/1 flags), float64 (K,).

    One small Allreduce: every rank gets the same numbers, so decisions taken on them
    (early stopping, the divergence guard) are the same on every rank.
    """
    buffer = np.array(values, dtype=np.float64)
    if buffer.ndim != 1:
        raise ValueError(f"allreduce_scalars expected numbers, got shape {buffer.shape}")
    return allreduce_(buffer)


def allreduce_with_scalars_(arrays: list[np.ndarray], *values: float) -> np.ndarray:
    """Sum each of ``arrays`` over all ranks in place, and return the sums of ``values``
    (float64, (K,)), with one synchronisation between the ranks instead of two.

    The step of data-parallel training needs both the gradient buffers and the batch's
    loss reduced; the scalars go in a non-blocking ``Iallreduce`` started first and
    completed after the buffers' ``Allreduce``, so no rank waits twice for the slowest.
    """
    for array in arrays:
        _check_buffer(array, "allreduce_with_scalars_")
    scalars = np.array(values, dtype=np.float64)
    if scalars.ndim != 1:
        raise ValueError(f"allreduce_with_scalars_ expected numbers, got shape {scalars.shape}")
    comm = _comm()
    if comm is None or comm.Get_size() == 1:
        return scalars
    mpi = _state["mpi"]
    pending = comm.Iallreduce(mpi.IN_PLACE, scalars, op=mpi.SUM)
    try:
        for array in arrays:
            comm.Allreduce(mpi.IN_PLACE, array, op=mpi.SUM)
    finally:
        pending.Wait()
    return scalars


def all_finite(local_ok: bool) -> bool:
    """True on every rank iff ``local_ok`` is true on every rank (the collective guard:
    when one rank sees a NaN loss or gradient, no rank steps, and none waits)."""
    bad = allreduce_scalars(0.0 if local_ok else 1.0)[0]
    return bool(bad == 0.0)


def broadcast_array_(array: np.ndarray, root: int = 0) -> np.ndarray:
    """Overwrite ``array`` with rank ``root``'s values, in place (same shape and dtype
    on every rank — checked through a JSON header first); returns it."""
    _check_buffer(array, "broadcast_array_")
    comm = _comm()
    if comm is None or comm.Get_size() == 1:
        return array
    header = {"shape": list(array.shape), "dtype": array.dtype.str}
    theirs = broadcast_object(header, root=root)
    if theirs != header:
        raise ValueError(
            f"broadcast expected rank {rank()} to hold an array like rank {root}'s "
            f"(shape {tuple(theirs['shape'])}, dtype {theirs['dtype']}), got shape "
            f"{array.shape}, dtype {array.dtype.str}"
        )
    comm.Bcast(array, root=root)
    return array


def broadcast_parameters(model: Any, root: int = 0) -> None:
    """Give every rank rank ``root``'s parameter values (a Module, a list of tensors,
    or a ``FlatParameters``: one Bcast of its buffer), in place."""
    flat = getattr(model, "data", None)
    if isinstance(flat, np.ndarray) and hasattr(model, "grad_views"):
        broadcast_array_(flat, root=root)
        return
    params = model.parameters() if hasattr(model, "parameters") else model
    for p in params:
        broadcast_array_(p.data, root=root)


def broadcast_object(obj: Any = None, root: int = 0) -> Any:
    """Rank ``root``'s JSON-serialisable ``obj`` on every rank (others pass anything).

    For small metadata: the schema, encoder and scaler ``to_dict()`` states, options.
    Sent as UTF-8 JSON bytes (length first, then the bytes), never pickled.
    """
    comm = _comm()
    if comm is None or comm.Get_size() == 1:
        return obj
    if comm.Get_rank() == root:
        payload = json.dumps(obj, allow_nan=False).encode("utf-8")
        length = np.array([len(payload)], dtype=np.int64)
    else:
        payload, length = b"", np.zeros(1, dtype=np.int64)
    comm.Bcast(length, root=root)
    buffer = np.frombuffer(payload, dtype=np.uint8).copy() if payload else None
    if buffer is None:
        buffer = np.empty(int(length[0]), dtype=np.uint8)
    comm.Bcast(buffer, root=root)
    return json.loads(buffer.tobytes().decode("utf-8"))
