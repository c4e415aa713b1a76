"""What kind of answers a file holds, read from its label vocabulary (DuckDB, in bulk).

:func:`profile_labels` measures the labels one ingest wrote: rows, distinct labels, items,
how many answers are multi-select sets (text joined with ``|`` by
:mod:`analytics.ingest.answers`) and over how many distinct options, and how many labels
appear on one item only. :func:`answer_kind` reads it:

* ``multilabel``: at least :data:`MULTI_MIN_SHARE` of the answers choose several options.
  The project is then analysed per option (:mod:`analytics.answers.multilabel`).
* ``item-specific``: the answers are worded per item (e.g. a CrowdFlower relation report whose
  options are sentences built from each item's terms): the vocabulary is larger than
  :data:`VOCAB_MAX_SHARE` of the rows, at least :data:`ITEM_SPECIFIC_MIN_SHARE` of the labels
  occur on one item only, each item has a few (at most :data:`MAX_OPTIONS_PER_ITEM` on
  average) and workers repeat each other's answers within an item (on average at least
  :data:`MIN_REPEAT` answers per (item, label)). The user maps them to shared classes
  (:mod:`analytics.ingest.labelmap`) or the project is analysed with per-item options
  (:mod:`analytics.answers.itemspecific`).
* anything else with a vocabulary larger than :data:`VOCAB_MAX_SHARE` of the rows (and more
  than :data:`VOCAB_MIN_REFUSE` labels) is refused: it is a free-text or id column, not a
  label; :func:`suggest_label_column` names the column that looks like the answer.

The thresholds are documented settings of this module, not numbers buried in the code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from analytics.errors import UserError
from analytics.ingest.answers import SEPARATOR
from analytics.ingest.base import ident, lit

#: A vocabulary larger than this share of the rows is not a label set (the issue's "a fifth").
VOCAB_MAX_SHARE: float = 0.2
#: ...unless it has at most this many labels (a 40-row file with 9 classes is fine).
VOCAB_MIN_REFUSE: int = 30
#: Share of answers choosing several options that makes a project multi-label.
MULTI_MIN_SHARE: float = 0.02
#: Share of distinct labels seen on one item only that makes the answers item-specific.
ITEM_SPECIFIC_MIN_SHARE: float = 0.6
#: Mean answers per (item, label) from which workers repeat each other within items (free text
#: repeats less: 1.6 on an MTurk free-text column, 4.6 on the CrowdFlower relation report).
MIN_REPEAT: float = 2.0
#: Most distinct answers per item, on average, that item-specific options have ("a few per item").
MAX_OPTIONS_PER_ITEM: float = 8.0
#: Values that mean "no answer" in platform exports (empty JSON, placeholders).
EMPTYISH: tuple[str, ...] = ("", "{}", "[]", "null", "none given", "n/a")


@dataclass(frozen=True)
class LabelProfile:
    """The vocabulary of some labels (see the module docstring)."""

    rows: int
    labels: int
    items: int
    multi_answers: int
    options: int
    single_item_labels: int
    item_label_pairs: int

    @property
    def repeat(self) -> float:
        return self.rows / max(self.item_label_pairs, 1)

    @property
    def too_large(self) -> bool:
        return self.labels > max(VOCAB_MIN_REFUSE, VOCAB_MAX_SHARE * self.rows)

    def kind(self) -> str:
        """'multilabel', 'item-specific', 'too-large' or 'single'."""
        if self.multi_answers >= MULTI_MIN_SHARE * self.rows and self.multi_answers > 0:
            return "multilabel" if self.options <= max(VOCAB_MIN_REFUSE, VOCAB_MAX_SHARE * self.rows) \
                else "too-large"
        if self.too_large:
            if (self.single_item_labels >= ITEM_SPECIFIC_MIN_SHARE * self.labels and self.repeat >= MIN_REPEAT
                    and self.item_label_pairs <= MAX_OPTIONS_PER_ITEM * max(self.items, 1)):
                return "item-specific"
            return "too-large"
        return "single"


def profile_sql(rows_sql: str) -> str:
    """SQL returning one row of :class:`LabelProfile` fields over ``rows_sql`` (columns task, label)."""
    sep = lit(SEPARATOR)
    return f"""
        WITH r AS (SELECT task, label FROM ({rows_sql}) WHERE label IS NOT NULL),
        per AS (SELECT label, count(DISTINCT task) AS items FROM r GROUP BY label)
        SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM per), (SELECT count(DISTINCT task) FROM r),
               (SELECT count(*) FROM r WHERE contains(label, {sep})),
               (SELECT count(DISTINCT o) FROM (SELECT unnest(string_split(label, {sep})) AS o FROM per)),
               (SELECT count(*) FROM per WHERE items = 1),
               (SELECT count(*) FROM (SELECT DISTINCT task, label FROM r))"""


def profile_labels(con: duckdb.DuckDBPyConnection, rows_sql: str, params: dict | None = None) -> LabelProfile:
    row = con.execute(profile_sql(rows_sql), params or {}).fetchall()[0]
    return LabelProfile(*(int(x or 0) for x in row))


def describe_kind(p: LabelProfile, field: str | None) -> str:
    """One sentence saying what the labels look like (for warnings and the Data page)."""
    col = f"column {field}" if field else "the label column"
    if p.kind() == "multilabel":
        return (f"{col} holds multi-select answers: {p.multi_answers:,} of {p.rows:,} answers choose several of "
                f"{p.options:,} options; it is analysed per option (each option a yes/no judgement per item)")
    if p.kind() == "item-specific":
        return (f"{col} holds answers worded per item: {p.labels:,} distinct answers on {p.items:,} items, "
                f"{p.single_item_labels:,} of them on one item only, so there are no shared classes")
    return f"{col} has {p.labels:,} distinct labels in {p.rows:,} rows"


def refuse_vocabulary(p: LabelProfile, field: str | None, shown: str, suggestion: str | None) -> UserError:
    """The error for a label vocabulary too large to be a label set."""
    col = f"column {field!r}" if field else "the label column"
    hint = (f"; the answers look like they are in column {suggestion!r}, choose it with --label-field"
            if suggestion and suggestion != field else
            "; choose the column that holds the answers with --label-field")
    return UserError(f"file {shown}: {col} has {p.labels:,} distinct values in {p.rows:,} rows (more than a fifth), "
                     f"so it is free text or an id, not a label{hint}")


# -- which column holds the answers ------------------------------------------------------------

def candidate_stats(con: duckdb.DuckDBPyConnection, src: str, task_col: str | None,
                    candidates: list[str], groups: dict[str, list[str]] | None = None) -> list[dict]:
    """Per candidate answer column: rows with an answer, distinct values, distinct options
    (multi-select split), and agreement within items (mean share of the most common value).

    One scan of the file per candidate. Candidates that are one-hot groups count as answered
    when any of their columns is set."""
    from analytics.ingest.answers import answer_sql, onehot_sql

    groups = groups or {}
    empty = ", ".join(lit(e) for e in EMPTYISH)
    task = ident(task_col) if task_col else "NULL::VARCHAR"
    out = []
    for c in candidates:
        expr = onehot_sql(groups[c]) if c in groups else answer_sql(ident(c))
        q = f"""
            WITH r AS (SELECT {task} AS task, {expr} AS v FROM {src}),
            a AS (SELECT task, v FROM r WHERE v IS NOT NULL AND lower(trim(v)) NOT IN ({empty})),
            t AS (SELECT task, max(n) / sum(n) AS top FROM (SELECT task, v, count(*) AS n FROM a GROUP BY ALL)
                  GROUP BY task)
            SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM a), (SELECT count(DISTINCT v) FROM a),
                   (SELECT count(DISTINCT o) FROM (SELECT unnest(string_split(v, {lit(SEPARATOR)})) AS o FROM a)),
                   (SELECT avg(top) FROM t)"""
        try:
            rows, answered, distinct, options, top = con.execute(q).fetchall()[0]
        except duckdb.Error:
            continue
        out.append({"column": c, "rows": int(rows), "answered": int(answered), "distinct": int(distinct),
                    "options": int(options), "within_item_agreement": None if top is None else float(top)})
    return out


def likely_label(stats: list[dict]) -> str | None:
    """The candidate that looks most like a label: answered on most rows, a vocabulary that is not
    free text, not an echo of the input (workers never disagree), then the fewest options."""
    def usable(s):
        if s["answered"] < 0.5 * max(s["rows"], 1) or s["distinct"] < 2:
            return False
        if s["within_item_agreement"] is not None and s["within_item_agreement"] >= 0.995:
            return False       # every worker gives the same value on an item: copied input, not a judgement
        return s["options"] <= max(VOCAB_MIN_REFUSE, VOCAB_MAX_SHARE * s["answered"])
    ok = [s for s in stats if usable(s)]
    if not ok:
        return None
    return min(ok, key=lambda s: (s["options"], s["distinct"], s["column"]))["column"]


def suggest_label_column(con, src: str, task_col: str | None, candidates: list[str],
                         groups: dict[str, list[str]] | None = None) -> str | None:
    return likely_label(candidate_stats(con, src, task_col, candidates, groups))


Suggest = Callable[[], str | None]
