"""Charts of quality over time as plotly figure *specs*: plain ``{"data": [...], "layout": {...}}``
dicts, so the engine stays free of the UI (no plotly import; tests/test_layering.py).

The Monitoring page draws them with plotly (``st.plotly_chart``); the incident report embeds
them as JSON for ``Plotly.newPlot`` next to an inlined plotly.js (:func:`plotly_js`), so both
show the same chart from one definition. The input is :func:`analytics.monitor.view.timeline`:
one row per period with the value, the rule's threshold line (``*_line``) and the alerts raised
for the period. Each chart draws the value, the threshold as a dashed line, and a red marker on
every period an alert of that rule was raised for.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd

ALERT_COLOR = "#d62728"
LINE_COLOR = "#1f77b4"
THRESHOLD_COLOR = "#7f7f7f"
HEIGHT = 330


def _list(values) -> list:
    """JSON-ready values: timestamps as ISO strings, NaN/NaT as None."""
    out = []
    for v in (values.tolist() if hasattr(values, "tolist") else list(values)):
        if isinstance(v, pd.Timestamp):
            out.append(None if pd.isna(v) else v.isoformat())
        elif isinstance(v, float) and not math.isfinite(v):
            out.append(None)
        elif v is None or v is pd.NaT or (isinstance(v, float) and pd.isna(v)):
            out.append(None)
        elif hasattr(v, "item"):
            out.append(v.item())
        else:
            out.append(v)
    return out


def _x(tl: pd.DataFrame) -> tuple[list, str]:
    if tl.attrs.get("unit") == "ingest":
        return _list(tl["name"]), "ingest batch"
    unit = tl.attrs.get("unit", "week")
    return _list(pd.Series(pd.to_datetime(tl["start"], utc=True))), f"{unit} (UTC, start of the period)"


def _fig(traces: list[dict], title: str, xt: str, yt: str, height: int = HEIGHT, **layout) -> dict:
    lay = {"title": {"text": title, "x": 0, "xanchor": "left", "y": 0.97, "yanchor": "top"}, "height": height,
           "margin": {"l": 10, "r": 10, "t": 75, "b": 10},
           "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "font": {"size": 11}},
           "hoverlabel": {"namelength": -1}, "hovermode": "x unified",
           "xaxis": {"title": {"text": xt}, "automargin": True}, "yaxis": {"title": {"text": yt}, "automargin": True}}
    for k, v in layout.items():
        if isinstance(v, dict) and isinstance(lay.get(k), dict):
            lay[k] = {**lay[k], **v}
        else:
            lay[k] = v
    return {"data": traces, "layout": lay}


def empty(title: str, message: str) -> dict:
    return _fig([], title, "", "", height=200,
                xaxis={"visible": False}, yaxis={"visible": False},
                annotations=[{"text": message, "showarrow": False, "x": 0.5, "y": 0.5, "xref": "paper",
                              "yref": "paper", "font": {"size": 14, "color": "#666"}}])


def _alerts(tl: pd.DataFrame, x: list, y: pd.Series, rule: str) -> list[dict]:
    if "alert_rules" not in tl:
        return []
    hit = tl["alert_rules"].fillna("").str.split(", ").map(lambda rs: rule in rs).to_numpy()
    if not hit.any():
        return []
    return [{"type": "scatter", "mode": "markers", "name": "alert raised", "x": [v for v, h in zip(x, hit, strict=True) if h],
             "y": _list(y[hit]), "text": _list("alert " + tl.loc[hit, "alerts"]), "hovertemplate": "%{text}<extra></extra>",
             "marker": {"symbol": "x", "size": 13, "color": ALERT_COLOR, "line": {"width": 2}}}]


def _threshold(x: list, y: pd.Series | None, name: str) -> list[dict]:
    if y is None or not y.notna().any():
        return []
    return [{"type": "scatter", "mode": "lines", "name": name, "x": x, "y": _list(y), "connectgaps": False,
             "line": {"color": THRESHOLD_COLOR, "dash": "dash", "shape": "hv"}}]


def _line(x: list, y: pd.Series, name: str, color: str, **kw) -> dict:
    return {"type": "scatter", "mode": "lines+markers", "name": name, "x": x, "y": _list(y), "line": {"color": color},
            **kw}


def gold_chart(tl: pd.DataFrame) -> dict:
    title = "Gold accuracy per period (95% Wilson interval)"
    if tl.empty or not tl["gold_n"].gt(0).any():
        return empty(title, "No gold answers in this project")
    x, xt = _x(tl)
    err = {"type": "data", "symmetric": False, "array": _list((tl["gold_hi"] - tl["gold_accuracy"]).fillna(0)),
           "arrayminus": _list((tl["gold_accuracy"] - tl["gold_lo"]).fillna(0))}
    traces = [_line(x, tl["gold_accuracy"], "gold accuracy", LINE_COLOR, error_y=err, customdata=_list(tl["gold_n"]),
                    hovertemplate="%{y:.1%} on %{customdata} gold labels")]
    traces += _threshold(x, tl.get("gold_drop_line"), "alert below (baseline - drop)")
    traces += _threshold(x, tl.get("gold_floor"), "floor (chance + margin)")
    traces += _alerts(tl, x, tl["gold_accuracy"], "gold_accuracy")
    return _fig(traces, title, xt, "labels right on gold", yaxis={"range": [0, 1.02], "tickformat": ".0%"})


def agreement_chart(tl: pd.DataFrame) -> dict:
    title = "Agreement per period"
    if tl.empty:
        return empty(title, "No labels yet")
    x, xt = _x(tl)
    traces = [_line(x, tl["alpha"], "alpha", LINE_COLOR)]
    pre = "" if "established_agreement" in tl else "mv_"
    if f"{pre}established_agreement" in tl:
        traces += [_line(x, tl[f"{pre}established_agreement"], "established: agree with consensus", "#2c8c5a"),
                   _line(x, tl[f"{pre}new_agreement"], "new: agree with consensus", "#f0a202")]
        traces += _alerts(tl, x, tl[f"{pre}new_agreement"], "new_accounts")
    return _fig(traces, title, xt, "alpha / share of labels")


def suspect_chart(tl: pd.DataFrame) -> dict:
    title = "Share of labels from suspect workers"
    if tl.empty or "suspect_label_share" not in tl:
        return empty(title, "Analyse the project to see suspect shares over time")
    x, xt = _x(tl)
    traces = [{"type": "bar", "name": "labels from suspect workers", "x": x, "y": _list(tl["suspect_label_share"]),
               "marker": {"color": "#f4a6a6"},
               "customdata": _list(np.stack([tl["suspect_workers"].fillna(0), tl["workers"]], axis=1)),
               "hovertemplate": "%{y:.1%} of labels; %{customdata[0]} of %{customdata[1]} workers"}]
    if "banned_labels" in tl:
        traces.append({"type": "bar", "name": "labels from banned workers", "x": x,
                       "y": _list(tl["banned_labels"] / tl["labels"]), "marker": {"color": "#5b5b5b"},
                       "hovertemplate": "%{y:.1%} of labels"})
    traces += _threshold(x, tl.get("suspect_share_line"), "alert above")
    traces += _alerts(tl, x, tl["suspect_label_share"], "suspect_share")
    return _fig(traces, title, xt, "share of the period's labels", barmode="stack", yaxis={"tickformat": ".0%"})


def new_workers_chart(tl: pd.DataFrame) -> dict:
    title = "New workers per period"
    if tl.empty:
        return empty(title, "No labels yet")
    x, xt = _x(tl)
    traces = [{"type": "bar", "name": "new workers", "x": x, "y": _list(tl["new_workers"]),
               "marker": {"color": "#9ecae1"}, "customdata": _list(tl["new_worker_labels"]),
               "hovertemplate": "%{y} new, %{customdata} labels"}]
    if "new_suspect_workers" in tl:
        traces.append({"type": "bar", "name": "of them suspect", "x": x, "y": _list(tl["new_suspect_workers"]),
                       "marker": {"color": ALERT_COLOR}})
    traces += _threshold(x, tl.get("new_accounts_line"), "burst above")
    y = tl["new_workers"].astype(float)
    traces += _alerts(tl, x, y, "new_accounts") + _alerts(tl, x, y, "turned_accounts") + _alerts(tl, x, y, "collusion")
    return _fig(traces, title, xt, "workers", barmode="overlay")


def drift_chart(tl: pd.DataFrame, min_tv: float) -> dict:
    title = "Label distribution shift against the baseline"
    if tl.empty or "drift_tv" not in tl or not tl["drift_tv"].notna().any():
        return empty(title, "Needs a few periods of history")
    x, xt = _x(tl)
    traces = [_line(x, tl["drift_tv"], "labels (total variation)", LINE_COLOR)]
    if tl["consensus_tv"].notna().any():
        traces.append(_line(x, tl["drift_excess"], "beyond the items' own shift (tested)", "#9467bd"))
    traces += _threshold(x, pd.Series(min_tv, index=tl.index).where(tl["drift_tv"].notna()), "alert above")
    traces += _alerts(tl, x, tl["drift_excess"], "label_drift")
    return _fig(traces, title, xt, "total variation distance")


def label_mix_chart(tl: pd.DataFrame) -> dict:
    title = "Label distribution per period"
    classes = tl.attrs.get("classes") or []
    if tl.empty or not classes:
        return empty(title, "No labels yet")
    x, xt = _x(tl)
    traces = [{"type": "bar", "name": str(c), "x": x, "y": _list(tl[f"share_{c}"]), "hovertemplate": f"{c}: %{{y:.1%}}"}
              for c in classes]
    return _fig(traces, title, xt, "share of labels", barmode="stack", yaxis={"tickformat": ".0%", "range": [0, 1]})


def throughput_chart(tl: pd.DataFrame) -> dict:
    title = "Throughput"
    if tl.empty:
        return empty(title, "No labels yet")
    x, xt = _x(tl)
    traces = [{"type": "bar", "name": "labels per day", "x": x, "y": _list(tl["labels_per_day"]),
               "marker": {"color": "#9ecae1"}, "customdata": _list(np.stack([tl["labels"], tl["workers"]], axis=1)),
               "hovertemplate": "%{y:.0f} per day; %{customdata[0]} labels by %{customdata[1]} workers"}]
    extra = {}
    if tl["median_duration_s"].notna().any():
        traces.append(_line(x, tl["median_duration_s"], "median seconds per label", "#ff7f0e", yaxis="y2"))
        extra["yaxis2"] = {"title": {"text": "seconds"}, "overlaying": "y", "side": "right", "showgrid": False}
    return _fig(traces, title, xt, "labels per day", **extra)


def incident_activity_chart(activity: pd.DataFrame, onset=None, unit: str = "day") -> dict:
    """Labels per period by the incident's workers and by everybody else (``bucket, who, labels``)."""
    title = f"Labels per {unit}: the incident's workers against everybody else"
    if activity.empty:
        return empty(title, "The incident's workers have no timed labels")
    colors = {"incident workers": ALERT_COLOR, "other workers": "#9ecae1"}
    traces = [{"type": "bar", "name": str(who), "x": _list(pd.Series(pd.to_datetime(d["bucket"], utc=True))),
               "y": _list(d["labels"]), "marker": {"color": colors.get(str(who))}}
              for who, d in activity.groupby("who", sort=False)]
    extra = {}
    if onset is not None:
        t = pd.Timestamp(onset).isoformat()
        extra["shapes"] = [{"type": "line", "x0": t, "x1": t, "y0": 0, "y1": 1, "yref": "paper",
                            "line": {"color": "#000", "dash": "dot"}}]
        extra["annotations"] = [{"x": t, "y": 1, "yref": "paper", "text": "estimated onset", "showarrow": False,
                                 "xanchor": "left", "font": {"size": 11}}]
    return _fig(traces, title, f"time (UTC, per {unit})", "labels", barmode="stack", **extra)


def plotly_js() -> str:
    """The plotly.js bundle shipped with the installed plotly package, read as text (for a report
    that must open offline); the package is located, not imported."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("plotly is not installed; it ships the plotly.js the HTML report embeds")
    return (Path(list(spec.submodule_search_locations)[0]) / "package_data" / "plotly.min.js").read_text(
        encoding="utf-8")
