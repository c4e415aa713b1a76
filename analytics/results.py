"""The read API of the dashboard: every number a page shows comes from a function here.

Each function takes an open DuckDB connection (read-only is enough) and returns a small
pandas frame or a dict. Work is done in SQL with filters and limits (DESIGN.md, "Browse"):
no function pulls every annotation into pandas. Long per-run score tables
(``run_worker_scores``, ``run_task_scores``) are pivoted with conditional aggregation over
the score names that exist for that run, so detectors can add scores without touching this
module.

Final answers follow :data:`analytics.dataset.FINAL_ANSWERS_SQL`: per (task, worker) the
latest ``create``/``update`` event counts and a ``delete`` removes the answer.

Verdicts (one per worker, shown in one colour everywhere, see :data:`VERDICTS`):

- ``banned``  the newest project-scope or the newest workspace-scope ban/unban entry of
  the worker in the audit log is a ban (the rule of :mod:`analytics.actions`);
- ``suspect`` the run's trust verdict marked the worker suspect;
- ``watch``   not suspect, but at least one detector fired on the worker (the combined
  evidence did not reach the suspect threshold of :mod:`analytics.trust`), or their trust
  is below :data:`LOW_TRUST` and half the crowd's median trust (the reason then says "low
  trust"), so a worker shown
  ``trusted`` never has lower trust than one on ``watch`` unless that one's reason (a fired
  detector) is shown beside it;
- ``trusted`` everything else.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import pandas as pd

from analytics.errors import UserError

#: Display order of worker verdicts (worst first).
VERDICTS: tuple[str, ...] = ("banned", "suspect", "watch", "trusted")

#: Trust below which a worker that no detector flagged is shown on ``watch`` ("low trust")
#: rather than ``trusted``: trust is chance-corrected agreement with the consensus (times one
#: minus the suspicion), and below 0.5 a worker agrees with it only moderately beyond chance.
LOW_TRUST: float = 0.5
#: ...or below this share of the crowd's median trust, whichever is lower: on a hard task where
#: the whole crowd sits below 0.5 the rule would describe the crowd, not single workers.
LOW_TRUST_OF_MEDIAN: float = 0.5

# The low-trust cutoff of a run (the lower of the two rules above).
_LOW_TRUST_SQL = (f"least({LOW_TRUST}, {LOW_TRUST_OF_MEDIAN} * (SELECT median(trust) FROM run_workers "
                  "WHERE run_id = $rid))")

# Score names written by the detectors that the workers table shows under a fixed column.
# The first candidate present in a run wins; a column is left empty when none is present.
WORKER_SCORE_COLUMNS: dict[str, tuple[str, ...]] = {
    "gold_accuracy": ("gold_accuracy", "gold_acc", "gold_accuracy_mean"),
    "gold_lo": ("gold_accuracy_lo", "gold_acc_lo", "gold_lo", "gold_accuracy_ci_lo"),
    "gold_hi": ("gold_accuracy_hi", "gold_acc_hi", "gold_hi", "gold_accuracy_ci_hi"),
    "gold_n": ("gold_n", "gold_count", "gold_accuracy_n", "n_gold"),
    "model_accuracy": ("ds_accuracy", "accuracy", "model_accuracy", "skill"),
}

_FINAL_CTE = """
final AS (
    SELECT task, worker, label, started_at, submitted_at,
           coalesce(duration_s, epoch(submitted_at) - epoch(started_at)) AS duration_s,
           coalesce(submitted_at, started_at) AS ts
    FROM (
        SELECT *, row_number() OVER (
            PARTITION BY task, worker
            ORDER BY coalesce(submitted_at, started_at) DESC NULLS LAST, ingest_id DESC, source_row DESC) AS rn
        FROM annotations
        WHERE project_id = $pid {filter}
    )
    WHERE rn = 1 AND event <> 'delete'
)"""


_SIMPLE_FINAL_CTE = """
final AS (
    SELECT task, worker, label, started_at, submitted_at,
           coalesce(duration_s, epoch(submitted_at) - epoch(started_at)) AS duration_s,
           coalesce(submitted_at, started_at) AS ts
    FROM annotations
    WHERE project_id = $pid {filter}
)"""


def _final(con, project_id: int, filter_sql: str = "") -> str:
    """The ``final`` CTE (one row per final answer) for a project.

    Ingest stores a worker's second answer to an item as an ``update`` event, so a project
    whose events are all ``create`` has exactly one row per (task, worker): its final
    answers are its rows and the window of :data:`_FINAL_CTE` (the costliest step on a
    million labels) is skipped.
    """
    edited = _one(con, "SELECT count(*) FROM annotations WHERE project_id = ? AND event <> 'create'",
                  [project_id])[0]
    return (_FINAL_CTE if edited else _SIMPLE_FINAL_CTE).format(filter=filter_sql)


_BANNED_CTE = """
banned AS (
    SELECT DISTINCT target AS worker FROM (
        SELECT target, action, row_number() OVER (PARTITION BY target, scope ORDER BY seq DESC) AS rn
        FROM actions
        WHERE target_kind = 'worker' AND action IN ('ban', 'unban')
          AND ((scope = 'project' AND project_id = $pid) OR scope = 'workspace')
    ) WHERE rn = 1 AND action = 'ban'
)"""

_VERDICT_SQL = f"""CASE WHEN b.worker IS NOT NULL THEN 'banned'
     WHEN w.suspect THEN 'suspect'
     WHEN coalesce(fs.n_fired, 0) > 0 OR w.trust < {_LOW_TRUST_SQL} THEN 'watch'
     ELSE 'trusted' END"""

# The reasons shown with a verdict: the run's sentence, with what put a worker on watch first
# when the run gave none (low trust, or the names of the detectors that fired).
_REASONS_SQL = f"""CASE
     WHEN b.worker IS NULL AND NOT coalesce(w.suspect, false) AND coalesce(fs.n_fired, 0) = 0
          AND w.trust < {_LOW_TRUST_SQL}
     THEN printf('low trust %.2f (below %.2f, the lower of {LOW_TRUST:.1f} and half the crowd''s median): agrees '
                 'with the consensus little beyond chance', w.trust, {_LOW_TRUST_SQL})
          || coalesce('; ' || nullif(w.reasons, ''), '')
     WHEN nullif(w.reasons, '') IS NULL AND coalesce(fs.n_fired, 0) > 0 THEN 'detector fired: ' || fs.fired_signals
     ELSE w.reasons END"""

_FIRED_CTE = """
fired AS (
    SELECT worker, count(*) FILTER (WHERE fired) AS n_fired,
           string_agg(signal, ', ' ORDER BY signal) FILTER (WHERE fired) AS fired_signals
    FROM run_signals WHERE run_id = $rid AND signal <> 'verdict' GROUP BY worker
)"""


def _df(con, sql: str, params: dict | list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or {}).df()


def _one(con, sql: str, params: dict | list | None = None):
    return con.execute(sql, params or {}).fetchone()


def _ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _json(value) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    try:
        out = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def _clean(v):
    """JSON-friendly scalar: NaN/NA become None, numpy scalars become Python ones."""
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        return v
    return v.item() if hasattr(v, "item") else v


# -- workspace, projects and runs ---------------------------------------------------------

def table_exists(con, name: str) -> bool:
    return bool(_one(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])[0])


def projects(con) -> pd.DataFrame:
    """One row per project: id, name, labels (final answers, as :func:`project_stats` counts
    them), workers, tasks, gold items, time range, latest run."""
    return _df(con, """
        WITH edited AS (SELECT DISTINCT project_id FROM annotations WHERE event <> 'create'),
        fin AS (
            SELECT project_id, task, worker, submitted_at, started_at FROM annotations
            WHERE project_id NOT IN (SELECT project_id FROM edited)
            UNION ALL
            SELECT project_id, task, worker, submitted_at, started_at FROM (
                SELECT *, row_number() OVER (
                    PARTITION BY project_id, task, worker
                    ORDER BY coalesce(submitted_at, started_at) DESC NULLS LAST, ingest_id DESC, source_row DESC) AS rn
                FROM annotations WHERE project_id IN (SELECT project_id FROM edited))
            WHERE rn = 1 AND event <> 'delete'
        ), a AS (
            SELECT project_id, count(*) AS labels, count(DISTINCT worker) AS workers,
                   count(DISTINCT task) AS tasks,
                   min(coalesce(submitted_at, started_at)) AS first_at,
                   max(coalesce(submitted_at, started_at)) AS last_at
            FROM fin GROUP BY project_id
        ), g AS (SELECT project_id, count(*) AS gold FROM gold GROUP BY project_id),
        r AS (SELECT project_id, max(run_id) AS latest_run FROM runs WHERE status = 'complete' GROUP BY project_id)
        SELECT p.project_id, p.name, coalesce(a.labels, 0) AS labels, coalesce(a.workers, 0) AS workers,
               coalesce(a.tasks, 0) AS tasks, coalesce(g.gold, 0) AS gold, a.first_at, a.last_at,
               r.latest_run, p.created_at, coalesce(p.kind, 'single') AS kind
        FROM projects p LEFT JOIN a USING (project_id) LEFT JOIN g USING (project_id)
        LEFT JOIN r USING (project_id)
        WHERE p.deleted_at IS NULL
        ORDER BY p.project_id""")


def project_id(con, name: str) -> int:
    row = _one(con, "SELECT project_id FROM projects WHERE name = ?", [name])
    if not row:
        raise UserError(f"no project named {name!r} in this workspace; pick one from the sidebar")
    return int(row[0])


def project_stats(con, project_id: int) -> dict:
    """Labels (final answers), events, workers, tasks, gold, time range and which time columns exist."""
    row = _one(con, f"""
        WITH {_final(con, project_id)}
        SELECT count(*), count(DISTINCT worker), count(DISTINCT task),
               min(ts), max(ts), count(ts), count(duration_s)
        FROM final""", {"pid": project_id})
    events = _one(con, "SELECT count(*) FROM annotations WHERE project_id = ?", [project_id])[0]
    gold = _one(con, "SELECT count(*) FROM gold WHERE project_id = ?", [project_id])[0]
    return {
        "labels": int(row[0]), "events": int(events), "workers": int(row[1]), "tasks": int(row[2]),
        "gold": int(gold), "first_at": row[3], "last_at": row[4],
        "has_time": bool(row[5]), "has_duration": bool(row[6]),
    }


def label_set(con, project_id: int) -> pd.DataFrame:
    """The project's labels: declared or not, how many final answers and gold items use each."""
    declared = _one(con, "SELECT label_set FROM projects WHERE project_id = ?", [project_id])
    declared = list(declared[0]) if declared and declared[0] else []
    df = _df(con, f"""
        WITH {_final(con, project_id)},
        used AS (SELECT label, count(*) AS answers FROM final GROUP BY label),
        g AS (SELECT label, count(*) AS gold_items FROM gold WHERE project_id = $pid GROUP BY label),
        d AS (SELECT unnest($declared::TEXT[]) AS label)
        SELECT label, coalesce(answers, 0) AS answers, coalesce(gold_items, 0) AS gold_items,
               label IN (SELECT label FROM d) AS declared
        FROM (SELECT label FROM used UNION SELECT label FROM g UNION SELECT label FROM d)
        LEFT JOIN used USING (label) LEFT JOIN g USING (label)
        ORDER BY answers DESC, label""", {"pid": project_id, "declared": declared})
    return df


