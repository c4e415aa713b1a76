"""The engine's handle on a Dask cluster: partitions as futures, maps, tree reductions.

Every step of the partitioned analysis is a Dask task on a future of a partition; the
scheduler places it (next to its data when it can), the workers spill to disk past their
memory limit, and a task that fails on a lost worker is retried (``retries``) from its
lineage: the partition is re-read from its Parquet files. Reductions are trees of small
tasks (``fan_in`` inputs each) so no process ever holds every partition's statistics at once.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from analytics.engine.layout import Layout

RETRIES = 2
FAN_IN = 8


def sum_dicts(*ds: dict) -> dict:
    """Add dicts of arrays and numbers key by key; keys ending in ``_max`` / ``_min`` take the max / min."""
    ds = [d for d in ds if d is not None]
    out: dict = {}
    for d in ds:
        for k, v in d.items():
            if k not in out:
                out[k] = np.array(v, copy=True) if isinstance(v, np.ndarray) else v
            elif k.endswith("_max"):
                out[k] = np.maximum(out[k], v)
            elif k.endswith("_min"):
                out[k] = np.minimum(out[k], v)
            else:
                out[k] = out[k] + v
    return out


def concat_lists(*xs: list) -> list:
    out: list = []
    for x in xs:
        out.extend(x)
    return out


@dataclass
class Engine:
    """A Dask client, the layout, and the item partitions as futures."""

    client: object
    layout: Layout
    progress: Callable[[float, str], None] = field(default=lambda f, m: None)
    parts: list = field(default_factory=list)

    def open_parts(self) -> list:
        """Load every item partition on the cluster (once; kept in worker memory, spilled when needed)."""
        from analytics.engine.items import load_part

        L = self.layout
        if not self.parts:
            self.parts = [self.client.submit(load_part, meta, L.n_workers, L.classes, L.columns, retries=RETRIES,
                                             key=f"items-{L.path.name}-{meta['part']}") for meta in L.parts]
        return self.parts

    def map(self, fn: Callable, *args, parts: list | None = None, **kwargs) -> list:
        """``fn(part, *args, **kwargs)`` on every partition; list arguments go one item per partition."""
        parts = self.open_parts() if parts is None else parts
        futs = []
        for i, p in enumerate(parts):
            a = [x[i] if isinstance(x, PerPart) else x for x in args]
            k = {n: (v[i] if isinstance(v, PerPart) else v) for n, v in kwargs.items()}
            futs.append(self.client.submit(fn, p, *a, retries=RETRIES, pure=False, **k))
        return futs

    def reduce(self, futs: list, fn: Callable = sum_dicts, fan_in: int = FAN_IN):
        """Tree-reduce futures with ``fn(*values)``; returns the gathered result."""
        if not futs:
            return None
        while len(futs) > 1:
            futs = [self.client.submit(fn, *futs[i:i + fan_in], retries=RETRIES, pure=False)
                    for i in range(0, len(futs), fan_in)]
        return futs[0].result()

    def item(self, futs: list, i: int) -> list:
        """Element ``i`` of tuple-valued futures, as futures."""
        return [self.client.submit(operator.getitem, f, i, pure=False) for f in futs]

    def broadcast(self, obj):
        """A value every worker holds once (scattered to all workers)."""
        return self.client.scatter(obj, broadcast=True, hash=False)

    def gather(self, futs: list) -> list:
        return self.client.gather(futs)

    def release(self, *futs_lists) -> None:
        for fl in futs_lists:
            for f in (fl or []):
                f.release()


class PerPart(list):
    """A list of per-partition arguments for :meth:`Engine.map` (one element per partition)."""
