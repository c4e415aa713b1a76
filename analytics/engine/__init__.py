"""Partitioned execution of the analysis on a Dask cluster (``--engine dask``).

The in-memory path (:func:`analytics.pipeline.analyze_arrays`) holds every label, pair and
detector array of a project in one process: about 840 bytes per label, so one 24 GB machine
stops near 25M labels. Here the same analysis runs as partition-wise steps over columnar data
whose cost is bounded by the partition size:

1. :mod:`.layout` – DuckDB writes the final answers, integer-coded, as Parquet partitioned by
   items (from a workspace project, or a Parquet dataset read in place);
2. :mod:`.em` – the aggregation models' E-step per partition of items, their M-step a reduction
   of small per-worker sums (``ds``, ``cbds``, ``mv``; other models collect the coded labels on
   the client when they fit, and say so);
3. :mod:`.workers` – partitions of workers, built by one shuffle, where the behaviour detectors
   and the reliability scores run with their crowd-level statistics reduced over partitions
   (:mod:`analytics.crowdstats`);
4. :mod:`.agreement` – agreement statistics from per-partition sufficient statistics;
5. :mod:`.collusion` – co-error, agreement and co-timing evidence from item-partitioned pair
   sums reduced by pair, communities on the client;
6. :mod:`.analysis` – the steps in the order of the in-memory pipeline, the verdict on the
   client, per-item results written by the partitions; :mod:`.output` – CSVs and run tables.

The kernels are the in-memory ones; only how data reaches them changes, so the results are
the in-memory results up to the order of floating-point sums (tests/test_engine.py checks a
project end to end on a real two-process cluster). :mod:`.cluster` starts a local cluster or
connects to one. docs/scale.md has the cost model (partition sizes, shuffles, cost per label).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from analytics.errors import UserError

ENGINES = ("memory", "dask")


def analyze_layout(layout, settings, out_dir: Path, cluster: str | None = None, n_workers: int | None = None,
                   memory_limit: str | None = None, progress: Callable[[float, str], None] | None = None):
    """Run the partitioned analysis of a prepared :class:`~analytics.engine.layout.Layout`."""
    from analytics.engine import cluster as cl
    from analytics.engine.analysis import analyze_partitioned
    from analytics.engine.core import Engine

    progress = progress or (lambda f, m: None)
    progress(0.02, "starting the Dask cluster" if cluster is None else f"connecting to {cluster}")
    with cl.connect(cluster, n_workers or cl.N_WORKERS, memory_limit or cl.MEMORY_LIMIT,
                    local_dir=str(Path(out_dir).parent / "dask-worker-space")) as client:
        eng = Engine(client=client, layout=layout, progress=lambda f, m: None)
        return analyze_partitioned(eng, settings, Path(out_dir), progress=progress)


def run_file(src: Path, settings, work_dir: Path, gold: str | None = None, mapping: dict | None = None,
             ingest: Callable | None = None, **cluster_kw):
    """``analytics run --engine dask``: a Parquet file or folder is read in place; any other format
    goes through the usual ingest (``ingest(workspace)`` loads it into a throw-away workspace)
    and is then written out as the layout."""
    from analytics.engine import layout as lay

    src = Path(src)
    layout_dir = work_dir / "layout"
    progress = cluster_kw.get("progress") or (lambda f, m: None)
    if src.is_dir() or src.suffix.lower() == ".parquet":
        progress(0.0, "writing the partitioned layout")
        layout = lay.from_parquet(src, layout_dir, gold=gold, mapping=mapping)
    else:
        from analytics.ingest.kinds import project_kind
        from analytics.store import open_workspace

        ws = open_workspace(work_dir / "ws")
        try:
            ingest(ws)
            pid = ws.project_id("run")
            kind, _ = project_kind(ws.con, pid)
            if kind != "single":
                raise UserError(f"{src.name}: --engine dask analyses single-choice answers; this file has "
                                f"{kind} answers: run it without --engine dask")
            progress(0.0, "writing the partitioned layout")
            layout = lay.from_workspace(ws.con, pid, layout_dir)
        finally:
            ws.close()
    return analyze_layout(layout, settings, work_dir / "items", **cluster_kw), layout


def temp_dir(prefix: str = "crowdtrust-engine-") -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix=prefix)