def gold_summary(con, project_id: int) -> pd.DataFrame:
    """Gold answers grouped by where they came from."""
    return _df(con, """
        SELECT source, count(*) AS items, count(DISTINCT label) AS labels, min(ingest_id) AS ingest_id
        FROM gold WHERE project_id = ? GROUP BY source ORDER BY items DESC""", [project_id])


def runs(con, project_id: int, limit: int = 50) -> pd.DataFrame:
    """The project's analysis runs, newest first."""
    return _df(con, """
        SELECT run_id, method, status, started_at, finished_at, duration_s, code_version, error
        FROM runs WHERE project_id = ? ORDER BY run_id DESC LIMIT ?""", [project_id, limit])


def latest_run(con, project_id: int) -> int | None:
    """The newest complete run of the project (a run in progress never replaces it)."""
    row = _one(con, "SELECT max(run_id) FROM runs WHERE project_id = ? AND status = 'complete'", [project_id])
    return None if row is None or row[0] is None else int(row[0])


def previous_run(con, project_id: int, run_id: int) -> int | None:
    """The complete run before ``run_id`` in the same project."""
    row = _one(con, "SELECT max(run_id) FROM runs WHERE project_id = ? AND status = 'complete' AND run_id < ?",
               [project_id, run_id])
    return None if row is None or row[0] is None else int(row[0])


def running_run(con, project_id: int) -> dict | None:
    """A run of the project still in progress (started by any live process), or None.

    A run whose process on this machine no longer exists was interrupted; it is marked failed
    the next time the workspace is opened for writing and is not reported here."""
    from analytics.store import process_alive

    rows = con.execute("""SELECT run_id, started_at, method, host, pid FROM runs
                          WHERE project_id = ? AND status = 'running' ORDER BY run_id DESC""", [project_id]).fetchall()
    for r in rows:
        if process_alive(r[3], r[4]):
            return {"run_id": int(r[0]), "started_at": r[1], "method": r[2]}
    return None


def _summary_value(summary: dict, *keys):
    for k in keys:
        if k in summary and summary[k] is not None:
            return summary[k]
    return None


