"""Quality over time: one row of numbers per period (day, week, or ingest batch).

A period is a calendar day or an ISO week (Monday 00:00 UTC) of the label's submit time
(else its start time), chosen by the span of the project's timestamps (:func:`period_unit`:
days up to ``DAY_SPAN_DAYS``, weeks beyond); a project without timestamps is watched per
ingest batch instead (each loaded file is one period). Only periods that hold labels are
listed: real projects pause for weeks and a gap is not a change.

Per period (:func:`quality_series`), all counted in SQL over the final answers:

* throughput: labels, labels per day of the period, active workers, items, median seconds
  per label;
* new workers (first label of the worker in the project falls in the period) and their
  labels;
* gold accuracy of the period's labels on gold items, with the Wilson score interval
  (Wilson 1927, JASA 22:209-212; labels of one worker are not independent, so read the
  interval as a lower bound on the uncertainty; the rules use the worker-cluster sums
  ``gold_kk, gold_kn, gold_nn, gold_m`` for a cluster-robust variance instead);
* Krippendorff's alpha of the period's labels (nominal, items with two or more labels in
  the period; the same coincidence-matrix formula as :func:`analytics.agreement.krippendorff_alpha`);
* with an analysis run: workers and labels of the period from workers the run marks suspect,
  labels of banned workers, and the share of labels that agree with the run's consensus, for
  new and for established workers (new workers' early quality).

The label distribution per period is :func:`label_counts` (long form: period, label, n).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

#: Span of the project's timestamps (days) up to which periods are days rather than weeks.
DAY_SPAN_DAYS = 21
UNITS = ("day", "week", "ingest")
_SECONDS = {"day": 86400, "week": 604800}
_OFFSET = {"day": 0, "week": 345600}   # ISO weeks start on Monday; the Unix epoch was a Thursday


def _one(con, sql: str, params=None):
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def final_cte(con, project_id: int) -> str:
    """``final``: one row per final answer with its ingest and time (``ts``), like
    :data:`analytics.dataset.FINAL_ANSWERS_SQL`; the window is skipped when no answer was edited."""
    edited = _one(con, "SELECT count(*) FROM annotations WHERE project_id = ? AND event <> 'create'",
                  [project_id])[0]
    if not edited:
        return """final AS (
            SELECT task, worker, label, ingest_id, source_row, coalesce(submitted_at, started_at) AS ts,
                   coalesce(duration_s, epoch(submitted_at) - epoch(started_at)) AS duration_s
            FROM annotations WHERE project_id = $pid)"""
    return """final AS (
        SELECT task, worker, label, ingest_id, source_row, ts, duration_s FROM (
            SELECT task, worker, label, ingest_id, source_row, event, coalesce(submitted_at, started_at) AS ts,
                   coalesce(duration_s, epoch(submitted_at) - epoch(started_at)) AS duration_s,
                   row_number() OVER (PARTITION BY task, worker ORDER BY coalesce(submitted_at, started_at) DESC
                                      NULLS LAST, ingest_id DESC, source_row DESC) AS rn
            FROM annotations WHERE project_id = $pid)
        WHERE rn = 1 AND event <> 'delete')"""


def period_unit(con, project_id: int) -> str:
    """'day' when the project's timestamps span at most DAY_SPAN_DAYS days, 'week' beyond,
    'ingest' when fewer than half of its labels carry a time."""
    row = _one(con, """SELECT count(*), count(coalesce(submitted_at, started_at)),
                              epoch(max(coalesce(submitted_at, started_at))) - epoch(min(coalesce(submitted_at, started_at)))
                       FROM annotations WHERE project_id = ?""", [project_id])
    if not row or not row[0] or row[1] < 0.5 * row[0]:
        return "ingest"
    return "day" if (row[2] or 0) <= DAY_SPAN_DAYS * 86400 else "week"


def period_key(unit: str, col: str = "ts") -> str:
    """SQL expression of the period key of a label: a bucket number, or the ingest id."""
    if unit == "ingest":
        return "ingest_id::BIGINT"
    if unit not in _SECONDS:
        raise ValueError(f"unknown period unit {unit!r}; use one of {UNITS}")
    return f"floor((epoch({col}) - {_OFFSET[unit]}) / {_SECONDS[unit]})::BIGINT"


def period_bounds(unit: str, keys) -> tuple[pd.Series, pd.Series]:
    """UTC start and end timestamps of period keys (ingest periods: None; see :func:`quality_series`)."""
    keys = pd.Series(keys, dtype="int64")
    if unit == "ingest":
        none = pd.Series([pd.NaT] * len(keys), dtype="datetime64[ns, UTC]")
        return none, none
    start = pd.to_datetime(keys * _SECONDS[unit] + _OFFSET[unit], unit="s", utc=True)
    return start, start + pd.Timedelta(seconds=_SECONDS[unit])


def wilson(k, n, z: float = 1.959964) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion k/n (NaN where n = 0)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        den = 1 + z * z / n
        mid = (p + z * z / (2 * n)) / den
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return np.where(n > 0, mid - half, np.nan), np.where(n > 0, mid + half, np.nan)


_SERIES_SQL = """
WITH {final},
lab AS (SELECT task, worker, label, ingest_id, ts, duration_s, {key} AS p FROM final WHERE {timed}),
firsts AS (SELECT worker, min(p) AS p0 FROM lab GROUP BY worker),
base AS (
    SELECT lab.p, count(*) AS labels, count(DISTINCT worker) AS workers, count(DISTINCT lab.task) AS tasks,
           count(DISTINCT worker) FILTER (WHERE lab.p = firsts.p0) AS new_workers,
           count(*) FILTER (WHERE lab.p = firsts.p0) AS new_worker_labels,
           count(g.label) AS gold_n, count(*) FILTER (WHERE g.label = lab.label) AS gold_correct,
           median(duration_s) FILTER (WHERE duration_s >= 0) AS median_duration_s,
           min(ts) AS first_at, max(ts) AS last_at, min(lab.ingest_id) AS first_ingest, max(lab.ingest_id) AS last_ingest
    FROM lab JOIN firsts USING (worker)
    LEFT JOIN gold g ON g.project_id = $pid AND g.task = lab.task
    GROUP BY lab.p),
