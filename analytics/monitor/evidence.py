"""Who stands behind a period's numbers: the evidence an alert stores and an incident starts from.

* :func:`period_workers`: every worker active in a period with their labels there, gold and
  consensus agreement, whether the period is their first, and the run's verdict;
* :func:`worker_onsets`: per worker, the time their suspicious activity began: the onset of a
  fired ``drift`` signal (Page's CUSUM change point, :mod:`analytics.behaviour.drift`), else
  the start of a fired ``burst`` window (:mod:`analytics.behaviour.burst`), else their first
  label;
* :func:`consensus_counts`: per period and class, the run's consensus label of the item of
  every label (what the items' mix alone would give);
* :func:`community_periods`: the run's suspect collusion communities with the period most of
  their members' labels fall in;
* :func:`worker_period_agreement`: per worker and period, labels judged against the run's
  consensus and how many agreed (banned workers left out).
"""

from __future__ import annotations

import json

import pandas as pd

from analytics.monitor.series import BANNED_CTE, agreement_cte, final_cte, period_key


def _timed(unit: str) -> str:
    return "TRUE" if unit == "ingest" else "ts IS NOT NULL"


def period_workers(con, project_id: int, unit: str, period: int, run_id: int | None = None,
                   consensus_run: int | None = None) -> pd.DataFrame:
    """Workers active in ``period``: ``worker, labels, gold_n, gold_correct, judged, agree, new,
    first_at, last_at, suspect, trust, banned``, busiest first. The verdict columns come from
    ``run_id`` (NULL without one); agreement is with the consensus of ``consensus_run``, or with
    the leave-one-out plurality when it is None (:func:`analytics.monitor.series.agreement_cte`)."""
    verdict = ("w.suspect, w.trust" if run_id is not None else "NULL::BOOLEAN AS suspect, NULL::DOUBLE AS trust")
    run_join = "LEFT JOIN run_workers w ON w.run_id = $vid AND w.worker = lab.worker" if run_id is not None else ""
    group = "GROUP BY lab.worker, w.suspect, w.trust" if run_id is not None else "GROUP BY lab.worker"
    params = {"pid": int(project_id), "period": int(period)}
    if run_id is not None:
        params["vid"] = int(run_id)
    if consensus_run is not None:
        params["rid"] = int(consensus_run)
    return con.execute(f"""
        WITH {final_cte(con, project_id)}, {BANNED_CTE}, {agreement_cte(consensus_run)},
        lab AS (SELECT task, worker, label, ts, {period_key(unit)} AS p FROM final WHERE {_timed(unit)}),
        firsts AS (SELECT worker, min(p) AS p0 FROM lab GROUP BY worker)
        SELECT lab.worker, count(*) AS labels, count(g.label) AS gold_n,
               count(*) FILTER (WHERE g.label = lab.label) AS gold_correct, {verdict},
               count(*) FILTER (WHERE a.judged) AS judged, count(*) FILTER (WHERE a.agree) AS agree,
               any_value(firsts.p0) = $period AS new, min(lab.ts) AS first_at, max(lab.ts) AS last_at,
               bool_or(b.worker IS NOT NULL) AS banned
        FROM lab JOIN firsts USING (worker)
        JOIN agreeing a ON a.task = lab.task AND a.worker = lab.worker
        LEFT JOIN gold g ON g.project_id = $pid AND g.task = lab.task
        LEFT JOIN banned b ON b.worker = lab.worker
        {run_join}
        WHERE lab.p = $period
        {group}
        ORDER BY labels DESC, lab.worker""", params).df()


