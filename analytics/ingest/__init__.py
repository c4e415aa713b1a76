"""Ingestion of annotation logs into a workspace project (DESIGN.md, "Data flow" step 1).

One reader per source format (:mod:`.canonical`, :mod:`.mturk`, :mod:`.toloka`,
:mod:`.labelstudio`, :mod:`.crowdflower`), auto-detected by :mod:`.detect` with an
override; bulk validation and quarantine in :mod:`.validate`; provenance (SHA-256,
content-addressed copy, refusal of a second load) in :mod:`.provenance`; the transaction in
:mod:`.loader`.

Example::

    from analytics.store import open_workspace
    from analytics.ingest import ingest_file

    with open_workspace("data/workspaces/mine") as ws:
        summary = ingest_file(ws, "Batch_123_batch_results.csv", "relations", label_field="Answer.Q1")
        print(summary.describe())
"""

from analytics.ingest.detect import FORMATS, detect_format
from analytics.ingest.loader import IngestSummary, ingest_file, ingest_gold

__all__ = ["FORMATS", "IngestSummary", "detect_format", "ingest_file", "ingest_gold"]
