"""One worker's profile on the Workers page: signals and their evidence, confusion matrix,
timeline, speed against peers, overlap with other workers, and the items they labelled."""

from __future__ import annotations

import pandas as pd

from analytics.results.agreement import _MARGINAL_PRODUCTS_SQL, _with_kappa
from analytics.results.buckets import _bucket_key, _to_ts, time_bucket
from analytics.results.sql import _df, _final, _json, _one
from analytics.results.verdicts import _BANNED_CTE, _FIRED_CTE, _VERDICT_SQL


def worker_signals(con, run_id: int, worker: str) -> pd.DataFrame:
    """Every detector tested on the worker: significant first, then by p-value; evidence parsed to dicts.

    ``significant`` is the stored column ``run_signals.fired``: whether the run counted the
    signal (the detector's threshold crossed and, with a p-value, its BH-adjusted p-value small
    enough, :class:`analytics.trust.WorkerVerdict`).
    """
    df = _df(con, """
        SELECT signal, fired AS significant, score, p_value, reason, evidence FROM run_signals
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


def worker_bursts(signals: pd.DataFrame) -> pd.DataFrame:
    """Time windows named in the evidence of the worker's significant timing signals (start, end, signal)."""
    rows = []
    for sig, significant, ev in zip(signals["signal"], signals["significant"], signals["evidence"], strict=True):
        if not significant or not isinstance(ev, dict):
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
        LEFT JOIN banned b ON b.worker = agg.other LEFT JOIN significant fs ON fs.worker = agg.other
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


def worker_tasks(con, project_id: int, workers: tuple[str, ...] | list[str]) -> list[str]:
    """Every item the given workers answered (final answers), to re-queue them."""
    return [r[0] for r in con.execute(f"""
        WITH {_final(con, project_id, 'AND list_contains($workers::TEXT[], worker)')}
        SELECT DISTINCT task FROM final ORDER BY task""", {"pid": project_id, "workers": list(workers)}).fetchall()]