def worker_onsets(con, project_id: int, run_id: int | None, workers: list[str]) -> pd.DataFrame:
    """``worker, first_at, onset, onset_source`` for ``workers`` (see the module docstring)."""
    if not workers:
        return pd.DataFrame(columns=["worker", "first_at", "onset", "onset_source"])
    firsts = con.execute("""SELECT worker, min(coalesce(submitted_at, started_at)) AS first_at,
                                   min(ingest_id) AS first_ingest
                            FROM annotations WHERE project_id = ? AND list_contains(?, worker) GROUP BY worker""",
                         [int(project_id), list(workers)]).df()
    firsts["onset"], firsts["onset_source"] = firsts["first_at"], "first label"
    if run_id is not None:
        sig = con.execute("""SELECT worker, signal, evidence::VARCHAR AS evidence FROM run_signals
                             WHERE run_id = ? AND fired AND signal IN ('drift', 'burst') AND list_contains(?, worker)""",
                          [int(run_id), list(workers)]).df()
        found = {}
        for r in sig.itertuples(index=False):
            ev = json.loads(r.evidence) if r.evidence else {}
            when = ev.get("onset_time") if r.signal == "drift" else ev.get("window_start")
            if when:
                ts = pd.Timestamp(when)
                ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
                prev = found.get(r.worker)
                if prev is None or (r.signal == "drift" and prev[1] != "drift") or \
                        (r.signal == prev[1] and ts < prev[0]):
                    found[r.worker] = (ts, r.signal)
        for w, (ts, src) in found.items():
            m = firsts["worker"] == w
            firsts.loc[m, "onset"] = ts
            firsts.loc[m, "onset_source"] = f"{src} signal"
    firsts["first_at"] = pd.to_datetime(firsts["first_at"], utc=True)
    firsts["onset"] = pd.to_datetime(firsts["onset"], utc=True)
    return firsts.sort_values("worker").reset_index(drop=True)


def consensus_counts(con, project_id: int, unit: str, run_id: int) -> pd.DataFrame:
    """``period, label, n``: the run's consensus label of each label's item, counted per period."""
    return con.execute(f"""
        WITH {final_cte(con, project_id)},
        lab AS (SELECT task, {period_key(unit)} AS p FROM final WHERE {_timed(unit)})
        SELECT lab.p AS period, t.label, count(*) AS n
        FROM lab JOIN run_tasks t ON t.run_id = $rid AND t.task = lab.task
        WHERE t.label IS NOT NULL GROUP BY ALL ORDER BY ALL""", {"pid": int(project_id), "rid": int(run_id)}).df()


def community_periods(con, project_id: int, unit: str, run_id: int) -> pd.DataFrame:
    """``community, members, score, reasons, period, share_in_period`` of the run's suspect communities."""
    comm = con.execute("""SELECT community, members, score, reasons FROM run_communities
                          WHERE run_id = ? AND suspect ORDER BY community""", [int(run_id)]).df()
    if comm.empty:
        return comm.assign(period=pd.Series(dtype="int64"), share_in_period=pd.Series(dtype=float))
    members_long = comm[["community", "members"]].explode("members").rename(columns={"members": "worker"})
    con.register("_members_long", members_long)
    try:
        per = con.execute(f"""
            WITH {final_cte(con, project_id)},
            lab AS (SELECT worker, {period_key(unit)} AS p FROM final WHERE {_timed(unit)})
            SELECT m.community, lab.p AS period, count(*) AS n
            FROM _members_long m JOIN lab ON lab.worker = m.worker GROUP BY ALL""", {"pid": int(project_id)}).df()
    finally:
        con.unregister("_members_long")
    if per.empty:
        return comm.assign(period=pd.Series(dtype="int64"), share_in_period=pd.Series(dtype=float)).iloc[0:0]
    per["share_in_period"] = per["n"] / per.groupby("community")["n"].transform("sum")
    top = per.sort_values(["community", "n", "period"], ascending=[True, False, False]).drop_duplicates("community")
    out = comm.merge(top[["community", "period", "share_in_period"]], on="community")
    out["members"] = out["members"].map(list)
    return out.reset_index(drop=True)


def worker_period_agreement(con, project_id: int, unit: str, run_id: int | None) -> pd.DataFrame:
    """``period, worker, n, k``: the worker's labels of the period judged against the consensus of
    ``run_id`` (or the leave-one-out plurality when None) and those agreeing with it; banned workers
    are left out."""
    params = {"pid": int(project_id)} | ({"rid": int(run_id)} if run_id is not None else {})
    return con.execute(f"""
        WITH {final_cte(con, project_id)}, {BANNED_CTE}, {agreement_cte(run_id)},
        lab AS (SELECT task, worker, {period_key(unit)} AS p FROM final WHERE {_timed(unit)})
        SELECT lab.p AS period, lab.worker, count(*) FILTER (WHERE a.judged) AS n,
               count(*) FILTER (WHERE a.agree) AS k
        FROM lab JOIN agreeing a ON a.task = lab.task AND a.worker = lab.worker
        LEFT JOIN banned b ON b.worker = lab.worker WHERE b.worker IS NULL
        GROUP BY ALL HAVING count(*) FILTER (WHERE a.judged) > 0 ORDER BY period, worker""", params).df()
