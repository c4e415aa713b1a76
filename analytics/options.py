"""The read API of the per-option views of a multi-label project (:mod:`analytics.answers.multilabel`).

Per worker and option, against the run's per-option posteriors P(option applies | item)
stored in ``run_task_probs``: how often they ticked it, and their posterior-weighted

    sensitivity_o = sum_i [o ticked] p_io / sum_i p_io,
    specificity_o = sum_i [o not ticked] (1 - p_io) / sum_i (1 - p_io),

the soft versions of the per-class true-positive and true-negative rates (Dawid & Skene's
confusion matrix of the yes/no judgements on option o). Computed in SQL from the final
answers, so no per-option table is stored.
"""

from __future__ import annotations

import json

import pandas as pd

from analytics.ingest.answers import SEPARATOR
from analytics.results.sql import _final


def option_stats(con, run_id: int, project_id: int, worker: str) -> pd.DataFrame:
    """Per option: items it was offered on among the worker's answers, times ticked, the crowd's
    rate (mean posterior), sensitivity and specificity of the worker."""
    return con.execute(f"""
        WITH {_final(con, project_id, 'AND worker = $worker')},
        x AS (SELECT pr.label AS option, pr.p, list_contains(string_split(f.label, '{SEPARATOR}'), pr.label) AS ticked
              FROM final f JOIN run_task_probs pr ON pr.run_id = $rid AND pr.task = f.task)
        SELECT option, count(*) AS items, sum(ticked::INT) AS ticked, avg(p) AS crowd_rate,
               sum(CASE WHEN ticked THEN p ELSE 0 END) / nullif(sum(p), 0) AS sensitivity,
               sum(CASE WHEN ticked THEN 0 ELSE 1 - p END) / nullif(sum(1 - p), 0) AS specificity
        FROM x GROUP BY option ORDER BY option""",
        {"pid": project_id, "rid": run_id, "worker": worker}).df()


def option_summary(con, run_id: int) -> pd.DataFrame:
    """Per option of the run: items offered, items where it applies, prevalence, Krippendorff's alpha."""
    row = con.execute("SELECT summary FROM runs WHERE run_id = ?", [run_id]).fetchall()
    s = json.loads(row[0][0]) if row and row[0][0] else {}
    df = pd.DataFrame(s.get("options") or [], columns=["option", "items", "items_chosen", "prevalence", "alpha"])
    return df


def tick_signal(con, run_id: int, worker: str) -> dict | None:
    """The worker's tick-count result (significant, reason, evidence), or None when not tested."""
    row = con.execute("""SELECT fired, reason, evidence, p_value FROM run_signals
                         WHERE run_id = ? AND worker = ? AND signal = 'tick_count'""", [run_id, worker]).fetchall()
    if not row:
        return None
    significant, reason, ev, p = row[0]
    return {"significant": bool(significant), "reason": reason, "evidence": json.loads(ev) if isinstance(ev, str) else ev,
            "p_value": p}