def run_summary(con, run_id: int) -> dict:
    """The run's record: method, params, timings, and its headline numbers.

    ``summary`` is the JSON the pipeline wrote; the keys the overview shows are normalised
    into ``alpha``, ``alpha_lo``, ``alpha_hi``, ``accuracy``, ``accuracy_kind`` and ``kappa``.
    """
    row = _one(con, """
        SELECT run_id, project_id, method, params, input_fingerprint, code_version, started_at,
               finished_at, duration_s, status, summary, error
        FROM runs WHERE run_id = ?""", [run_id])
    if row is None:
        raise UserError(f"analysis run {run_id} does not exist in this workspace")
    keys = ["run_id", "project_id", "method", "params", "input_fingerprint", "code_version", "started_at",
            "finished_at", "duration_s", "status", "summary", "error"]
    out = dict(zip(keys, row, strict=True))
    out["params"] = _json(out["params"])
    s = _json(out["summary"])
    out["summary"] = s
    alpha = s.get("alpha") if isinstance(s.get("alpha"), dict) else None
    out["alpha"] = _summary_value(alpha or {}, "value", "alpha") if alpha else _summary_value(
        s, "krippendorff_alpha", "alpha")
    ci = _summary_value(alpha or {}, "ci") if alpha else _summary_value(s, "alpha_ci", "krippendorff_alpha_ci")
    lo = _summary_value(alpha or {}, "lo", "ci_lo") if alpha else _summary_value(s, "alpha_lo", "alpha_ci_lo")
    hi = _summary_value(alpha or {}, "hi", "ci_hi") if alpha else _summary_value(s, "alpha_hi", "alpha_ci_hi")
    if isinstance(ci, list | tuple) and len(ci) == 2:
        lo, hi = ci
    out["alpha_lo"], out["alpha_hi"] = lo, hi
    kappa = s.get("kappa") if isinstance(s.get("kappa"), dict) else None
    out["kappa"] = _summary_value(kappa or {}, "value") if kappa else _summary_value(s, "fleiss_kappa", "kappa")
    kci = _summary_value(kappa or {}, "ci") if kappa else _summary_value(s, "kappa_ci", "fleiss_kappa_ci")
    klo = _summary_value(kappa or {}, "lo") if kappa else _summary_value(s, "kappa_lo", "fleiss_kappa_lo")
    khi = _summary_value(kappa or {}, "hi") if kappa else _summary_value(s, "kappa_hi", "fleiss_kappa_hi")
    if isinstance(kci, list | tuple) and len(kci) == 2:
        klo, khi = kci
    out["kappa_lo"], out["kappa_hi"] = klo, khi
    out["kappa_name"] = {"pairwise_cohen": "Cohen's κ (pooled over worker pairs)",
                         "fleiss": "Fleiss' κ"}.get(s.get("kappa_kind"), "κ")
    acc = _summary_value(s, "gold_accuracy", "accuracy_gold")
    kind = "on gold items"
    if acc is None:
        acc = _summary_value(s, "estimated_accuracy", "accuracy", "expected_accuracy")
        kind = "model estimate"
    if acc is None:
        acc = _one(con, "SELECT avg(confidence) FROM run_tasks WHERE run_id = ?", [run_id])[0]
        kind = "mean posterior of the chosen labels"
    out["accuracy"], out["accuracy_kind"] = acc, kind
    return out


def headline(con, run_id: int, project_id: int) -> dict:
    """Counts the overview shows for a run: workers by verdict, suspect items, suspects by signal."""
    counts = _df(con, f"""
        WITH {_BANNED_CTE}, {_FIRED_CTE}
        SELECT {_VERDICT_SQL} AS verdict, count(*) AS n
        FROM run_workers w LEFT JOIN banned b USING (worker) LEFT JOIN fired fs USING (worker)
        WHERE w.run_id = $rid GROUP BY verdict""", {"pid": project_id, "rid": run_id})
    by_verdict = {v: 0 for v in VERDICTS}
    by_verdict.update(dict(zip(counts["verdict"], counts["n"].astype(int), strict=True)))
    items = _one(con, """SELECT count(*), count(*) FILTER (WHERE suspect), avg(confidence)
                         FROM run_tasks WHERE run_id = ?""", [run_id])
    by_kind = _df(con, """
        SELECT reason AS kind, count(DISTINCT worker) AS workers FROM run_signals
        WHERE run_id = ? AND signal = 'verdict' AND fired GROUP BY reason ORDER BY workers DESC, kind""", [run_id])
    by_signal = _df(con, """
        SELECT s.signal, count(DISTINCT s.worker) AS workers
        FROM run_signals s JOIN run_workers w ON w.run_id = s.run_id AND w.worker = s.worker
        WHERE s.run_id = ? AND s.fired AND w.suspect AND s.signal <> 'verdict'
        GROUP BY s.signal ORDER BY workers DESC, s.signal""", [run_id])
    return {
        "workers_by_verdict": by_verdict,
        "tasks": int(items[0]),
        "items_at_risk": int(items[1] or 0),
        "mean_confidence": None if items[2] is None else float(items[2]),
        "suspects_by_kind": by_kind,
        "suspects_by_signal": by_signal,
    }


# -- workers ------------------------------------------------------------------------------

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


