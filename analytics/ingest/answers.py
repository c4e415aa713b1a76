"""How a platform writes one answer, normalised to the label text CrowdTrust stores (SQL, in bulk).

A single choice is stored as it is. A multi-select answer (a *set* of options) is stored as
its options, trimmed, de-duplicated, sorted and joined with :data:`SEPARATOR`, so the same set
is always the same text, whatever order the worker ticked the boxes in. Recognised spellings:

* ``a|b|c`` (MTurk batch results of classic HTML templates, our own exports);
* a JSON array of strings ``["b", "a"]`` (Toloka multi-select outputs, canonical files);
* MTurk crowd-html-elements' ``Answer.taskAnswers`` JSON ``[{"q": {"label": "Cat"}}]``,
  ``[{"q": {"labels": ["a", "b"]}}]`` (crowd-classifier / crowd-classifier-multi-select) and
  checkbox groups ``[{"q.a": {"on": true}, "q.b": {"on": false}}]`` (the ticked options);
* with ``newline_sets`` (CrowdFlower full reports), several checkbox answers on separate lines.

:func:`onehot_sql` builds the label of a group of one-hot columns (``Answer.q.a`` = ``true``,
``Answer.q.b`` = ``false``: the checked options of crowd-checkbox / crowd-radio-button groups).
"""

from __future__ import annotations

from analytics.ingest.base import ident, lit

#: Joins the options of a multi-select answer in the stored label.
SEPARATOR = "|"
_TRUE = ("true", "1", "yes", "on", "x", "checked")


def _set_text(list_expr: str) -> str:
    """A SQL list of option strings -> the stored set text (NULL when nothing is chosen)."""
    return (f"nullif(array_to_string(list_sort(list_distinct([trim(x) for x in {list_expr} "
            f"if x IS NOT NULL AND trim(x) <> ''])), '{SEPARATOR}'), '')")


def answer_sql(expr: str, newline_sets: bool = False) -> str:
    """SQL normalising the raw answer ``expr`` (VARCHAR) to the stored label (see module doc)."""
    v = expr
    js = f"TRY_CAST({v} AS JSON)"
    j0 = f"json_extract({js}, '$[0]')"
    checked = (f"[k for k in json_keys({j0}) if lower(coalesce(json_extract_string({j0}, "
               f"'$.\"' || replace(k, '\"', '\\\"') || '\".on'), '')) = 'true']")
    checked_opts = f"[CASE WHEN contains(k, '.') THEN regexp_extract(k, '[^.]*$') ELSE k END for k in {checked}]"
    from_task_answers = (
        f"coalesce({_set_text(f'json_extract_string({js}, ' + lit('$[0].*.labels[*]') + ')')}, "
        f"{_set_text(f'json_extract_string({js}, ' + lit('$[0].*.label') + ')')}, "
        f"{_set_text(checked_opts)})")
    json_array = (
        f"CASE WHEN json_type({js}, '$[0]') = 'OBJECT' THEN {from_task_answers} "
        f"ELSE {_set_text(f'json_extract_string({js}, ' + lit('$[*]') + ')')} END")
    parts = [f"WHEN starts_with(ltrim({v}), '[') AND json_valid({v}) AND json_type({js}) = 'ARRAY' THEN {json_array}",
             f"WHEN contains({v}, '{SEPARATOR}') THEN {_set_text(f'string_split({v}, {lit(SEPARATOR)})')}"]
    if newline_sets:
        parts.append(f"WHEN contains(trim({v}, chr(10) || chr(13) || ' '), chr(10)) THEN "
                     f"{_set_text(f'string_split(replace({v}, chr(13), {lit(chr(10))}), chr(10))')}")
    return f"(CASE {' '.join(parts)} ELSE {v} END)"


#: The group of stand-alone checkboxes ``Answer.<option>.on`` (crowd-checkbox outside a named group).
CHECKED = "checked"


def onehot_groups(columns: list[str], prefix: str) -> dict[str, list[str]]:
    """Groups of one-hot columns ``<prefix><group>.<option>`` with at least two options; checkboxes
    written as ``<prefix><option>.on`` form the group ``<prefix>checked``."""
    groups: dict[str, list[str]] = {}
    for c in columns:
        rest = c[len(prefix):] if c.startswith(prefix) else None
        if rest is None or "." not in rest:
            continue
        if rest.endswith(".on") and "." not in rest[:-3]:
            groups.setdefault(prefix + CHECKED, []).append(c)
        else:
            groups.setdefault(c.rsplit(".", 1)[0], []).append(c)
    return {g: cs for g, cs in groups.items() if len(cs) >= 2}


def option_name(col: str) -> str:
    """The option a one-hot column stands for: the part after the last dot (before ``.on``)."""
    base = col[:-3] if col.endswith(".on") else col
    return base.rsplit(".", 1)[-1]


def onehot_sql(cols: list[str]) -> str:
    """The stored label of a one-hot group: the options whose column is set to true."""
    truthy = ", ".join(lit(t) for t in _TRUE)
    opts = ", ".join(
        f"CASE WHEN lower(trim(coalesce({ident(c)}, ''))) IN ({truthy}) THEN {lit(option_name(c))} END"
        for c in cols)
    return _set_text(f"[{opts}]")
