"""Data-parallel training over MPI (mpi4py), imported lazily.

``import chainrule`` never imports mpi4py; it is imported when the environment shows an
MPI launcher (``mpiexec -n N …``) or when ``init(force=True)`` insists. Without MPI
every function works as a world of one process (rank 0, size 1, collectives are
no-ops), so the same program runs with and without ``mpiexec``.

One step of data-parallel training (every rank)::

    flat = nn.utils.flatten_parameters(model)        # one gradient buffer
    distributed.broadcast_parameters(flat)           # rank 0's initial weights
    part = distributed.local_batch(batch, rank, size) # this rank's rows of the batch
    loss = loss_fn(model(x[part]), y[part]) * distributed.local_weight(len(part), len(batch))
    loss.backward()
    distributed.allreduce_(flat.grad)                # Σ over ranks = one process's gradient
    opt.step()                                       # the same step on every rank

Install with ``pip install "chainrule[mpi]"`` (mpi4py and the ``mpich`` wheel, whose
``mpiexec`` lands next to the venv's ``python``).
"""

from .batchnorm import sync_batch_norm_backward_sums, sync_batch_stats
from .comm import (
    all_finite,
    allreduce_,
    allreduce_scalars,
    barrier,
    broadcast_array_,
    broadcast_object,
    broadcast_parameters,
    init,
    is_distributed,
    is_main,
    launched_under_mpi,
    mpiexec_path,
    rank,
    world_size,
)
from .guard import abort_on_error
from .shard import local_batch, local_weight, shard_bounds, shard_rows

__all__ = [
    "abort_on_error",
    "all_finite",
    "allreduce_",
    "allreduce_scalars",
    "barrier",
    "broadcast_array_",
    "broadcast_object",
    "broadcast_parameters",
    "init",
    "is_distributed",
    "is_main",
    "launched_under_mpi",
    "local_batch",
    "local_weight",
    "mpiexec_path",
    "rank",
    "shard_bounds",
    "shard_rows",
    "sync_batch_norm_backward_sums",
    "sync_batch_stats",
    "world_size",
]