cells AS (SELECT p, task, label, count(*)::DOUBLE AS c FROM lab GROUP BY ALL),
items AS (SELECT p, task, sum(c) AS n, sum(c * c) AS sq FROM cells GROUP BY ALL HAVING sum(c) >= 2),
obs AS (SELECT p, sum(n) AS n_pair, sum((n * n - sq) / (n - 1)) AS d FROM items GROUP BY p),
marg AS (SELECT p, label, sum(c) AS nk FROM cells JOIN items USING (p, task) GROUP BY ALL),
exp AS (SELECT p, sum(nk * nk) AS sq_k, count(*) AS k_used FROM marg GROUP BY p)
SELECT base.*, obs.n_pair, obs.d, exp.sq_k, exp.k_used
FROM base LEFT JOIN obs USING (p) LEFT JOIN exp USING (p)
ORDER BY p
"""

_RUN_SQL = """
WITH {final}, {banned},
lab AS (SELECT task, worker, label, {key} AS p FROM final WHERE {timed}),
firsts AS (SELECT worker, min(p) AS p0 FROM lab GROUP BY worker)
SELECT lab.p,
       count(DISTINCT lab.worker) FILTER (WHERE w.suspect) AS suspect_workers,
       count(*) FILTER (WHERE w.suspect) AS suspect_labels,
       count(DISTINCT lab.worker) FILTER (WHERE w.suspect AND lab.p = firsts.p0) AS new_suspect_workers,
       count(*) FILTER (WHERE b.worker IS NOT NULL) AS banned_labels,
       count(DISTINCT lab.worker) FILTER (WHERE b.worker IS NOT NULL) AS banned_workers
