"""The Overview page: a run's headline numbers, its charts, what changed since the previous
run, and the audit chain's state."""

from __future__ import annotations

import math

import pandas as pd

from analytics.errors import UserError
from analytics.results.buckets import _bucket_key, time_bucket
from analytics.results.sql import _df, _final, _json, _one
from analytics.results.verdicts import _BANNED_CTE, _FIRED_CTE, _VERDICT_SQL, VERDICTS


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
        FROM run_workers w LEFT JOIN banned b USING (worker) LEFT JOIN significant fs USING (worker)
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


def trust_histogram(con, run_id: int, project_id: int, bins: int = 20) -> pd.DataFrame:
    """Workers per trust bin and verdict (bin_lo, bin_hi, verdict, workers); trust is in [0, 1]."""
    if bins < 1:
        raise UserError("the trust histogram needs at least one bin")
    return _df(con, f"""
        WITH {_BANNED_CTE}, {_FIRED_CTE},
        v AS (SELECT least(floor(coalesce(w.trust, 0) * $bins), $bins - 1)::INT AS b, {_VERDICT_SQL} AS verdict
              FROM run_workers w LEFT JOIN banned b USING (worker) LEFT JOIN significant fs USING (worker)
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
              LEFT JOIN banned b USING (worker) LEFT JOIN significant fs USING (worker) WHERE w.run_id = $rid),
        per AS (SELECT {key} AS b, worker, count(*) AS n FROM final WHERE ts IS NOT NULL GROUP BY ALL),
        agg AS (SELECT b, coalesce(v.verdict, 'trusted') AS verdict, sum(n)::BIGINT AS labels
                FROM per LEFT JOIN v USING (worker) GROUP BY ALL)
        SELECT {back} AS bucket, verdict, labels FROM agg ORDER BY b, verdict""", {"pid": project_id, "rid": run_id})
    df.attrs["unit"] = unit
    return df


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
