"""Incident response: open an incident from alerts or suspects, scope it, contain it (ban),
repair it (re-queue, re-aggregate, corrected exports with diffs), close it with a review note,
and report it (JSON and self-contained HTML with MITRE ATLAS case-study fields).

Modules: :mod:`.records` (the incident and its links, open/attach/close), :mod:`.scope`
(workers, items, labels, onset, affected exports), :mod:`.response` (contain and repair),
:mod:`.report` (the report).
"""