def _literal(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


@dataclass
class WorkerFilter:
    """What the workers table shows.

    Attributes
    ----------
    verdicts : keep only these verdicts (empty = all)
    search : substring of the worker id (case-insensitive)
    min_labels : keep workers with at least this many labels
    signal : keep workers on whom this detector fired
    """

    verdicts: list[str] = field(default_factory=list)
    search: str = ""
    min_labels: int = 0
    signal: str | None = None


#: Columns the workers table can be sorted by (the page offers these; anything else is refused).
WORKER_SORTS: dict[str, str] = {
    "trust": "trust", "labels": "n_labels", "agreement": "agreement", "gold accuracy": "gold_accuracy",
    "median seconds": "median_seconds", "last active": "last_active", "worker": "worker",
    "signals fired": "n_fired",
}


def _worker_base_sql(con, project_id: int, names: list[str], filter_sql: str = "") -> str:
    return f"""
        WITH {_final(con, project_id, filter_sql)}, {_BANNED_CTE}, {_FIRED_CTE},
        act AS ({_activity_sql(names)}),
        sc AS ({_pivot_sql(names, 'worker', 'run_worker_scores')})
        SELECT w.worker, {_VERDICT_SQL} AS verdict, w.trust, w.suspect, {_REASONS_SQL} AS reasons,
               w.n_labels, {'sc."s:loo_agreement"' if 'loo_agreement' in names else 'act.agreement'} AS agreement,
               act.median_seconds, act.last_active, act.first_active,
               coalesce(fs.n_fired, 0) AS n_fired, fs.fired_signals, sc.*  EXCLUDE (worker)
        FROM run_workers w
        LEFT JOIN banned b USING (worker) LEFT JOIN fired fs USING (worker)
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
    last active, fired signals, then the scores of :data:`WORKER_SCORE_COLUMNS` (every
    component score with ``all_scores``; a run can have 70 of them, which costs time).

    ``sort`` is a key of :data:`WORKER_SORTS`; NULLs sort last either way.
    """
    f = filters or WorkerFilter()
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
        where.append("list_contains(string_split(coalesce(fired_signals, ''), ', '), $signal)")
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


def fired_signal_names(con, run_id: int) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT DISTINCT signal FROM run_signals WHERE run_id = ? AND fired AND signal <> 'verdict' ORDER BY 1", [run_id]).fetchall()]


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


def worker_signals(con, run_id: int, worker: str) -> pd.DataFrame:
    """Every detector tested on the worker: fired first, then by p-value; evidence parsed to dicts."""
    df = _df(con, """
        SELECT signal, fired, score, p_value, reason, evidence FROM run_signals
        WHERE run_id = ? AND worker = ? AND signal <> 'verdict'
        ORDER BY fired DESC, p_value NULLS LAST, signal""", [run_id, worker])
    df["evidence"] = [_json(e) for e in df["evidence"]]
    return df


def worker_confusion(con, run_id: int, worker: str) -> pd.DataFrame:
    """The worker's confusion matrix from the run (long form: true_label, label, p)."""
    return _df(con, """SELECT true_label, label, p FROM run_confusion
                       WHERE run_id = ? AND worker = ? ORDER BY true_label, label""", [run_id, worker])


def worker_confusion_counts(con, run_id: int, project_id: int, worker: str) -> pd.DataFrame:
    """Counts of the worker's answers against the consensus label (consensus, label, n).

    The fallback when the aggregation model has no confusion matrices (majority vote ...).
    """
    return _df(con, f"""
        WITH {_final(con, project_id, 'AND worker = $worker')}
        SELECT t.label AS true_label, f.label, count(*) AS n
        FROM final f JOIN run_tasks t ON t.run_id = $rid AND t.task = f.task
        GROUP BY ALL ORDER BY ALL""", {"pid": project_id, "rid": run_id, "worker": worker})


def time_bucket(first_at, last_at) -> str:
    """A readable bucket width for a time range: minute, hour, day or week (at most 400 buckets)."""
    if first_at is None or last_at is None:
        return "day"
    seconds = (pd.Timestamp(last_at) - pd.Timestamp(first_at)).total_seconds()
    for unit, width in (("minute", 60), ("hour", 3600), ("day", 86400)):
        if seconds / width <= 400:
            return unit
    return "week"


def worker_timeline(con, project_id: int, worker: str, bucket: str | None = None) -> pd.DataFrame:
    """The worker's labels per time bucket (bucket start, labels); empty without timestamps."""
    rng = _one(con, """SELECT min(coalesce(submitted_at, started_at)), max(coalesce(submitted_at, started_at))
                       FROM annotations WHERE project_id = ? AND worker = ?""", [project_id, worker])
    if rng is None or rng[0] is None:
        return pd.DataFrame({"bucket": pd.Series(dtype="datetime64[ns, UTC]"), "labels": pd.Series(dtype="int64")})
    unit = bucket or time_bucket(*rng)
    key, back = _bucket_key(unit)
    df = _df(con, f"""
        WITH {_final(con, project_id, 'AND worker = $worker')},
        per AS (SELECT {key} AS b, count(*) AS labels FROM final WHERE ts IS NOT NULL GROUP BY 1)
        SELECT {back} AS bucket, labels FROM per ORDER BY b""", {"pid": project_id, "worker": worker})
    df.attrs["unit"] = unit
    return df


def _check_unit(unit: str) -> None:
    if unit not in _BUCKET_SECONDS:
        raise UserError(f"unknown time bucket {unit!r}; use {', '.join(_BUCKET_SECONDS)}")


# Bucket widths in seconds and offsets (weeks start on Monday; the Unix epoch was a Thursday).
_BUCKET_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_BUCKET_OFFSET = {"week": 345600}


def _bucket_key(unit: str, col: str = "ts") -> tuple[str, str]:
    """(numeric bucket key over ``col``, expression turning key ``b`` back into a UTC timestamp).

    Arithmetic on epoch seconds: ``date_trunc`` on TIMESTAMPTZ goes through the time-zone
    library and is several times slower on a million rows.
    """
    _check_unit(unit)
    w, off = _BUCKET_SECONDS[unit], _BUCKET_OFFSET.get(unit, 0)
    return f"floor((epoch({col}) - {off}) / {w})::BIGINT", f"to_timestamp(b * {w} + {off})"


def worker_bursts(signals: pd.DataFrame) -> pd.DataFrame:
    """Time windows named in the evidence of the worker's fired timing signals (start, end, signal)."""
    rows = []
    for sig, fired, ev in zip(signals["signal"], signals["fired"], signals["evidence"], strict=True):
        if not fired or not isinstance(ev, dict):
            continue
        windows = ev.get("windows") if isinstance(ev.get("windows"), list) else [ev]
        for w in windows:
            if not isinstance(w, dict):
                continue
            start = next((w[k] for k in ("start", "window_start") if w.get(k) is not None), None)
            end = next((w[k] for k in ("end", "window_end") if w.get(k) is not None), None)
            if start is not None and end is not None:
                rows.append({"signal": sig, "start": _to_ts(start), "end": _to_ts(end),
                             "labels": w.get("n") or w.get("count") or w.get("labels")})
    return pd.DataFrame(rows, columns=["signal", "start", "end", "labels"])


def _to_ts(v):
    if isinstance(v, int | float) and not isinstance(v, bool):
        return pd.Timestamp(v, unit="s", tz="UTC")
    return pd.Timestamp(v).tz_convert("UTC") if pd.Timestamp(v).tzinfo else pd.Timestamp(v, tz="UTC")


def worker_speed(con, project_id: int) -> pd.DataFrame:
    """Median seconds per label of every worker in the project (worker, median_seconds, labels)."""
    return _df(con, f"""
        WITH {_final(con, project_id)}
        SELECT worker, median(duration_s) AS median_seconds, count(duration_s) AS labels
        FROM final WHERE duration_s IS NOT NULL AND duration_s >= 0
        GROUP BY worker ORDER BY worker""", {"pid": project_id})


def worker_overlap(con, run_id: int, project_id: int, worker: str, limit: int = 30) -> pd.DataFrame:
    """Workers who labelled the same items: shared items, raw agreement and Cohen's kappa.

    Agreement is the share of shared items given the same label; kappa corrects it for
    chance with each worker's label distribution on the shared items (Cohen 1960).
    Other workers are ordered by shared items and carry their verdict.
    """
    df = _df(con, f"""
        WITH {_final(con, project_id)}, {_BANNED_CTE}, {_FIRED_CTE},
        mine AS (SELECT task, label FROM final WHERE worker = $worker),
        pairs AS (
            SELECT o.worker AS other, m.label AS la, o.label AS lb
            FROM mine m JOIN final o ON o.task = m.task AND o.worker <> $worker
        ),
        agg AS (SELECT other, count(*) AS shared, count(*) FILTER (WHERE la = lb) AS n_agree FROM pairs GROUP BY other
                ORDER BY shared DESC, other LIMIT $limit),
        {_MARGINAL_PRODUCTS_SQL.format(pair="other")}
        SELECT agg.other AS worker, agg.shared, agg.n_agree / agg.shared AS agreement, agg.n_agree,
               coalesce(pe.s, 0) AS marginal_products, w.trust, {_VERDICT_SQL} AS verdict
        FROM agg LEFT JOIN pe USING (other)
        LEFT JOIN run_workers w ON w.run_id = $rid AND w.worker = agg.other
        LEFT JOIN banned b ON b.worker = agg.other LEFT JOIN fired fs ON fs.worker = agg.other
        ORDER BY agg.shared DESC, agg.other""",
        {"pid": project_id, "rid": run_id, "worker": worker, "limit": int(limit)})
    return _with_kappa(df, after="agreement")


def worker_items(con, run_id: int, project_id: int, worker: str, only_disagreeing: bool = False,
                 limit: int = 200) -> pd.DataFrame:
    """Items the worker labelled: their answer, the consensus, its confidence, when."""
    cond = "AND f.label IS DISTINCT FROM t.label" if only_disagreeing else ""
    return _df(con, f"""
        WITH {_final(con, project_id, 'AND worker = $worker')}
        SELECT f.task, f.label AS answer, t.label AS consensus, f.label = t.label AS agrees,
               t.confidence, t.suspect AS item_suspect, f.ts AS submitted_at, f.duration_s
        FROM final f LEFT JOIN run_tasks t ON t.run_id = $rid AND t.task = f.task
        WHERE true {cond}
        ORDER BY f.ts DESC NULLS LAST, f.task LIMIT $limit""",
        {"pid": project_id, "rid": run_id, "worker": worker, "limit": int(limit)})


def reliability_scatter(con, run_id: int, project_id: int, limit: int = 5000) -> pd.DataFrame:
    """Every worker's trust and volume with verdict, for the reliability-vs-volume scatter."""
    return _df(con, f"""
        WITH {_BANNED_CTE}, {_FIRED_CTE}
        SELECT w.worker, w.n_labels, w.trust, {_VERDICT_SQL} AS verdict, {_REASONS_SQL} AS reasons
        FROM run_workers w LEFT JOIN banned b USING (worker) LEFT JOIN fired fs USING (worker)
        WHERE w.run_id = $rid ORDER BY w.n_labels DESC LIMIT $limit""",
        {"pid": project_id, "rid": run_id, "limit": int(limit)})


def trust_histogram(con, run_id: int, project_id: int, bins: int = 20) -> pd.DataFrame:
    """Workers per trust bin and verdict (bin_lo, bin_hi, verdict, workers); trust is in [0, 1]."""
    if bins < 1:
        raise UserError("the trust histogram needs at least one bin")
    return _df(con, f"""
        WITH {_BANNED_CTE}, {_FIRED_CTE},
        v AS (SELECT least(floor(coalesce(w.trust, 0) * $bins), $bins - 1)::INT AS b, {_VERDICT_SQL} AS verdict
              FROM run_workers w LEFT JOIN banned b USING (worker) LEFT JOIN fired fs USING (worker)
              WHERE w.run_id = $rid)
        SELECT b / $bins::DOUBLE AS bin_lo, (b + 1) / $bins::DOUBLE AS bin_hi, verdict, count(*) AS workers
        FROM v GROUP BY ALL ORDER BY bin_lo, verdict""", {"pid": project_id, "rid": run_id, "bins": int(bins)})


def labels_over_time(con, run_id: int, project_id: int, bucket: str | None = None) -> pd.DataFrame:
    """Labels per time bucket split by the labeller's verdict (bucket, verdict, labels)."""
    stats = _one(con, """SELECT min(coalesce(submitted_at, started_at)), max(coalesce(submitted_at, started_at))
                         FROM annotations WHERE project_id = ?""", [project_id])
    if stats is None or stats[0] is None:
        return pd.DataFrame({"bucket": pd.Series(dtype="datetime64[ns, UTC]"), "verdict": pd.Series(dtype=object),
                             "labels": pd.Series(dtype="int64")})
    unit = bucket or time_bucket(*stats)
    key, back = _bucket_key(unit)
    df = _df(con, f"""
        WITH {_final(con, project_id)}, {_BANNED_CTE}, {_FIRED_CTE},
        v AS (SELECT w.worker, {_VERDICT_SQL} AS verdict FROM run_workers w
              LEFT JOIN banned b USING (worker) LEFT JOIN fired fs USING (worker) WHERE w.run_id = $rid),
        per AS (SELECT {key} AS b, worker, count(*) AS n FROM final WHERE ts IS NOT NULL GROUP BY ALL),
        agg AS (SELECT b, coalesce(v.verdict, 'trusted') AS verdict, sum(n)::BIGINT AS labels
                FROM per LEFT JOIN v USING (worker) GROUP BY ALL)
        SELECT {back} AS bucket, verdict, labels FROM agg ORDER BY b, verdict""", {"pid": project_id, "rid": run_id})
    df.attrs["unit"] = unit
    return df


# -- items --------------------------------------------------------------------------------

@dataclass
class ItemFilter:
    """What the items table shows.

    Attributes
    ----------
    only_suspect : keep items the run marked suspect
    max_confidence : keep items whose consensus confidence is at most this (1.0 = all)
    min_suspect_share : keep items where at least this share of labels came from suspect
        or banned workers
    search : substring of the item id
    label : keep items whose consensus is this label
    """

    only_suspect: bool = False
    max_confidence: float = 1.0
    min_suspect_share: float = 0.0
    search: str = ""
    label: str | None = None


#: Sort keys of the items table.
ITEM_SORTS: dict[str, str] = {
    "risk": "suspect DESC, suspect_share DESC, confidence ASC",
    "confidence": "confidence ASC",
    "disagreement": "disagreement DESC",
    "exposure to suspects": "suspect_share DESC",
    "labels": "n_labels DESC",
    "item": "task ASC",
}


def items_table(con, run_id: int, project_id: int, filters: ItemFilter | None = None,
                sort: str = "risk", limit: int = 500) -> pd.DataFrame:
    """Items with their consensus label, confidence, disagreement, exposure to suspects,
    suspect flag and reasons.

    When the run stored the item scores ``disagreement`` (share of answers that differ from
    the most common one) and ``exposure`` (share of the answers from suspect workers,
    :func:`analytics.trust.item_verdict`), those are shown; otherwise both are computed here
    from the final answers (differ from the consensus; answers from suspect or banned workers).
    """
    f = filters or ItemFilter()
    if sort not in ITEM_SORTS:
        raise UserError(f"cannot sort items by {sort!r}; choose one of {', '.join(ITEM_SORTS)}")
    where, params = [], {"pid": project_id, "rid": run_id, "limit": int(limit)}
    if f.only_suspect:
        where.append("suspect")
    if f.max_confidence < 1.0:
        where.append("confidence <= $maxc")
        params["maxc"] = float(f.max_confidence)
    if f.min_suspect_share > 0:
        where.append("suspect_share >= $mins")
        params["mins"] = float(f.min_suspect_share)
    if f.search:
        where.append("contains(lower(task), lower($search))")
        params["search"] = f.search
    if f.label:
        where.append("label = $label")
        params["label"] = f.label
    stored = {"disagreement", "exposure"} <= set(score_names(con, run_id, "task"))
    if stored:
        params.pop("pid")
        per = """per AS (
            SELECT task, max(value) FILTER (WHERE name = 'disagreement') AS disagreement,
                   max(value) FILTER (WHERE name = 'exposure') AS suspect_share
            FROM run_task_scores WHERE run_id = $rid AND name IN ('disagreement', 'exposure') GROUP BY task)"""
    else:
        per = f"""{_final(con, project_id)}, {_BANNED_CTE},
        bad AS (SELECT worker FROM run_workers WHERE run_id = $rid AND suspect UNION SELECT worker FROM banned),
        per AS (
            SELECT f.task, avg((f.label IS DISTINCT FROM t.label)::INT) AS disagreement,
                   avg((f.worker IN (SELECT worker FROM bad))::INT) AS suspect_share
            FROM final f JOIN run_tasks t ON t.run_id = $rid AND t.task = f.task
            GROUP BY f.task
        )"""
    df = _df(con, f"""
        WITH {per}
        SELECT * FROM (
            SELECT t.task, t.label, t.confidence, t.n_labels, per.disagreement, per.suspect_share,
                   coalesce(t.suspect, false) AS suspect, t.reasons
            FROM run_tasks t LEFT JOIN per USING (task) WHERE t.run_id = $rid
        ) {'WHERE ' + ' AND '.join(where) if where else ''}
        ORDER BY {ITEM_SORTS[sort]}, task LIMIT $limit""", params)
    df.attrs["scores"] = "stored" if stored else "computed"
    return df


def item_detail(con, run_id: int, task: str) -> dict:
    """The run's result for one item, with its task scores."""
    row = _df(con, "SELECT * FROM run_tasks WHERE run_id = ? AND task = ?", [run_id, task])
    if row.empty:
        raise UserError(f"item {task!r} has no result in this analysis run; pick an item from the table")
    out = {k: _clean(v) for k, v in row.iloc[0].items()}
    scores = _df(con, "SELECT name, value FROM run_task_scores WHERE run_id = ? AND task = ? ORDER BY name",
                 [run_id, task])
    out["scores"] = {n: _clean(v) for n, v in zip(scores["name"], scores["value"], strict=True)}
    return out


def item_answers(con, run_id: int, project_id: int, task: str) -> pd.DataFrame:
    """Every final answer to the item: who, what, when, how long, and the answerer's trust and verdict."""
    return _df(con, f"""
        WITH {_final(con, project_id, 'AND task = $task')}, {_BANNED_CTE}, {_FIRED_CTE}
        SELECT f.worker, f.label, w.trust, {_VERDICT_SQL} AS verdict, f.ts AS submitted_at, f.duration_s,
               f.label = t.label AS agrees_with_consensus, {_REASONS_SQL} AS reasons
        FROM final f LEFT JOIN run_workers w ON w.run_id = $rid AND w.worker = f.worker
        LEFT JOIN run_tasks t ON t.run_id = $rid AND t.task = f.task
        LEFT JOIN banned b ON b.worker = f.worker LEFT JOIN fired fs ON fs.worker = f.worker
        ORDER BY w.trust DESC NULLS LAST, f.worker""",
        {"pid": project_id, "rid": run_id, "task": task})


def item_probs(con, run_id: int, task: str) -> pd.DataFrame:
    """Class probabilities of the item under the run's aggregation model."""
    return _df(con, "SELECT label, p FROM run_task_probs WHERE run_id = ? AND task = ? ORDER BY p DESC, label",
               [run_id, task])


def consensus_labels(con, run_id: int) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT DISTINCT label FROM run_tasks WHERE run_id = ? AND label IS NOT NULL ORDER BY 1", [run_id]).fetchall()]


# -- collusion ----------------------------------------------------------------------------

def communities(con, run_id: int) -> pd.DataFrame:
    """Worker communities of the run, most suspicious first (community, size, members, score, suspect, reasons)."""
    df = _df(con, """
        SELECT community, len(members) AS size, members, score, coalesce(suspect, false) AS suspect, reasons, details
        FROM run_communities WHERE run_id = ? ORDER BY suspect DESC, score DESC NULLS LAST, community""", [run_id])
    df["details"] = [_json(d) for d in df["details"]]
    return df


def pairs(con, run_id: int, project_id: int, kind: str = "collusion", limit: int = 2000) -> pd.DataFrame:
    """Worker pairs of one kind ('collusion' evidence edges or 'agreement' kappa) with both verdicts."""
    df = _df(con, f"""
        WITH {_BANNED_CTE}, {_FIRED_CTE},
        v AS (SELECT w.worker, w.trust, {_VERDICT_SQL} AS verdict FROM run_workers w
              LEFT JOIN banned b USING (worker) LEFT JOIN fired fs USING (worker) WHERE w.run_id = $rid)
        SELECT p.worker_a, p.worker_b, p.n_shared, p.value, p.details,
               va.verdict AS verdict_a, vb.verdict AS verdict_b
        FROM run_pairs p LEFT JOIN v va ON va.worker = p.worker_a LEFT JOIN v vb ON vb.worker = p.worker_b
        WHERE p.run_id = $rid AND p.kind = $kind
        ORDER BY p.value DESC NULLS LAST, p.worker_a, p.worker_b LIMIT $limit""",
        {"pid": project_id, "rid": run_id, "kind": kind, "limit": int(limit)})
    df["details"] = [_json(d) for d in df["details"]]
    return df


def worker_verdicts(con, run_id: int, project_id: int, workers: list[str]) -> pd.DataFrame:
    """Verdict, trust and volume of the named workers."""
    return _df(con, f"""
        WITH {_BANNED_CTE}, {_FIRED_CTE}
        SELECT w.worker, w.trust, w.n_labels, {_VERDICT_SQL} AS verdict, {_REASONS_SQL} AS reasons
        FROM run_workers w LEFT JOIN banned b USING (worker) LEFT JOIN fired fs USING (worker)
        WHERE w.run_id = $rid AND list_contains($workers::TEXT[], w.worker)
        ORDER BY w.trust NULLS LAST, w.worker""", {"pid": project_id, "rid": run_id, "workers": list(workers)})


def community_items(con, run_id: int, project_id: int, members: list[str], limit: int = 200) -> pd.DataFrame:
    """Items labelled by at least two members of a group: how many members, whether they
    gave the same answer, whether that answer differs from the consensus (a co-error), and
    the spread of their submit times in seconds."""
    return _df(con, f"""
        WITH {_final(con, project_id, 'AND list_contains($members::TEXT[], worker)')},
        g AS (
            SELECT task, count(*) AS members, count(DISTINCT label) AS distinct_answers,
                   mode(label) AS group_answer,
                   epoch(max(ts)) - epoch(min(ts)) AS time_spread_s
            FROM final GROUP BY task HAVING count(*) >= 2
        )
        SELECT g.task, g.members, g.group_answer, t.label AS consensus, t.confidence,
               g.distinct_answers = 1 AS same_answer,
               g.distinct_answers = 1 AND g.group_answer IS DISTINCT FROM t.label AS co_error,
               g.time_spread_s
        FROM g LEFT JOIN run_tasks t ON t.run_id = $rid AND t.task = g.task
        ORDER BY co_error DESC, g.members DESC, g.time_spread_s NULLS LAST, g.task LIMIT $limit""",
        {"pid": project_id, "rid": run_id, "members": list(members), "limit": int(limit)})


def community_summary(con, run_id: int, project_id: int, members: list[str]) -> dict:
    """Counts for a group: shared items, items answered identically, co-errors, median time spread."""
    row = _one(con, f"""
        WITH {_final(con, project_id, 'AND list_contains($members::TEXT[], worker)')},
        g AS (SELECT task, count(DISTINCT label) AS d, mode(label) AS a,
                     epoch(max(ts)) - epoch(min(ts)) AS spread
              FROM final GROUP BY task HAVING count(*) >= 2)
        SELECT count(*), count(*) FILTER (WHERE d = 1),
               count(*) FILTER (WHERE d = 1 AND a IS DISTINCT FROM t.label), median(spread)
        FROM g LEFT JOIN run_tasks t ON t.run_id = $rid AND t.task = g.task""",
        {"pid": project_id, "rid": run_id, "members": list(members)})
    return {"shared_items": int(row[0]), "same_answer": int(row[1]), "co_errors": int(row[2]),
            "median_time_spread_s": None if row[3] is None else float(row[3])}


# -- agreement ----------------------------------------------------------------------------

def top_workers(con, run_id: int, n: int = 25) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT worker FROM run_workers WHERE run_id = ? ORDER BY n_labels DESC, worker LIMIT ?",
        [run_id, int(n)]).fetchall()]


