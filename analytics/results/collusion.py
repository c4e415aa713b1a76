"""The Collusion page: the run's worker communities and evidence pairs, and what a group
of workers answered together."""

from __future__ import annotations

import pandas as pd

from analytics.results.sql import _df, _final, _json, _one
from analytics.results.verdicts import _BANNED_CTE, _FIRED_CTE, _REASONS_SQL, _VERDICT_SQL


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
              LEFT JOIN banned b USING (worker) LEFT JOIN significant fs USING (worker) WHERE w.run_id = $rid)
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
        FROM run_workers w LEFT JOIN banned b USING (worker) LEFT JOIN significant fs USING (worker)
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
