"""The read API of the Monitoring page and of ``python -m analytics monitor``.

:func:`timeline` joins the per-period numbers (:func:`analytics.monitor.series.quality_series`
with the project's latest run), the rule thresholds of each period
(:func:`analytics.monitor.rules.thresholds`), the label-distribution shift
(:func:`analytics.monitor.rules.drift_table`) and the alerts raised for each period, so a
chart can draw a value, its threshold line and the alert markers from one frame.
"""

from __future__ import annotations

import pandas as pd

from analytics.monitor import evidence
from analytics.monitor.alerts import list_alerts, load_settings
from analytics.monitor.rules import drift_table, thresholds
from analytics.monitor.series import label_counts, period_unit, quality_series
from analytics.store import first_row


def latest_run(con, project_id: int) -> int | None:
    row = first_row(con.execute("SELECT max(run_id) FROM runs WHERE project_id = ? AND status = 'complete'",
                                [int(project_id)]))
    return int(row[0]) if row and row[0] is not None else None


def n_classes(con, project_id: int) -> int:
    row = first_row(con.execute("SELECT count(DISTINCT label) FROM annotations WHERE project_id = ?", [int(project_id)]))
    return max(int(row[0] or 0), 2)


def timeline(con, project_id: int, unit: str | None = None) -> pd.DataFrame:
    """One row per period: the quality numbers, threshold lines, drift, and ``alerts`` (ids, comma-separated).

    ``attrs``: ``unit``, ``run_id``, ``classes`` (label names in the distribution columns
    ``share_<label>``).
    """
    unit = unit or period_unit(con, project_id)
    run = latest_run(con, project_id)
    series = quality_series(con, project_id, run_id=run, unit=unit)
    if series.empty:
        series.attrs.update(unit=unit, run_id=run, classes=[])
        return series
    settings = load_settings(con, project_id)
    counts = label_counts(con, project_id, unit=unit)
    cons = evidence.consensus_counts(con, project_id, unit, run) if run is not None else None
    out = series.merge(thresholds(series, settings, n_classes(con, project_id)), on="period", how="left")
    out = out.merge(drift_table(series, counts, settings, cons), on="period", how="left")
    wide = counts.pivot_table(index="period", columns="label", values="n", aggfunc="sum", fill_value=0)
    shares = wide.div(wide.sum(axis=1), axis=0).add_prefix("share_")
    out = out.merge(shares, left_on="period", right_index=True, how="left")
    al = list_alerts(con, project_id)
    al = al[al["period_unit"] == unit]
    ids = al.groupby("period")["alert_id"].apply(lambda s: ", ".join(str(int(x)) for x in sorted(s)))
    rules = al.groupby("period")["rule"].apply(lambda s: ", ".join(sorted(set(s))))
    out["alerts"] = out["period"].map(ids).fillna("")
    out["alert_rules"] = out["period"].map(rules).fillna("")
    out.attrs.update(unit=unit, run_id=run, classes=[str(c) for c in wide.columns])
    return out


def summary_table(tl: pd.DataFrame) -> pd.DataFrame:
    """The columns ``monitor`` prints and the page's table shows, with readable names."""
    cols = {"name": "period", "labels": "labels", "workers": "workers", "new_workers": "new workers",
            "labels_per_day": "labels/day", "gold_accuracy": "gold acc", "gold_lo": "gold lo", "gold_hi": "gold hi",
            "alpha": "alpha", "suspect_label_share": "suspect label share",
            "suspect_worker_share": "suspect worker share", "new_agreement": "new agree",
            "established_agreement": "established agree", "drift_tv": "drift TV", "alerts": "alerts"}
    present = [c for c in cols if c in tl.columns]
    return tl[present].rename(columns=cols)