def agreement_matrix(con, run_id: int, project_id: int, n: int = 25, min_shared: int = 5) -> pd.DataFrame:
    """Cohen's kappa between each pair of the ``n`` busiest workers (worker_a, worker_b, shared, kappa).

    Uses the run's stored ``agreement`` pairs when the pipeline wrote them; otherwise computes
    kappa in SQL from the final answers of those workers (Cohen 1960: (p_o - p_e)/(1 - p_e)
    with each worker's label distribution on the shared items). Pairs with fewer than
    ``min_shared`` shared items are left out (kappa on a handful of items is noise).
    """
    top = top_workers(con, run_id, n)
    stored = _df(con, """
        SELECT worker_a, worker_b, n_shared AS shared, value AS kappa FROM run_pairs
        WHERE run_id = ? AND kind = 'agreement' AND list_contains(?::TEXT[], worker_a)
          AND list_contains(?::TEXT[], worker_b) AND n_shared >= ?""", [run_id, top, top, int(min_shared)])
    if not stored.empty:
        return stored
    df = _df(con, f"""
        WITH {_final(con, project_id, 'AND list_contains($top::TEXT[], worker)')},
        pairs AS (SELECT a.worker AS worker_a, b.worker AS worker_b, a.label AS la, b.label AS lb
                  FROM final a JOIN final b ON a.task = b.task AND a.worker < b.worker),
        agg AS (SELECT worker_a, worker_b, count(*) AS shared, count(*) FILTER (WHERE la = lb) AS n_agree
                FROM pairs GROUP BY ALL HAVING count(*) >= $min_shared),
        {_MARGINAL_PRODUCTS_SQL.format(pair="worker_a, worker_b")}
        SELECT worker_a, worker_b, shared, n_agree, coalesce(s, 0) AS marginal_products
        FROM agg LEFT JOIN pe USING (worker_a, worker_b) ORDER BY worker_a, worker_b""",
        {"pid": project_id, "top": top, "min_shared": int(min_shared)})
    return _with_kappa(df, after="shared")


