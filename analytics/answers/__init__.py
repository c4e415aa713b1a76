"""Kinds of answers and how each is analysed (the project records its kind at ingest,
:mod:`analytics.ingest.kinds`).

* ``single``: one class per answer, shared across items; analysed as it is.
* ``multilabel``: a set of options per answer (:mod:`.multilabel`): the standard
  decomposition into one yes/no judgement per (item, option) pseudo-task, so Dawid-Skene,
  agreement and every detector run unchanged; the results are collapsed back to items (the
  set of options whose posterior is at least 0.5, one probability per option) and the
  "ticks almost every option / almost none" detector (:mod:`.ticking`) is added.
* ``item-specific``: answers worded per item (:mod:`.itemspecific`): each item's answers are
  coded by their order within the item and analysed with the one-coin model, which needs no
  shared classes; results are decoded back to the answers' own words.

:func:`load` returns the coded arrays and the :class:`~analytics.answers.base.Encoding` that
turns an analysis of them back into results about items.

Example::

    from analytics.answers import load
    data, enc = load(ws.con, project_id)
    result = enc.decode(analyze_arrays(data, enc.adjust(None), extra_evidence=enc.evidence(data)), data)
"""

from __future__ import annotations

from analytics.answers.base import Encoding, SingleChoice
from analytics.ingest.kinds import project_kind


def load(con, project_id: int, exclude_workers: list[str] | None = None):
    """(LabelArrays, Encoding) of a project's final answers, coded for its kind of answers."""
    kind, options = project_kind(con, project_id)
    if kind == "multilabel":
        from analytics.answers.multilabel import load_multilabel

        return load_multilabel(con, project_id, exclude_workers, options)
    if kind == "item-specific":
        from analytics.answers.itemspecific import load_item_specific

        return load_item_specific(con, project_id, exclude_workers)
    from analytics.dataset import load_project

    return load_project(con, project_id, exclude_workers=exclude_workers), SingleChoice()


def order_blind(kind: str) -> tuple[str, ...]:
    """Detectors whose signals do not count in the verdict for this kind of answers."""
    if kind == "multilabel":
        from analytics.answers.multilabel import MultiLabel

        return MultiLabel.order_blind
    if kind == "item-specific":
        from analytics.answers.itemspecific import ItemSpecific

        return ItemSpecific.order_blind
    return ()


__all__ = ["Encoding", "SingleChoice", "load", "order_blind"]
