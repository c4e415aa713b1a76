"""The Workers page's table: one row per worker with verdict, trust, reasons and scores.

Long per-run score tables (``run_worker_scores``) are pivoted over the score names that
exist for that run, so detectors can add scores without touching this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analytics.errors import UserError
from analytics.results.sql import _clean, _df, _final, _ident, _literal, _one
from analytics.results.verdicts import _BANNED_CTE, _FIRED_CTE, _REASONS_SQL, _VERDICT_SQL

# Score names written by the detectors that the workers table shows under a fixed column.
# The first candidate present in a run wins; a column is left empty when none is present.
WORKER_SCORE_COLUMNS: dict[str, tuple[str, ...]] = {
    "gold_accuracy": ("gold_accuracy", "gold_acc", "gold_accuracy_mean"),
    "gold_lo": ("gold_accuracy_lo", "gold_acc_lo", "gold_lo", "gold_accuracy_ci_lo"),
    "gold_hi": ("gold_accuracy_hi", "gold_acc_hi", "gold_hi", "gold_accuracy_ci_hi"),
    "gold_n": ("gold_n", "gold_count", "gold_accuracy_n", "n_gold"),
    "model_accuracy": ("ds_accuracy", "accuracy", "model_accuracy", "skill"),
}


def score_names(con, run_id: int, kind: str = "worker") -> list[str]:
    table = "run_worker_scores" if kind == "worker" else "run_task_scores"
    return [r[0] for r in con.execute(f"SELECT DISTINCT name FROM {table} WHERE run_id = ? ORDER BY name",
                                      [run_id]).fetchall()]


def _pivot_sql(names: list[str], key: str, table: str) -> str:
    """DuckDB PIVOT of the long score table into one ``s:<name>`` column per score name.

    The names are listed explicitly (``ON name IN (...)``), so the statement is planned once;
    it is several times faster than one FILTER aggregate per name.
    """
    if not names:
        return f"SELECT DISTINCT {key} FROM {table} WHERE run_id = $rid"
    inlist = ", ".join(f"{_literal(n)} AS {_ident('s:' + n)}" for n in names)
    return (f"SELECT * FROM (PIVOT (SELECT {key}, name, value FROM {table} WHERE run_id = $rid) "
            f"ON name IN ({inlist}) USING first(value) GROUP BY {key})")


@dataclass
class WorkerFilter:
    """What the workers table shows.

    Attributes
    ----------
    verdicts : keep only these verdicts (empty = all)
    search : substring of the worker id (case-insensitive)
    min_labels : keep workers with at least this many labels
    signal : keep workers on whom this detector's signal was significant
    """

    verdicts: list[str] = field(default_factory=list)
    search: str = ""
    min_labels: int = 0
    signal: str | None = None


#: Columns the workers table can be sorted by (the page offers these; anything else is refused).
WORKER_SORTS: dict[str, str] = {
    "trust": "trust", "labels": "n_labels", "agreement": "agreement", "gold accuracy": "gold_accuracy",
    "median seconds": "median_seconds", "last active": "last_active", "worker": "worker",
    "significant signals": "n_significant",
}
#: Sort keys of earlier versions, still accepted.
_SORT_ALIASES: dict[str, str] = {"signals fired": "significant signals"}


def _worker_base_sql(con, project_id: int, names: list[str], filter_sql: str = "") -> str:
    return f"""
        WITH {_final(con, project_id, filter_sql)}, {_BANNED_CTE}, {_FIRED_CTE},
        act AS ({_activity_sql(names)}),
        sc AS ({_pivot_sql(names, 'worker', 'run_worker_scores')})
        SELECT w.worker, {_VERDICT_SQL} AS verdict, w.trust, w.suspect, {_REASONS_SQL} AS reasons,
               w.n_labels, {'sc."s:loo_agreement"' if 'loo_agreement' in names else 'act.agreement'} AS agreement,
               act.median_seconds, act.last_active, act.first_active,
               coalesce(fs.n_significant, 0) AS n_significant, fs.significant_signals, sc.*  EXCLUDE (worker)
        FROM run_workers w
        LEFT JOIN banned b USING (worker) LEFT JOIN significant fs USING (worker)
        LEFT JOIN act USING (worker) LEFT JOIN sc USING (worker)
        WHERE w.run_id = $rid"""


def _activity_sql(names: list[str]) -> str:
    """Per worker: answers, agreement, median seconds, first and last activity.

    Agreement is the run's ``loo_agreement`` score when stored (share of the worker's
    labels equal to the consensus of the *other* workers, analytics.workers); otherwise the
    share equal to the run's consensus label, computed here with a join.
    """
    if "loo_agreement" in names:
        return """SELECT worker, count(*) AS answers, median(duration_s) AS median_seconds,
                         max(ts) AS last_active, min(ts) AS first_active FROM final GROUP BY worker"""
    return """SELECT f.worker, count(*) AS answers,
                   avg(CASE WHEN t.label IS NULL THEN NULL WHEN f.label = t.label THEN 1.0 ELSE 0.0 END) AS agreement,
                   median(f.duration_s) AS median_seconds, max(f.ts) AS last_active, min(f.ts) AS first_active
            FROM final f LEFT JOIN run_tasks t ON t.run_id = $rid AND t.task = f.task
            GROUP BY f.worker"""


def _rename_scores(df: pd.DataFrame) -> pd.DataFrame:
    """Turn ``s:<name>`` pivot columns into plain score columns and fill the fixed columns
    of :data:`WORKER_SCORE_COLUMNS` from the first candidate score present."""
    df = df.rename(columns={c: c[2:] for c in df.columns if c.startswith("s:")})
    for col, candidates in WORKER_SCORE_COLUMNS.items():
        if col in df.columns:
            continue
        src = next((c for c in candidates if c in df.columns), None)
        df[col] = df[src] if src is not None else float("nan")
    return df


def workers_table(con, run_id: int, project_id: int, filters: WorkerFilter | None = None,
                  sort: str = "trust", descending: bool = False, limit: int = 500,
                  all_scores: bool = False) -> pd.DataFrame:
    """The workers table: verdict, trust, reasons, volume, agreement with the consensus,
    gold accuracy with its interval (when the run scored gold), median seconds per label,
    last active, significant signals, then the scores of :data:`WORKER_SCORE_COLUMNS` (every
    component score with ``all_scores``; a run can have 70 of them, which costs time).

    ``sort`` is a key of :data:`WORKER_SORTS`; NULLs sort last either way.
    """
    f = filters or WorkerFilter()
    sort = _SORT_ALIASES.get(sort, sort)
    if sort not in WORKER_SORTS:
        raise UserError(f"cannot sort workers by {sort!r}; choose one of {', '.join(WORKER_SORTS)}")
    names = score_names(con, run_id, "worker")
    if not all_scores:
        wanted = {n for cands in WORKER_SCORE_COLUMNS.values() for n in cands} | {"loo_agreement"}
        names = [n for n in names if n in wanted]
    where, params = [], {"pid": project_id, "rid": run_id}
    if f.verdicts:
        where.append("verdict IN (SELECT unnest($verdicts::TEXT[]))")
        params["verdicts"] = list(f.verdicts)
    if f.search:
        where.append("contains(lower(worker), lower($search))")
        params["search"] = f.search
    if f.min_labels:
        where.append("n_labels >= $min_labels")
        params["min_labels"] = int(f.min_labels)
    if f.signal:
        where.append("list_contains(string_split(coalesce(significant_signals, ''), ', '), $signal)")
        params["signal"] = f.signal
    col = WORKER_SORTS[sort]
    if col == "gold_accuracy":
        gold = next((n for n in WORKER_SCORE_COLUMNS["gold_accuracy"] if n in names), None)
        col = _ident("s:" + gold) if gold else "trust"
    order = f"{col} {'DESC' if descending else 'ASC'} NULLS LAST, worker"
    sql = f"SELECT * FROM ({_worker_base_sql(con, project_id, names)}) {'WHERE ' + ' AND '.join(where) if where else ''} " \
          f"ORDER BY {order} LIMIT $limit"
    params["limit"] = int(limit)
    return _rename_scores(_df(con, sql, params))


def worker_count(con, run_id: int) -> int:
    return int(_one(con, "SELECT count(*) FROM run_workers WHERE run_id = ?", [run_id])[0])


def significant_signal_names(con, run_id: int) -> list[str]:
    """The signals the run counted as significant on at least one worker (stored as ``run_signals.fired``)."""
    return [r[0] for r in con.execute(
        "SELECT DISTINCT signal FROM run_signals WHERE run_id = ? AND fired AND signal <> 'verdict' ORDER BY 1", [run_id]).fetchall()]


#: The earlier name of :func:`significant_signal_names`.
fired_signal_names = significant_signal_names


def worker_detail(con, run_id: int, project_id: int, worker: str) -> dict:
    """One worker's row of :func:`workers_table` as a dict, with the project's peers for context."""
    names = score_names(con, run_id, "worker")
    df = _df(con, f"SELECT * FROM ({_worker_base_sql(con, project_id, names, 'AND worker = $worker')}) "
                  "WHERE worker = $worker",
             {"pid": project_id, "rid": run_id, "worker": worker})
    if df.empty:
        raise UserError(f"worker {worker!r} has no result in this analysis run; pick a worker from the table")
    df = _rename_scores(df)
    row = {k: _clean(v) for k, v in df.iloc[0].items()}
    row["scores"] = {n: _clean(df.iloc[0][n]) for n in names if n in df.columns}
    return row


def reliability_scatter(con, run_id: int, project_id: int, limit: int = 5000) -> pd.DataFrame:
    """Every worker's trust and volume with verdict, for the reliability-vs-volume scatter."""
    return _df(con, f"""
        WITH {_BANNED_CTE}, {_FIRED_CTE}
        SELECT w.worker, w.n_labels, w.trust, {_VERDICT_SQL} AS verdict, {_REASONS_SQL} AS reasons
        FROM run_workers w LEFT JOIN banned b USING (worker) LEFT JOIN significant fs USING (worker)
        WHERE w.run_id = $rid ORDER BY w.n_labels DESC LIMIT $limit""",
        {"pid": project_id, "rid": run_id, "limit": int(limit)})