# Per worker pair of ``agg`` (keyed by {pair}): sum over labels of the two workers' label
# counts on their shared items, the chance term of Cohen's kappa (analytics.agreement.cohen_kappa).
_MARGINAL_PRODUCTS_SQL = """
        pa AS (SELECT {pair}, la AS label, count(*) AS n FROM pairs SEMI JOIN agg USING ({pair}) GROUP BY ALL),
        pb AS (SELECT {pair}, lb AS label, count(*) AS n FROM pairs SEMI JOIN agg USING ({pair}) GROUP BY ALL),
        pe AS (SELECT {pair}, sum(pa.n * pb.n) AS s FROM pa JOIN pb USING ({pair}, label) GROUP BY ALL)"""


def _with_kappa(df: pd.DataFrame, after: str) -> pd.DataFrame:
    """Replace the counted sums ``n_agree`` and ``marginal_products`` by Cohen's kappa (NaN where
    undefined), placed after column ``after``."""
    from analytics.agreement import cohen_kappa

    kappa = cohen_kappa(df["shared"].to_numpy(float), df["n_agree"].to_numpy(float),
                        df["marginal_products"].to_numpy(float))
    df = df.drop(columns=["n_agree", "marginal_products"])
    df.insert(df.columns.get_loc(after) + 1, "kappa", kappa)
    return df


