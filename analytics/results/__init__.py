"""The read API of the dashboard: every number a page shows comes from a function here.

Each function takes an open DuckDB connection (read-only is enough) and returns a small
pandas frame or a dict. Work is done in SQL with filters and limits (DESIGN.md, "Browse"):
no function pulls every annotation into pandas. One module per page area:

- :mod:`.workspace`       projects, runs and ingests (sidebar, Overview, Data);
- :mod:`.overview`        a run's headline, charts, the diff with the previous run, audit state;
- :mod:`.workers`         the workers table; :mod:`.worker_profile` one worker's evidence;
- :mod:`.items`           the items table and one item's answers;
- :mod:`.collusion`       communities, evidence pairs, what a group answered together;
- :mod:`.agreement`       kappa between workers, agreement per label;

built on :mod:`.sql` (final answers, frame helpers), :mod:`.verdicts` (one verdict per
worker, as SQL) and :mod:`.buckets` (time buckets). Every public name is re-exported here,
so ``from analytics import results; results.workers_table(...)`` works; a page passes the
function itself to :func:`app.state.read`.

Uploaded files are inspected by :mod:`analytics.ingest.columns`; the Settings page reads
documentation through :mod:`app.docs`.
"""

from analytics.results.agreement import (
    agreement_by_label,
    agreement_matrix,
    top_workers,
)
from analytics.results.buckets import (
    time_bucket,
)
from analytics.results.collusion import (
    communities,
    community_items,
    community_summary,
    pairs,
    worker_verdicts,
)
from analytics.results.items import (
    ITEM_SORTS,
    ItemFilter,
    consensus_labels,
    item_answers,
    item_detail,
    item_probs,
    items_table,
)
from analytics.results.overview import (
    audit_status,
    fmt_interval,
    headline,
    labels_over_time,
    run_diff,
    run_summary,
    trust_histogram,
)
from analytics.results.verdicts import (
    LOW_TRUST,
    LOW_TRUST_OF_MEDIAN,
    VERDICTS,
)
from analytics.results.worker_profile import (
    worker_bursts,
    worker_confusion,
    worker_confusion_counts,
    worker_items,
    worker_overlap,
    worker_signals,
    worker_speed,
    worker_tasks,
    worker_timeline,
)
from analytics.results.workers import (
    WORKER_SCORE_COLUMNS,
    WORKER_SORTS,
    WorkerFilter,
    fired_signal_names,
    reliability_scatter,
    score_names,
    significant_signal_names,
    worker_count,
    worker_detail,
    workers_table,
)
from analytics.results.workspace import (
    gold_summary,
    ingest_history,
    label_set,
    latest_run,
    previous_run,
    project_id,
    project_stats,
    projects,
    running_run,
    runs,
    table_exists,
)

__all__ = [
    "ITEM_SORTS",
    "ItemFilter",
    "LOW_TRUST",
    "LOW_TRUST_OF_MEDIAN",
    "VERDICTS",
    "WORKER_SCORE_COLUMNS",
    "WORKER_SORTS",
    "WorkerFilter",
    "agreement_by_label",
    "agreement_matrix",
    "audit_status",
    "communities",
    "community_items",
    "community_summary",
    "consensus_labels",
    "fired_signal_names",
    "significant_signal_names",
    "fmt_interval",
    "gold_summary",
    "headline",
    "ingest_history",
    "item_answers",
    "item_detail",
    "item_probs",
    "items_table",
    "label_set",
    "labels_over_time",
    "latest_run",
    "pairs",
    "previous_run",
    "project_id",
    "project_stats",
    "projects",
    "reliability_scatter",
    "run_diff",
    "run_summary",
    "running_run",
    "runs",
    "score_names",
    "table_exists",
    "time_bucket",
    "top_workers",
    "trust_histogram",
    "worker_bursts",
    "worker_confusion",
    "worker_confusion_counts",
    "worker_count",
    "worker_detail",
    "worker_items",
    "worker_overlap",
    "worker_signals",
    "worker_speed",
    "worker_tasks",
    "worker_timeline",
    "worker_verdicts",
    "workers_table",
]
