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

from . import comm
from .batchnorm import sync_batch_norm_backward_sums, sync_batch_stats
from .comm import *  # noqa: F403 (comm's __all__ names them)
from .guard import abort, abort_on_error
from .shard import local_batch, local_weight, shard_bounds, shard_rows

# The other modules' names, then comm's own __all__: a function added to comm is
# exported here without a second list to keep in step.
__all__ = [
    "abort",
    "abort_on_error",
    "local_batch",
    "local_weight",
    "shard_bounds",
    "shard_rows",
    "sync_batch_norm_backward_sums",
    "sync_batch_stats",
]
__all__ += comm.__all__