FROM lab JOIN firsts USING (worker)
LEFT JOIN run_workers w ON w.run_id = $rid AND w.worker = lab.worker
LEFT JOIN banned b ON b.worker = lab.worker
GROUP BY lab.p
"""

# Per period, the worker-cluster sums of (right, asked) pairs that a cluster-robust variance of a
# share needs: gold answers right of gold answers, and (with a run) labels agreeing with the
# consensus of labels judged, for new and for established workers (see analytics.monitor.rules).
_GOLD_CLUSTER_SQL = """
WITH {final},
lab AS (SELECT task, worker, label, {key} AS p FROM final WHERE {timed}),
w AS (SELECT lab.p, lab.worker, count(*)::DOUBLE AS n, count(*) FILTER (WHERE g.label = lab.label)::DOUBLE AS k
      FROM lab JOIN gold g ON g.project_id = $pid AND g.task = lab.task GROUP BY ALL)
SELECT p, sum(k * k) AS gold_kk, sum(k * n) AS gold_kn, sum(n * n) AS gold_nn, count(*) AS gold_m FROM w GROUP BY p
"""

_AGREEMENT_SQL = """
WITH {final}, {banned}, {agreeing},
lab AS (SELECT task, worker, {key} AS p FROM final WHERE {timed}),
firsts AS (SELECT worker, min(p) AS p0 FROM lab GROUP BY worker),
w AS (SELECT lab.p, lab.worker, any_value(lab.p = firsts.p0) AS new,
             count(*) FILTER (WHERE a.judged)::DOUBLE AS n, count(*) FILTER (WHERE a.agree)::DOUBLE AS k
      FROM lab JOIN firsts USING (worker) JOIN agreeing a ON a.task = lab.task AND a.worker = lab.worker
      LEFT JOIN banned b ON b.worker = lab.worker WHERE b.worker IS NULL GROUP BY lab.p, lab.worker)
SELECT p, sum(n) AS judged, sum(k) AS agree, sum(n) FILTER (WHERE new) AS judged_new,
       sum(k) FILTER (WHERE new) AS agree_new,
       sum(k * k) FILTER (WHERE new) AS new_kk, sum(k * n) FILTER (WHERE new) AS new_kn,
       sum(n * n) FILTER (WHERE new AND n > 0) AS new_nn, count(*) FILTER (WHERE new AND n > 0) AS new_m,
       sum(k * k) FILTER (WHERE NOT new) AS old_kk, sum(k * n) FILTER (WHERE NOT new) AS old_kn,
       sum(n * n) FILTER (WHERE NOT new AND n > 0) AS old_nn, count(*) FILTER (WHERE NOT new AND n > 0) AS old_m
