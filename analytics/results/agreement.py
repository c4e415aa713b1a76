"""The Agreement page: Cohen's kappa between the busiest workers and agreement per label.

Kappa itself is :func:`analytics.agreement.cohen_kappa` (the one implementation); the SQL
here only counts what it needs per pair of workers.
"""

from __future__ import annotations

import pandas as pd

from analytics.results.sql import _df, _final
from analytics.results.workers import score_names


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
