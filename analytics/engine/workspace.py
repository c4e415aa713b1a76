"""``analyze --engine dask``: a workspace project analysed partitioned, stored as a run.

The run is recorded like any other (parameters, input fingerprint, code version, duration,
audit entry); its parameters say ``engine: dask``, so it is never reused for an in-memory
request or the other way round. The fingerprint is computed by DuckDB over the project's
final answers (an order-free hash aggregate), so equal data gives an equal fingerprint
without reading the labels into Python.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import time
from pathlib import Path

import analytics
from analytics.errors import UserError
from analytics.store import first_row


def fingerprint(con, project_id: int, banned: list[str]) -> str:
    """SHA-256 over an order-free hash of the final answers, their count and the gold."""
    from analytics.dataset import FINAL_ANSWERS_SQL

    extra = "AND NOT list_contains($excluded, worker)" if banned else ""
    params: dict = {"project_id": project_id}
    if banned:
        params["excluded"] = list(banned)
    sql = FINAL_ANSWERS_SQL.format(extra_filter=extra).rsplit("ORDER BY", 1)[0]
    row = con.execute(f"SELECT count(*), bit_xor(hash(task, worker, label, started_at, submitted_at, duration_s, "
                      f"n_edits)) FROM ({sql})", params).fetchone()
    gold = con.execute("SELECT count(*), bit_xor(hash(task, label)) FROM gold WHERE project_id = ?",
                       [project_id]).fetchone()
    return hashlib.sha256(json.dumps(["dask", *row, *gold], default=str).encode()).hexdigest()


def analyze_partitioned_run(ws, pid: int, settings, banned: list[str], trusted: list[str], actor, progress,
                            force: bool, options: dict, project: str | None = None) -> int:
    """The partitioned twin of :func:`analytics.pipeline.analyze` (called from it, after its
    access check): ``actor`` is the signed-in identity the run's audit entry names."""
    from analytics import audit
    from analytics.engine import analyze_layout
    from analytics.engine import layout as lay
    from analytics.engine.output import write_run_tables
    from analytics.ingest.kinds import project_kind
    from analytics.pipeline import apply_trusted, mark_failed, store_run

    con = ws.con
    if ws.encrypted:
        raise UserError("--engine dask hands the labels to its workers as plain Parquet files, and this workspace "
                        "is encrypted: analyse it without --engine dask")
    kind, _ = project_kind(con, pid)
    if kind != "single":
        raise UserError(f"--engine dask analyses single-choice answers; this project has {kind} answers: "
                        "analyse it without --engine dask")
    method = settings.method
    fp = fingerprint(con, pid, banned)
    params = {"method": method, "settings": settings.to_dict(), "excluded_workers": sorted(banned),
              "trusted_workers": sorted(trusted), "engine": "dask"}
    params_json = json.dumps(params, sort_keys=True)
    if not force:
        row = first_row(con.execute(
            "SELECT run_id FROM runs WHERE project_id = ? AND status = 'complete' AND input_fingerprint = ?"
            " AND params::TEXT = ?::JSON::TEXT AND code_version = ? ORDER BY run_id DESC LIMIT 1",
            [pid, fp, params_json, analytics.code_version()]))
        if row:
            progress(1.0, f"reused run {row[0]} (same data and settings)")
            return int(row[0])
    with ws.transaction():
        run_id = int(first_row(con.execute(
            "INSERT INTO runs (project_id, method, params, input_fingerprint, code_version, host, pid)"
            " VALUES (?, ?, ?::JSON, ?, ?, ?, ?) RETURNING run_id",
            [pid, method, params_json, fp, analytics.code_version(), socket.gethostname(), os.getpid()]))[0])
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="crowdtrust-engine-", dir=options.pop("work_dir", None)) as tmp:
            progress(0.0, "writing the partitioned layout")
            layout = lay.from_workspace(con, pid, Path(tmp) / "layout", exclude_workers=banned)
            with ws.released():      # others may read and write while the cluster computes
                result = analyze_layout(layout, settings, Path(tmp) / "items",
                                        progress=lambda f, m: progress(0.05 + 0.85 * f, m), **options)
            apply_trusted(result, trusted)
            progress(0.92, "writing results")
            store_run(ws, run_id, pid, result, actor, t0, {"method": method, "fingerprint": fp, "engine": "dask"},
                      write=write_run_tables)
    except BaseException as exc:
        mark_failed(ws, run_id, exc)
        raise
    audit.write_anchor(ws.path, ws.con)
    if project is not None:                  # the project's alert rules, as after an in-memory run
        from analytics.monitor.alerts import evaluate_quietly

        progress(0.97, "evaluating alert rules")
        evaluate_quietly(ws, project, actor, f"run {run_id}")
    progress(1.0, f"run {run_id} complete")
    return run_id
