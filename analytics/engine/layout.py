"""The partitioned engine's input: integer-coded labels in Parquet, partitioned by items.

DuckDB does all the set work out of core (under ``memory_limit``, spilling to the layout
folder): it takes the final answers (the latest ``create``/``update`` per worker and task, a
``delete`` removes the answer: the rule of :func:`analytics.dataset.load_project`), codes
tasks, workers and classes into the same sorted id tables as :class:`~analytics.dataset.LabelArrays`
(tasks and workers in byte order of their ids, classes by :func:`~analytics.dataset.sort_classes`),
and writes::

    <dir>/items/part=<p>/*.parquet   labels of a contiguous range of task codes, about
                                     ``partition_labels`` labels per partition
    <dir>/task_ids.parquet           task code -> id;  <dir>/worker_ids.parquet likewise
    <dir>/layout.json                sizes, classes, partitions (task range, labels, row offset)

Rows are in the canonical order (task code, worker code) of the in-memory path, so a label's
*row* (its position in that order) is the same in both paths; every seeded random draw that
the detectors make per row is reproduced per partition from that offset.

Sources: a workspace project (:func:`from_workspace`, banned workers left out as in
:func:`analytics.pipeline.analyze`), or a Parquet file or folder of Parquet files in place
(:func:`from_parquet`, canonical columns ``task, worker, label`` and optionally
``submitted_at, started_at, duration_s, event``), such as a data-lake export.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np

from analytics.dataset import FINAL_ANSWERS_SQL, sort_classes
from analytics.errors import UserError

#: Labels per item partition (about 0.3 GB of working memory per partition in the item steps).
PARTITION_LABELS: int = 2_000_000
#: DuckDB's memory limit while it prepares the layout (it spills to the layout folder beyond it).
PREPARE_MEMORY: str = "2GB"


@dataclass
class Layout:
    """A prepared, item-partitioned dataset (see the module docstring)."""

    path: Path
    n: int
    n_tasks: int
    n_workers: int
    classes: list[str]
    parts: list[dict]
    columns: list[str]
    n_gold: int = 0
    t_span: tuple[float, float] | None = None
    worker_counts: list[int] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def save(self) -> None:
        d = {k: getattr(self, k) for k in ("n", "n_tasks", "n_workers", "classes", "parts", "columns", "n_gold",
                                           "t_span")}
        (self.path / "layout.json").write_text(json.dumps(d))

    @classmethod
    def load(cls, path: str | Path) -> Layout:
        path = Path(path)
        d = json.loads((path / "layout.json").read_text())
        d["t_span"] = tuple(d["t_span"]) if d.get("t_span") else None
        return cls(path=path, **d)

    def worker_ids(self) -> np.ndarray:
        return _read_ids(self.path / "worker_ids.parquet")

    def task_ids(self) -> np.ndarray:
        return _read_ids(self.path / "task_ids.parquet")


def _read_ids(path: Path) -> np.ndarray:
    import pyarrow.parquet as pq

    col = pq.read_table(path, columns=["id"]).column("id")
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)


def _connect(out: Path, memory_limit: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET memory_limit = ?", [memory_limit])
    con.execute("SET temp_directory = ?", [str(out / "duckdb_tmp")])
    con.execute("SET preserve_insertion_order = false")
    return con


def from_workspace(con, project_id: int, out: str | Path, exclude_workers: list[str] | None = None,
                   partition_labels: int = PARTITION_LABELS) -> Layout:
    """Write the layout of one workspace project (its final answers, banned workers left out)."""
    out = _fresh(out)
    extra = ""
    params: dict = {"project_id": project_id}
    if exclude_workers:
        extra = "AND NOT list_contains($excluded, worker)"
        params["excluded"] = list(exclude_workers)
    sql = FINAL_ANSWERS_SQL.format(extra_filter=extra).rsplit("ORDER BY", 1)[0]
    con.execute(f"CREATE OR REPLACE TEMP TABLE engine_final AS {sql}", params)
    try:
        row = con.execute("SELECT label_set FROM projects WHERE project_id = ?", [project_id]).fetchone()
        declared = list(row[0]) if row and row[0] else None
        gold = con.execute("SELECT task, label FROM gold WHERE project_id = ?", [project_id]).df()
        con.register("engine_gold", gold)
        return _write(con, "engine_final", "engine_gold", declared, out, partition_labels)
    finally:
        con.execute("DROP TABLE IF EXISTS engine_final")
        con.unregister("engine_gold") if _registered(con, "engine_gold") else None


def _registered(con, name: str) -> bool:
    try:
        con.execute(f"SELECT 1 FROM {name} LIMIT 0")
        return True
    except duckdb.Error:
        return False


def from_parquet(source: str | Path, out: str | Path, gold: str | Path | None = None,
                 mapping: dict[str, str] | None = None, partition_labels: int = PARTITION_LABELS,
                 memory_limit: str = PREPARE_MEMORY) -> Layout:
    """Write the layout of a Parquet file or folder (read in place, never loaded whole)."""
    source = Path(source)
    files = sorted(str(p) for p in source.rglob("*.parquet")) if source.is_dir() else [str(source)]
    if not files:
        raise UserError(f"{source}: no .parquet files in this folder")
    out = _fresh(out)
    con = _connect(out, memory_limit)
    try:
        try:
            cols = {r[0]: r[1] for r in con.execute(
                "DESCRIBE SELECT * FROM read_parquet(?, union_by_name = true)", [files]).fetchall()}
        except duckdb.Error as err:
            raise UserError(f"{source}: not readable as Parquet ({str(err).splitlines()[0]})") from err
        names = {c: c for c in cols}
        for canon, src in (mapping or {}).items():
            if src not in cols:
                raise UserError(f"{source}: --map {canon}={src}: there is no column {src!r}")
            names[canon] = src
        missing = [c for c in ("task", "worker", "label") if c not in names]
        if missing:
            raise UserError(f"{source}: missing column(s) {', '.join(missing)}; the Parquet files need task, worker "
                            "and label (use --map canonical=column to name others)")
        sel = [f'CAST("{names[c]}" AS VARCHAR) AS {c}' for c in ("task", "worker", "label")]
        for c in ("started_at", "submitted_at"):
            sel.append(_epoch(names.get(c), cols.get(names.get(c, ""), "")) + f" AS {c}")
        sel.append(f'CAST("{names["duration_s"]}" AS DOUBLE) AS duration_s' if "duration_s" in names
                   else "CAST(NULL AS DOUBLE) AS duration_s")
        sel.append(f'lower(CAST("{names["event"]}" AS VARCHAR)) AS event' if "event" in names else "'create' AS event")
        con.execute(f"CREATE TEMP TABLE raw AS SELECT {', '.join(sel)}, filename AS f, file_row_number AS r "
                    "FROM read_parquet(?, union_by_name = true, filename = true, file_row_number = true)", [files])
        for c in ("task", "worker", "label"):
            bad = con.execute(f"SELECT count(*) FROM raw WHERE {c} IS NULL OR trim({c}) = ''").fetchone()[0]
            if bad:
                raise UserError(f"{source}: {bad:,} rows have an empty {c}; fill them in or remove them")
        con.execute("""
            CREATE TEMP TABLE final AS
            WITH ranked AS (
                SELECT *, row_number() OVER (PARTITION BY task, worker
                          ORDER BY coalesce(submitted_at, started_at) DESC NULLS LAST, f DESC, r DESC) AS rn,
                       count(*) OVER (PARTITION BY task, worker) - 1 AS n_edits
                FROM raw)
            SELECT task, worker, label, started_at, submitted_at, duration_s, n_edits::INTEGER AS n_edits
            FROM ranked WHERE rn = 1 AND coalesce(event, 'create') <> 'delete'""")
        con.execute("DROP TABLE raw")
        gold_rel = None
        if gold is not None:
            import pandas as pd

            g = pd.read_csv(gold, dtype=str) if str(gold).endswith((".csv", ".tsv")) else pd.read_parquet(gold)
            if not {"task", "label"} <= set(g.columns):
                raise UserError(f"{gold}: gold answers need columns task and label")
            con.register("gold_df", g[["task", "label"]].astype(str))
            gold_rel = "gold_df"
        return _write(con, "final", gold_rel, None, out, partition_labels)
    finally:
        con.close()


def _epoch(col: str | None, typ: str) -> str:
    if col is None:
        return "CAST(NULL AS DOUBLE)"
    t = typ.upper()
    if "TIMESTAMP" in t or t == "DATE":
        return f'epoch(CAST("{col}" AS TIMESTAMPTZ))'
    if any(k in t for k in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL")):
        return f'CAST("{col}" AS DOUBLE)'
    return f'epoch(TRY_CAST("{col}" AS TIMESTAMPTZ))'


def _fresh(out: str | Path) -> Path:
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    (out / "items").mkdir(parents=True)
    return out


def _write(con, final: str, gold: str | None, declared: list[str] | None, out: Path,
           partition_labels: int) -> Layout:
    """Code the final answers in table ``final`` and write the layout files."""
    n = con.execute(f"SELECT count(*) FROM {final}").fetchone()[0]
    if n == 0:
        raise UserError("no labels to analyse: the project is empty")
    labels = [r[0] for r in con.execute(f"SELECT DISTINCT label FROM {final}").fetchall()]
    if declared:
        classes = list(declared) + sorted(set(labels) - set(declared))
    else:
        classes = [str(c) for c in sort_classes(labels)]
    if len(classes) > max(30, n / 5):
        raise UserError(f"the label column has {len(classes):,} distinct values in {n:,} answers: it is free text or "
                        "an id, not a set of classes; choose the answer column")
    import pandas as pd

    con.register("engine_classes", pd.DataFrame({"label": classes, "lc": np.arange(len(classes), dtype=np.int16)}))
    con.execute(f"CREATE OR REPLACE TEMP TABLE tids AS SELECT id, (row_number() OVER (ORDER BY id) - 1)::INTEGER "
                f"AS code FROM (SELECT DISTINCT task AS id FROM {final})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE wids AS SELECT id, (row_number() OVER (ORDER BY id) - 1)::INTEGER "
                f"AS code FROM (SELECT DISTINCT worker AS id FROM {final})")
    con.execute(f"COPY (SELECT code, id FROM tids ORDER BY code) TO '{out / 'task_ids.parquet'}' (FORMAT parquet)")
    con.execute(f"COPY (SELECT code, id FROM wids ORDER BY code) TO '{out / 'worker_ids.parquet'}' (FORMAT parquet)")
    T = con.execute("SELECT count(*) FROM tids").fetchone()[0]
    W = con.execute("SELECT count(*) FROM wids").fetchone()[0]
    gold_join, gold_col = "", "CAST(-1 AS SMALLINT) AS gold"
    if gold is not None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE gcodes AS SELECT t.code AS tc, any_value(c.lc) AS gl FROM {gold} g "
                    "JOIN tids t ON t.id = CAST(g.task AS VARCHAR) JOIN engine_classes c ON c.label = CAST(g.label AS "
                    "VARCHAR) GROUP BY t.code")
        gold_join = "LEFT JOIN gcodes gc ON gc.tc = t.code"
        gold_col = "coalesce(gc.gl, -1)::SMALLINT AS gold"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE coded AS
        SELECT t.code AS task, w.code AS worker, c.lc AS label, f.submitted_at, f.started_at, f.duration_s,
               f.n_edits, {gold_col}
        FROM {final} f JOIN tids t ON t.id = f.task JOIN wids w ON w.id = f.worker
        JOIN engine_classes c ON c.label = f.label {gold_join}""")
    # partitions: contiguous task ranges of about partition_labels labels each
    per_task = con.execute("SELECT task, count(*) FROM coded GROUP BY task ORDER BY task").fetchnumpy()
    counts = np.zeros(T, np.int64)
    counts[per_task["task"]] = per_task["count_star()"]
    cum = np.concatenate([[0], np.cumsum(counts)])
    part_of = np.minimum(cum[:-1] // max(int(partition_labels), 1), np.iinfo(np.int32).max).astype(np.int32)
    bounds = np.flatnonzero(np.r_[True, part_of[1:] != part_of[:-1]])
    part_id = np.cumsum(np.r_[True, part_of[1:] != part_of[:-1]]).astype(np.int32) - 1
    con.register("engine_parts", pd.DataFrame({"task": np.arange(T, dtype=np.int32), "part": part_id}))
    cols = ["task", "worker", "label", "n_edits", "gold"]
    present = {}
    for c in ("submitted_at", "started_at", "duration_s"):
        present[c] = con.execute(f"SELECT count({c}) FROM coded").fetchone()[0] > 0
        if present[c]:
            cols.append(c)
    con.execute(f"COPY (SELECT {', '.join('c.' + x for x in cols)}, p.part FROM coded c JOIN engine_parts p "
                f"USING (task)) TO '{out / 'items'}' (FORMAT parquet, PARTITION_BY (part), OVERWRITE_OR_IGNORE)")
    stats = con.execute("SELECT min(coalesce(submitted_at, started_at)), max(coalesce(submitted_at, started_at)), "
                        "count(*) FILTER (WHERE gold >= 0) FROM coded").fetchone()
    n_gold = int(con.execute("SELECT count(DISTINCT task) FROM coded WHERE gold >= 0").fetchone()[0])
    parts = []
    ends = np.r_[bounds[1:], T]
    for p, (lo, hi) in enumerate(zip(bounds, ends, strict=True)):
        parts.append({"part": p, "path": str(out / "items" / f"part={p}"), "task_lo": int(lo), "task_hi": int(hi),
                      "n": int(cum[hi] - cum[lo]), "row_offset": int(cum[lo])})
    con.execute("DROP TABLE IF EXISTS coded")
    con.unregister("engine_parts")
    con.unregister("engine_classes")
    layout = Layout(path=out, n=int(n), n_tasks=int(T), n_workers=int(W), classes=classes, parts=parts,
                    columns=cols, n_gold=n_gold,
                    t_span=(float(stats[0]), float(stats[1])) if stats[0] is not None else None)
    layout.save()
    shutil.rmtree(out / "duckdb_tmp", ignore_errors=True)
    return layout