def agreement_by_label(con, run_id: int, project_id: int) -> pd.DataFrame:
    """Per consensus label: items, mean confidence, and answer agreement, the mean share of
    answers on those items that match the most common answer (1 - the stored item score
    ``disagreement``; computed against the consensus from the final answers when the run has
    no such score)."""
    if "disagreement" in score_names(con, run_id, "task"):
        return _df(con, """
            SELECT t.label, count(*) AS items, avg(t.confidence) AS mean_confidence,
                   1 - avg(s.value) AS answer_agreement
            FROM run_tasks t LEFT JOIN run_task_scores s
                 ON s.run_id = t.run_id AND s.task = t.task AND s.name = 'disagreement'
            WHERE t.run_id = $rid AND t.label IS NOT NULL
            GROUP BY t.label ORDER BY items DESC, t.label""", {"rid": run_id})
    return _df(con, f"""
        WITH {_final(con, project_id)},
        per AS (SELECT t.label, f.task, avg((f.label = t.label)::INT) AS agree
                FROM final f JOIN run_tasks t ON t.run_id = $rid AND t.task = f.task GROUP BY ALL)
        SELECT t.label, count(*) AS items, avg(t.confidence) AS mean_confidence, avg(per.agree) AS answer_agreement
        FROM run_tasks t LEFT JOIN per USING (task) WHERE t.run_id = $rid AND t.label IS NOT NULL
        GROUP BY t.label ORDER BY items DESC, t.label""", {"pid": project_id, "rid": run_id})


# -- what changed -------------------------------------------------------------------------

