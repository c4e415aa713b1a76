"""Results of a partitioned analysis: the ``run`` CSVs and the workspace's run tables.

Worker-level frames are written as :func:`analytics.pipeline.write_results` writes them; the
per-item tables are streamed from the partitions' Parquet files (DuckDB reads them, or one
partition at a time for the CSVs), never gathered into one frame.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analytics.engine.analysis import PartitionedAnalysis


def write_csvs(result: PartitionedAnalysis, out: Path) -> None:
    """DIR/labels.csv, workers.csv, items.csv with the columns of the CLI contract."""
    from analytics.export import to_bytes

    out.mkdir(parents=True, exist_ok=True)
    (out / "workers.csv").write_bytes(to_bytes(result.workers, "csv"))
    for kind in ("labels", "items"):
        with open(out / f"{kind}.csv", "wb") as fh:
            for i, path in enumerate(result.item_files(kind)):
                data = to_bytes(pd.read_parquet(path), "csv")
                if i:
                    data = data.split(b"\n", 1)[1] if b"\n" in data else b""
                fh.write(data)


def write_run_tables(con, run_id: int, r: PartitionedAnalysis) -> None:
    """Insert one partitioned run into the run_* tables (item tables straight from Parquet)."""
    from analytics.pipeline import Analysis, write_results

    shell = Analysis(consensus=None, labels=pd.DataFrame({"task": [], "label": [], "confidence": []}),
                     workers=r.workers, items=pd.DataFrame({c: [] for c in ("task", "label", "confidence", "n_labels",
                                                                             "suspect", "reasons")}),
                     signals=r.signals, confusion=r.confusion, pairs=r.pairs, communities=r.communities,
                     summary=r.summary, settings=r.settings, probs=pd.DataFrame({"task": [], "label": [], "p": []}))
    write_results(con, run_id, shell)
    items = [str(p) for p in r.item_files("items")]
    labels = [str(p) for p in r.item_files("labels")]
    con.execute("INSERT INTO run_tasks SELECT ?, task, label, confidence, n_labels, suspect, reasons "
                "FROM read_parquet(?)", [run_id, items])
    core = {"task", "label", "confidence", "n_labels", "suspect", "reasons"}
    cols = [c for c, t in con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
                                      [items]).fetchall() if c not in core and t in ("DOUBLE", "BIGINT", "BOOLEAN",
                                                                                     "INTEGER", "FLOAT")]
    if cols:
        sel = ", ".join(f'CAST("{c}" AS DOUBLE) AS "{c}"' for c in cols)
        on = ", ".join(f'"{c}"' for c in cols)
        con.execute(f"INSERT INTO run_task_scores SELECT ?, task, name, value FROM (UNPIVOT (SELECT task, {sel} FROM "
                    f"read_parquet(?)) ON {on} INTO NAME name VALUE value) WHERE value IS NOT NULL AND NOT isnan(value)",
                    [run_id, items])
    pcols = [c for (c,) in con.execute("SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(?))",
                                       [labels]).fetchall() if c.startswith("p_")]
    on = ", ".join(f'"{c}"' for c in pcols)
    con.execute(f"INSERT INTO run_task_probs SELECT ?, task, substr(name, 3), p FROM (UNPIVOT (SELECT task, {on} FROM "
                f"read_parquet(?)) ON {on} INTO NAME name VALUE p)", [run_id, labels])