FROM w GROUP BY p
"""


def agreement_cte(run_id: int | None) -> str:
    """``agreeing(task, worker, judged, agree)`` for every final answer (needs the ``final`` CTE).

    With a run: the answer is judged when the run has a consensus label for its item, and agrees
    when it equals it. Without one (right after an ingest, before any analysis has seen the new
    labels): the leave-one-out plurality of the item's other answers, i.e. the answer is judged
    when the item has other answers and agrees when its label is among the most frequent of them.
    """
    if run_id is not None:
        return """agreeing AS (
            SELECT f.task, f.worker, t.label IS NOT NULL AS judged, coalesce(t.label = f.label, false) AS agree
            FROM final f LEFT JOIN run_tasks t ON t.run_id = $rid AND t.task = f.task)"""
    return """tl AS (SELECT task, label, count(*) AS c FROM final GROUP BY ALL),
        ts AS (SELECT task, sum(c) AS n, max(c) AS m1 FROM tl GROUP BY task),
        ts2 AS (SELECT tl.task, count(*) FILTER (WHERE tl.c = ts.m1) AS k1,
                       coalesce(max(tl.c) FILTER (WHERE tl.c < ts.m1), 0) AS m2
                FROM tl JOIN ts USING (task) GROUP BY tl.task),
        agreeing AS (
            SELECT f.task, f.worker, ts.n >= 2 AS judged,
                   (ts.n >= 2 AND tl.c = ts.m1 AND ts2.k1 = 1 AND tl.c - 1 >= ts2.m2) AS agree
            FROM final f JOIN tl ON tl.task = f.task AND tl.label = f.label
            JOIN ts ON ts.task = f.task JOIN ts2 ON ts2.task = f.task)"""


def agreement_by_period(con, project_id: int, unit: str, run_id: int | None, prefix: str = "") -> pd.DataFrame:
    """Per period the labels judged and agreeing (all, new workers) with the run's consensus, or with
    the leave-one-out plurality when ``run_id`` is None, and their worker-cluster sums; columns
    carry ``prefix``."""
    sql = _AGREEMENT_SQL.format(final=final_cte(con, project_id), banned=BANNED_CTE, agreeing=agreement_cte(run_id),
                                key=period_key(unit), timed=_timed(unit))
    params = {"pid": int(project_id)} | ({"rid": int(run_id)} if run_id is not None else {})
    df = con.execute(sql, params).df().rename(columns={"p": "period"})
    return df.rename(columns={c: prefix + c for c in df.columns if c != "period"})


BANNED_CTE = """banned AS (
    SELECT DISTINCT target AS worker FROM (
        SELECT target, action, row_number() OVER (PARTITION BY target, scope ORDER BY seq DESC) AS rn
        FROM actions WHERE target_kind = 'worker' AND action IN ('ban', 'unban')
          AND ((scope = 'project' AND project_id = $pid) OR scope = 'workspace'))
    WHERE rn = 1 AND action = 'ban')"""


def _timed(unit: str) -> str:
    return "TRUE" if unit == "ingest" else "ts IS NOT NULL"


def quality_series(con, project_id: int, run_id: int | None = None, unit: str | None = None) -> pd.DataFrame:
    """Per-period quality numbers of a project (see the module docstring), oldest period first.

    ``run_id`` (default: none) adds the run-based columns; ``unit`` overrides
    :func:`period_unit`. ``attrs['unit']`` names the unit. Ingest periods carry the file name.
    """
    unit = unit or period_unit(con, project_id)
    sql = _SERIES_SQL.format(final=final_cte(con, project_id), key=period_key(unit), timed=_timed(unit))
    df = con.execute(sql, {"pid": int(project_id)}).df()
    gc = con.execute(_GOLD_CLUSTER_SQL.format(final=final_cte(con, project_id), key=period_key(unit),
                                              timed=_timed(unit)), {"pid": int(project_id)}).df()
    df = df.merge(gc, on="p", how="left").rename(columns={"p": "period"})
    df = df.merge(agreement_by_period(con, project_id, unit, None, "mv_"), on="period", how="left")
    if unit == "ingest":
        names = con.execute("SELECT ingest_id AS period, file_name, loaded_at FROM ingests WHERE project_id = ?",
                            [int(project_id)]).df()
        df = df.merge(names, on="period", how="left")
        df["start"] = pd.to_datetime(df["loaded_at"], utc=True)
        df["end"] = df["start"]
        df["name"] = "ingest " + df["period"].astype(str) + " · " + df["file_name"].astype(str)
        df = df.drop(columns=["file_name", "loaded_at"])
        days = ((pd.to_datetime(df["last_at"], utc=True) - pd.to_datetime(df["first_at"], utc=True))
                .dt.total_seconds() / 86400).clip(lower=1.0)
    else:
        df["start"], df["end"] = period_bounds(unit, df["period"])
        df["name"] = df["start"].dt.strftime("%Y-%m-%d") if unit == "day" else \
            "week of " + df["start"].dt.strftime("%Y-%m-%d")
        days = pd.Series(_SECONDS[unit] / 86400, index=df.index)
    df["labels_per_day"] = df["labels"] / days.to_numpy()
    lo, hi = wilson(df["gold_correct"], df["gold_n"])
    with np.errstate(invalid="ignore", divide="ignore"):
        df["gold_accuracy"] = np.where(df["gold_n"] > 0, df["gold_correct"] / df["gold_n"].where(df["gold_n"] > 0), np.nan)
        n, d, sqk, k_used = (df[c].astype("float64").to_numpy(na_value=np.nan) for c in ("n_pair", "d", "sq_k", "k_used"))
        de = (n * n - sqk) / (n * (n - 1))
        alpha = 1 - (d / n) / de
    df["gold_lo"], df["gold_hi"] = lo, hi
    df["alpha"] = np.where(n >= 2, np.where(k_used == 1, 1.0, alpha), np.nan)
    df = df.drop(columns=["d", "sq_k", "k_used"]).rename(columns={"n_pair": "alpha_labels"})
    with np.errstate(invalid="ignore", divide="ignore"):
        mv_old_n = df["mv_judged"] - df["mv_judged_new"].fillna(0)
        df["mv_new_agreement"] = df["mv_agree_new"] / df["mv_judged_new"].where(df["mv_judged_new"] > 0)
        df["mv_established_agreement"] = (df["mv_agree"] - df["mv_agree_new"].fillna(0)) / mv_old_n.where(mv_old_n > 0)
    if run_id is not None:
        run = con.execute(_RUN_SQL.format(final=final_cte(con, project_id), banned=BANNED_CTE, key=period_key(unit),
                                          timed=_timed(unit)),
                          {"pid": int(project_id), "rid": int(run_id)}).df().rename(columns={"p": "period"})
        df = df.merge(run, on="period", how="left").merge(agreement_by_period(con, project_id, unit, run_id),
                                                          on="period", how="left")
        with np.errstate(invalid="ignore", divide="ignore"):
            df["suspect_label_share"] = df["suspect_labels"] / df["labels"]
            df["suspect_worker_share"] = df["suspect_workers"] / df["workers"]
            df["consensus_agreement"] = df["agree"] / df["judged"].where(df["judged"] > 0)
            df["new_agreement"] = df["agree_new"] / df["judged_new"].where(df["judged_new"] > 0)
            old_j = df["judged"] - df["judged_new"]
            df["established_agreement"] = (df["agree"] - df["agree_new"]) / old_j.where(old_j > 0)
    df.attrs["unit"] = unit
    df.attrs["run_id"] = run_id
    return df.reset_index(drop=True)


def label_counts(con, project_id: int, unit: str | None = None) -> pd.DataFrame:
    """Labels per period and class (period, label, n), with zero rows for classes a period lacks."""
    unit = unit or period_unit(con, project_id)
    df = con.execute(f"""
        WITH {final_cte(con, project_id)},
        lab AS (SELECT label, {period_key(unit)} AS p FROM final WHERE {_timed(unit)}),
        ps AS (SELECT DISTINCT p FROM lab), ls AS (SELECT DISTINCT label FROM lab),
        c AS (SELECT p, label, count(*) AS n FROM lab GROUP BY ALL)
        SELECT ps.p AS period, ls.label, coalesce(c.n, 0) AS n
        FROM ps CROSS JOIN ls LEFT JOIN c ON c.p = ps.p AND c.label = ls.label
        ORDER BY period, label""", {"pid": int(project_id)}).df()
    df.attrs["unit"] = unit
    return df


def count_matrix(counts: pd.DataFrame, periods, classes: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """(n_periods x K) label counts in the order of ``periods`` (and of ``classes`` when given), and the class names."""
    wide = counts.pivot_table(index="period", columns="label", values="n", aggfunc="sum", fill_value=0)
    wide = wide.reindex(list(periods), fill_value=0)
    if classes is not None:
        wide = wide.reindex(columns=list(classes), fill_value=0)
    return wide.to_numpy(dtype=float), [str(c) for c in wide.columns]


def chi2_shift(period_counts: np.ndarray, baseline_counts: np.ndarray) -> tuple[float, float]:
    """(total-variation distance, chi-square p-value) between one period's label counts and a
    baseline's (2 x K contingency table, Pearson's test; classes absent from both dropped)."""
    a, b = np.asarray(period_counts, float), np.asarray(baseline_counts, float)
    keep = (a + b) > 0
    a, b = a[keep], b[keep]
    if a.sum() == 0 or b.sum() == 0 or keep.sum() < 2:
        return float("nan"), float("nan")
    tv = 0.5 * np.abs(a / a.sum() - b / b.sum()).sum()
    chi2, p, _, _ = stats.chi2_contingency(np.vstack([a, b]), correction=False)
    return float(tv), float(p)
