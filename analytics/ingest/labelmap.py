"""Label mapping: answers worded per item mapped onto shared classes, by rules, at ingest.

A CrowdFlower relation report offers each item its own sentences ("FLUTAMIDE treats
HIRSUTISM", "HIRSUTISM treats FLUTAMIDE", "no_relation"): the same choice is worded
differently on every item. A mapping file turns them into shared classes. It is a CSV/TSV with
a header, or JSON, and each rule is either

* ``pattern,label``: a regular expression matched against the whole answer, case-insensitive,
  in which ``{column}`` stands for that row's value of a source column, matched literally
  (e.g. ``{term1} .+ {term2}`` -> ``t1_rel_t2``); or
* ``answer,label`` (also ``from,to``): an exact answer.

JSON: ``{"rules": [{"pattern": "...", "label": "..."}, {"answer": "...", "label": "..."}]}``,
a list of such rules, or a plain ``{"answer": "label"}`` object.

Rules are tried in file order; the first match gives the label. An answer that matches no rule
is quarantined with the reason ``answer matches no mapping rule`` (nothing is dropped
silently); golden answers are mapped the same way. The original answer is kept in ``extra``
as ``raw_answer``. Everything runs as one SQL ``CASE`` over the reader's rows, in bulk.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from analytics.errors import UserError
from analytics.ingest.base import Source, lit

NO_MATCH = "answer matches no mapping rule"
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
MAX_RULES = 10_000


@dataclass(frozen=True)
class Rule:
    """One mapping rule: ``pattern`` (regex with ``{column}`` placeholders) or ``answer``, to ``label``."""

    label: str
    pattern: str | None = None
    answer: str | None = None


def parse_rules(text: str, shown: str) -> list[Rule]:
    """Rules from the text of a mapping file (see the module docstring)."""
    body = text.lstrip("\ufeff").strip()
    if not body:
        raise UserError(f"mapping file {shown} is empty; give rules as a CSV with columns pattern,label")
    if body[0] in "[{":
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise UserError(f"mapping file {shown} is not valid JSON ({exc}); fix it or write it as a CSV "
                            "with columns pattern,label") from None
        if isinstance(data, dict) and "rules" in data:
            data = data["rules"]
        if isinstance(data, dict):
            rows = [{"answer": k, "label": v} for k, v in data.items()]
        elif isinstance(data, list):
            rows = data
        else:
            rows = []
    else:
        delim = "\t" if body.split("\n", 1)[0].count("\t") > body.split("\n", 1)[0].count(",") else ","
        rows = list(csv.DictReader(io.StringIO(body), delimiter=delim))
    rules = []
    for i, r in enumerate(rows, start=2):
        if not isinstance(r, dict):
            raise UserError(f"mapping file {shown}: rule {i - 1} is not an object with pattern/answer and label")
        r = {str(k).strip().lower(): ("" if v is None else str(v)) for k, v in r.items() if k is not None}
        label = (r.get("label") or r.get("to") or r.get("class") or "").strip()
        pattern = r.get("pattern") or r.get("regex")
        answer = r.get("answer") if "answer" in r else r.get("from")
        if not label or not (pattern or answer):
            raise UserError(f"mapping file {shown} row {i}: each rule needs a label and a pattern (or an exact "
                            "answer); use the columns pattern,label (or answer,label)")
        if pattern:
            try:
                re.compile(_PLACEHOLDER.sub("x", pattern))
            except re.error as exc:
                raise UserError(f"mapping file {shown} row {i}: pattern {pattern!r} is not a valid regular "
                                f"expression ({exc})") from None
        rules.append(Rule(label=label, pattern=pattern.strip() if pattern else None,
                          answer=None if pattern else answer.strip()))
    if not rules:
        raise UserError(f"mapping file {shown} has no rules; give rules as a CSV with columns pattern,label")
    if len(rules) > MAX_RULES:
        raise UserError(f"mapping file {shown} has {len(rules):,} rules; at most {MAX_RULES:,} are allowed")
    return rules


def read_rules(path: str | os.PathLike, shown: str | None = None) -> list[Rule]:
    p = Path(path)
    shown = shown or p.name
    if not p.exists():
        raise UserError(f"mapping file {shown} does not exist; check the path given to --map-labels")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"mapping file {shown} is not UTF-8 text; save it as UTF-8") from None
    return parse_rules(text, shown)


def _field(name: str) -> str:
    """The row's value of a source column (canonical columns directly, the rest from ``extra``)."""
    if name in ("task", "worker", "assignment"):
        return f"coalesce({name}, '')"
    return f"coalesce(json_extract_string(extra, {lit('$.' + json.dumps(name))}), '')"


def _regex_sql(pattern: str) -> str:
    """SQL building the row's regular expression: literal parts, escaped placeholder values."""
    parts, pos = [], 0
    for m in _PLACEHOLDER.finditer(pattern):
        parts.append(lit(pattern[pos:m.start()]))
        parts.append(f"regexp_escape({_field(m.group(1).strip())})")
        pos = m.end()
    parts.append(lit(pattern[pos:]))
    return "concat(" + ", ".join(parts) + ")" if len(parts) > 1 else parts[0]


def mapped_sql(rules: list[Rule], value: str) -> str:
    """SQL CASE giving the class of answer ``value`` (NULL when no rule matches)."""
    whens = []
    for r in rules:
        if r.pattern is not None:
            whens.append(f"WHEN regexp_full_match(trim({value}), {_regex_sql(r.pattern)}, 'i') THEN {lit(r.label)}")
        else:
            whens.append(f"WHEN trim({value}) = {lit(r.answer)} THEN {lit(r.label)}")
    return f"(CASE {' '.join(whens)} END)"


def apply_rules(source: Source, rules: list[Rule], shown: str) -> Source:
    """The reader's rows with labels (and golden answers) mapped; unmatched answers quarantined."""
    mapped = mapped_sql(rules, "label")
    gold = mapped_sql(rules, "gold_raw")
    source.select_sql = f"""
        SELECT source_row, task, worker, {mapped} AS label, started_raw, submitted_raw, duration_raw, assignment,
               event_raw,
               CASE WHEN skip_reason IS NOT NULL THEN skip_reason
                    WHEN nullif(trim(label), '') IS NOT NULL AND {mapped} IS NULL THEN {lit(NO_MATCH)} END AS skip_reason,
               CASE WHEN gold_raw IS NULL THEN NULL ELSE coalesce({gold}, gold_raw) END AS gold_raw,
               json_merge_patch(coalesce(extra, '{{}}'::JSON), json_object('raw_answer', label)) AS extra
        FROM ({source.select_sql})"""
    source.options = {**source.options, "label_mapping": {"file": shown, "rules": len(rules)}}
    return source