def run_diff(con, prev_run: int, new_run: int, project_id: int, limit: int = 50) -> dict:
    """What changed between two runs of a project: workers newly suspect or cleared, items
    whose consensus label changed, and the headline numbers before and after."""
    workers = _df(con, """
        SELECT coalesce(n.worker, p.worker) AS worker, p.suspect AS was_suspect, n.suspect AS now_suspect,
               p.trust AS trust_before, n.trust AS trust_after, n.reasons
        FROM (SELECT * FROM run_workers WHERE run_id = $new) n
        FULL JOIN (SELECT * FROM run_workers WHERE run_id = $prev) p USING (worker)
        WHERE coalesce(n.suspect, false) <> coalesce(p.suspect, false)
        ORDER BY now_suspect DESC NULLS LAST, worker LIMIT $limit""",
        {"new": new_run, "prev": prev_run, "limit": int(limit)})
    items = _one(con, """
        SELECT count(*) FILTER (WHERE n.label IS DISTINCT FROM p.label),
               count(*) FILTER (WHERE p.task IS NULL), count(*) FILTER (WHERE n.task IS NULL)
        FROM (SELECT * FROM run_tasks WHERE run_id = $new) n
        FULL JOIN (SELECT * FROM run_tasks WHERE run_id = $prev) p USING (task)""", {"new": new_run, "prev": prev_run})
    changed = _df(con, """
        SELECT n.task, p.label AS label_before, n.label AS label_after, p.confidence AS confidence_before,
               n.confidence AS confidence_after
        FROM run_tasks n JOIN run_tasks p ON p.task = n.task AND p.run_id = $prev
        WHERE n.run_id = $new AND n.label IS DISTINCT FROM p.label
        ORDER BY n.confidence DESC, n.task LIMIT $limit""", {"new": new_run, "prev": prev_run, "limit": int(limit)})
    before, after = run_summary(con, prev_run), run_summary(con, new_run)
    return {
        "prev_run": prev_run, "new_run": new_run,
        "newly_suspect": int((workers["now_suspect"].fillna(False).astype(bool)).sum()),
        "cleared": int((~workers["now_suspect"].fillna(False).astype(bool)).sum()),
        "workers": workers,
        "labels_changed": int(items[0]), "items_added": int(items[1]), "items_removed": int(items[2]),
        "changed_items": changed,
        "alpha_before": before["alpha"], "alpha_after": after["alpha"],
        "accuracy_before": before["accuracy"], "accuracy_after": after["accuracy"],
        "method_before": before["method"], "method_after": after["method"],
    }


def fmt_interval(value, lo, hi, digits: int = 3) -> str:
    """'0.712 [0.690, 0.735]' or '0.712' or '—' (for tables and metric captions)."""
    def ok(x):
        return x is not None and not (isinstance(x, float) and math.isnan(x))
    if not ok(value):
        return "—"
    if ok(lo) and ok(hi):
        return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
    return f"{value:.{digits}f}"


# -- ingests --------------------------------------------------------------------------------

def ingest_history(con, project_id: int | None = None, limit: int = 200) -> pd.DataFrame:
    """Ingests of the whole workspace (or one project), newest first, with the project name and
    provenance: file, format, SHA-256, row counts, who and when. (Per-project history, oldest
    first, and the quarantined rows themselves are :mod:`analytics.catalog`.)"""
    return _df(con, """
        SELECT i.ingest_id, i.project_id, p.name AS project, i.file_name, i.format, i.size_bytes, i.sha256,
               i.rows_read, i.rows_loaded, i.rows_quarantined, i.rows_duplicate, i.rows_updates, i.gold_loaded,
               i.actor, i.loaded_at
        FROM ingests i JOIN projects p USING (project_id)
        WHERE ($pid IS NULL OR i.project_id = $pid) AND p.deleted_at IS NULL AND i.withdrawn_at IS NULL
        ORDER BY i.ingest_id DESC LIMIT $limit""", {"pid": project_id, "limit": int(limit)})


# -- uploaded files (before they are ingested) ----------------------------------------------

#: Canonical annotation columns a mapping can fill (DESIGN.md, "Canonical annotation record").
CANONICAL_COLUMNS: tuple[str, ...] = ("task", "worker", "label", "started_at", "submitted_at", "duration_s",
                                      "assignment", "event")
_ANSWER_PREFIXES = ("Answer.", "OUTPUT:")


def file_columns(path, name: str | None = None) -> dict:
    """Format, columns and likely answer columns of a file, read from its first bytes only.

    Returns ``{"format": str, "columns": [...], "answer_columns": [...]}``; raises
    :class:`UserError` for empty, binary or unreadable files (the same checks as ingest).
    """
    from analytics.ingest.detect import detect_format, guess_delimiter, header_columns, sniff

    s = sniff(path, name)
    fmt = detect_format(path, name)
    cols: list[str] = []
    if s.kind == "text":
        delim = {".tsv": "\t", ".tab": "\t"}.get(s.suffix) or guess_delimiter(s.header)
        cols = header_columns(s.header, delim)
    elif s.kind == "parquet":
        import duckdb

        with duckdb.connect() as con:
            cols = [r[0] for r in con.execute("SELECT name FROM parquet_schema(?) WHERE name <> 'schema'",
                                              [str(path)]).fetchall()]
    else:
        first = s.head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0]
        try:
            rec = json.loads(first)
            cols = list(rec) if isinstance(rec, dict) else []
        except ValueError:
            cols = []
    answers = [c for c in cols if c.startswith(_ANSWER_PREFIXES)]
    if fmt == "crowdflower":
        answers = [c for c in cols if not c.startswith("_") and not c.endswith("_gold") and f"{c}_gold" in cols] \
            or [c for c in cols if not c.startswith("_")]
    return {"format": fmt, "columns": cols, "answer_columns": answers}


# -- settings documentation ------------------------------------------------------------------

def attribute_docs(cls) -> dict[str, str]:
    """The one-line docstrings written under each field of a dataclass (PEP 257 attribute docstrings).

    Lets the Settings page show the same documentation the code carries, without a copy.
    """
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for prev, node in zip(body, body[1:], strict=False):
        if (isinstance(prev, ast.AnnAssign) and isinstance(prev.target, ast.Name) and isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            docs[prev.target.id] = " ".join(node.value.value.split())
    return docs


# -- acting from the tables ------------------------------------------------------------------

def worker_tasks(con, project_id: int, workers: tuple[str, ...] | list[str]) -> list[str]:
    """Every item the given workers answered (final answers), to re-queue them."""
    return [r[0] for r in con.execute(f"""
        WITH {_final(con, project_id, 'AND list_contains($workers::TEXT[], worker)')}
        SELECT DISTINCT task FROM final ORDER BY task""", {"pid": project_id, "workers": list(workers)}).fetchall()]


def audit_status(con, workspace_path: str, project_id: int | None = None) -> dict:
    """One line of audit facts for the Overview: chain intact (and anchored), entries, the last decision."""
    from pathlib import Path

    from analytics import audit

    res = audit.verify(con, anchor=Path(workspace_path) / audit.ANCHOR_NAME)
    last = con.execute("""SELECT action, target, actor, created_at FROM actions
                          WHERE $pid IS NULL OR project_id = $pid ORDER BY seq DESC LIMIT 1""",
                       {"pid": project_id}).fetchall()
    decisions = con.execute("""SELECT count(*) FILTER (WHERE action = 'ban'), count(*) FILTER (WHERE action = 'requeue')
                               FROM actions WHERE project_id = ?""", [project_id]).fetchall()[0]
    return {"ok": res.ok, "warning": res.warning, "message": res.message, "entries": res.n_entries,
            "first_bad": res.first_bad_seq, "last": last[0] if last else None,
            "bans": int(decisions[0] or 0), "requeues": int(decisions[1] or 0)}
