"""Where the partitioned analysis runs: an existing Dask cluster, or a local one.

``cluster=None`` starts a :class:`distributed.LocalCluster` of ``n_workers`` worker processes
(one thread each: the numpy kernels are single-threaded and a process per core avoids the
GIL) with a per-worker ``memory_limit``; past 60% of it a worker spills partitions to disk,
past 80% it pauses, and a worker the nanny has to restart has its tasks retried from their
lineage (Dask's own scheduling, spilling and retries). ``cluster="tcp://host:port"`` connects
to a running scheduler instead; its workers must have this package importable.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from analytics.errors import UserError

#: Worker processes of a local cluster (this machine has 2 cores).
N_WORKERS: int = 2
#: Memory limit of each local worker process.
MEMORY_LIMIT: str = "4GB"


@contextlib.contextmanager
def connect(address: str | None = None, n_workers: int = N_WORKERS, memory_limit: str = MEMORY_LIMIT,
            local_dir: str | None = None) -> Iterator[object]:
    """A ``distributed.Client`` on ``address``, or on a local cluster closed on exit."""
    import dask
    from distributed import Client, LocalCluster

    dask.config.set({"distributed.worker.daemon": False, "distributed.comm.timeouts.connect": "30s",
                     "distributed.scheduler.allowed-failures": 3, "logging.distributed": "error"})
    if address is not None and not isinstance(address, str):     # a Client the caller owns
        yield address
        return
    if address:
        try:
            client = Client(address, timeout="30s")
        except (OSError, TimeoutError) as err:
            raise UserError(f"no Dask scheduler answers at {address} ({err}); start one with `dask scheduler` "
                            "and workers with `dask worker ADDRESS`, or leave --cluster out to run locally") from err
        try:
            yield client
        finally:
            client.close()
        return
    import warnings

    warnings.filterwarnings("ignore", message=r"Port \d+ is already in use")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, memory_limit=memory_limit,
                           dashboard_address=None, local_directory=local_dir, silence_logs=40)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
