"""The Items page: items with consensus, confidence, disagreement and exposure to suspects,
and one item's answers and class probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analytics.errors import UserError
from analytics.results.sql import _clean, _df, _final
from analytics.results.verdicts import _BANNED_CTE, _FIRED_CTE, _REASONS_SQL, _VERDICT_SQL
from analytics.results.workers import score_names


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
        LEFT JOIN banned b ON b.worker = f.worker LEFT JOIN significant fs ON fs.worker = f.worker
        ORDER BY w.trust DESC NULLS LAST, f.worker""",
        {"pid": project_id, "rid": run_id, "task": task})


def item_probs(con, run_id: int, task: str) -> pd.DataFrame:
    """Class probabilities of the item under the run's aggregation model."""
    return _df(con, "SELECT label, p FROM run_task_probs WHERE run_id = ? AND task = ? ORDER BY p DESC, label",
               [run_id, task])


def consensus_labels(con, run_id: int) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT DISTINCT label FROM run_tasks WHERE run_id = ? AND label IS NOT NULL ORDER BY 1", [run_id]).fetchall()]
