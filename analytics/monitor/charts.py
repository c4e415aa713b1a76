"""Plotly figures of quality over time: a timeline frame in, a figure out (no Streamlit here).

The input is :func:`analytics.monitor.view.timeline`: one row per period with the value, the
rule's threshold line (``*_line``) and the alerts raised for the period. Each chart draws the
value, the threshold as a dashed line, and a red marker on every period an alert of that rule
was raised for, so a manager sees at a glance where the line was crossed. Used by the
Monitoring page and embedded in the incident report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

ALERT_COLOR = "#d62728"
LINE_COLOR = "#1f77b4"
THRESHOLD_COLOR = "#7f7f7f"
HEIGHT = 330


def _x(tl: pd.DataFrame):
    if tl.attrs.get("unit") == "ingest":
        return tl["name"], "ingest batch"
    unit = tl.attrs.get("unit", "week")
    return tl["start"], f"{unit} (UTC, start of the period)"


def _layout(fig: go.Figure, title: str, xt: str, yt: str, height: int = HEIGHT) -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0, "xanchor": "left", "y": 0.97, "yanchor": "top"}, height=height,
                      margin={"l": 10, "r": 10, "t": 75, "b": 10},
                      legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "font": {"size": 11}},
                      hoverlabel={"namelength": -1}, hovermode="x unified")
    fig.update_xaxes(title_text=xt)
    fig.update_yaxes(title_text=yt)
    return fig


def empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": "#666"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, "", "", height=200)


def _alerts(fig: go.Figure, tl: pd.DataFrame, x, y: pd.Series, rule: str) -> None:
    hit = tl["alert_rules"].fillna("").str.split(", ").map(lambda rs: rule in rs) if "alert_rules" in tl else None
    if hit is None or not hit.any():
        return
    fig.add_trace(go.Scatter(x=np.asarray(x)[hit.to_numpy()], y=y[hit], mode="markers", name="alert raised",
                             marker={"symbol": "x", "size": 13, "color": ALERT_COLOR, "line": {"width": 2}},
                             text="alert " + tl.loc[hit, "alerts"], hovertemplate="%{text}<extra></extra>"))


def _threshold(fig: go.Figure, x, y: pd.Series, name: str) -> None:
    if y is None or not y.notna().any():
        return
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, connectgaps=False,
                             line={"color": THRESHOLD_COLOR, "dash": "dash", "shape": "hv"}))


def gold_chart(tl: pd.DataFrame) -> go.Figure:
    title = "Gold accuracy per period (95% Wilson interval)"
    if tl.empty or not tl["gold_n"].gt(0).any():
        return empty(title, "No gold answers in this project")
    x, xt = _x(tl)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=tl["gold_accuracy"], mode="lines+markers", name="gold accuracy",
                             line={"color": LINE_COLOR},
                             error_y={"type": "data", "symmetric": False,
                                      "array": (tl["gold_hi"] - tl["gold_accuracy"]).fillna(0),
                                      "arrayminus": (tl["gold_accuracy"] - tl["gold_lo"]).fillna(0)},
                             customdata=tl["gold_n"], hovertemplate="%{y:.1%} on %{customdata} gold labels"))
    _threshold(fig, x, tl.get("gold_drop_line"), "alert below (baseline - drop)")
    _threshold(fig, x, tl.get("gold_floor"), "floor (chance + margin)")
    _alerts(fig, tl, x, tl["gold_accuracy"], "gold_accuracy")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return _layout(fig, title, xt, "labels right on gold")


def agreement_chart(tl: pd.DataFrame) -> go.Figure:
    title = "Agreement per period"
    if tl.empty:
        return empty(title, "No labels yet")
    x, xt = _x(tl)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=tl["alpha"], mode="lines+markers", name="alpha",
                             line={"color": LINE_COLOR}))
    if "consensus_agreement" in tl:
        fig.add_trace(go.Scatter(x=x, y=tl["established_agreement"], mode="lines+markers",
                                 name="established: agree with consensus", line={"color": "#2c8c5a"}))
        fig.add_trace(go.Scatter(x=x, y=tl["new_agreement"], mode="lines+markers",
                                 name="new: agree with consensus", line={"color": "#f0a202"}))
        _alerts(fig, tl, x, tl["new_agreement"], "new_accounts")
    return _layout(fig, title, xt, "alpha / share of labels")


def suspect_chart(tl: pd.DataFrame) -> go.Figure:
    title = "Share of labels from suspect workers"
    if tl.empty or "suspect_label_share" not in tl:
        return empty(title, "Analyse the project to see suspect shares over time")
    x, xt = _x(tl)
    fig = go.Figure()
    fig.add_trace(go.Bar(x=x, y=tl["suspect_label_share"], name="labels from suspect workers",
                         marker_color="#f4a6a6", customdata=np.stack([tl["suspect_workers"], tl["workers"]], axis=1),
                         hovertemplate="%{y:.1%} of labels; %{customdata[0]} of %{customdata[1]} workers"))
    if "banned_labels" in tl:
        fig.add_trace(go.Bar(x=x, y=tl["banned_labels"] / tl["labels"], name="labels from banned workers",
                             marker_color="#5b5b5b", hovertemplate="%{y:.1%} of labels"))
    _threshold(fig, x, tl.get("suspect_share_line"), "alert above")
    _alerts(fig, tl, x, tl["suspect_label_share"], "suspect_share")
    fig.update_layout(barmode="stack")
    fig.update_yaxes(tickformat=".0%")
    return _layout(fig, title, xt, "share of the period's labels")


def new_workers_chart(tl: pd.DataFrame) -> go.Figure:
    title = "New workers per period"
    if tl.empty:
        return empty(title, "No labels yet")
    x, xt = _x(tl)
    fig = go.Figure()
    fig.add_trace(go.Bar(x=x, y=tl["new_workers"], name="new workers", marker_color="#9ecae1",
                         customdata=tl["new_worker_labels"], hovertemplate="%{y} new, %{customdata} labels"))
    if "new_suspect_workers" in tl:
        fig.add_trace(go.Bar(x=x, y=tl["new_suspect_workers"], name="of them suspect", marker_color=ALERT_COLOR))
    _threshold(fig, x, tl.get("new_accounts_line"), "burst above")
    _alerts(fig, tl, x, tl["new_workers"].astype(float), "new_accounts")
    _alerts(fig, tl, x, tl["new_workers"].astype(float), "collusion")
    fig.update_layout(barmode="overlay")
    return _layout(fig, title, xt, "workers")


def drift_chart(tl: pd.DataFrame, min_tv: float) -> go.Figure:
    title = "Label distribution shift against the baseline"
    if tl.empty or "drift_tv" not in tl or not tl["drift_tv"].notna().any():
        return empty(title, "Needs a few periods of history")
    x, xt = _x(tl)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=tl["drift_tv"], mode="lines+markers", name="labels (total variation)",
                             line={"color": LINE_COLOR}))
    if tl["consensus_tv"].notna().any():
        fig.add_trace(go.Scatter(x=x, y=tl["drift_excess"], mode="lines+markers",
                                 name="beyond the items' own shift (tested)", line={"color": "#9467bd"}))
    _threshold(fig, x, pd.Series(min_tv, index=tl.index).where(tl["drift_tv"].notna()), "alert above")
    _alerts(fig, tl, x, tl["drift_excess"], "label_drift")
    return _layout(fig, title, xt, "total variation distance")


def label_mix_chart(tl: pd.DataFrame) -> go.Figure:
    title = "Label distribution per period"
    classes = tl.attrs.get("classes") or []
    if tl.empty or not classes:
        return empty(title, "No labels yet")
    x, xt = _x(tl)
    fig = go.Figure()
    for c in classes:
        fig.add_trace(go.Bar(x=x, y=tl[f"share_{c}"], name=str(c), hovertemplate=f"{c}: %{{y:.1%}}"))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(tickformat=".0%", range=[0, 1])
    return _layout(fig, title, xt, "share of labels")


def throughput_chart(tl: pd.DataFrame) -> go.Figure:
    title = "Throughput"
    if tl.empty:
        return empty(title, "No labels yet")
    x, xt = _x(tl)
    fig = go.Figure()
    fig.add_trace(go.Bar(x=x, y=tl["labels_per_day"], name="labels per day", marker_color="#9ecae1",
                         customdata=np.stack([tl["labels"], tl["workers"]], axis=1),
                         hovertemplate="%{y:.0f} per day; %{customdata[0]} labels by %{customdata[1]} workers"))
    if tl["median_duration_s"].notna().any():
        fig.add_trace(go.Scatter(x=x, y=tl["median_duration_s"], name="median seconds per label", yaxis="y2",
                                 mode="lines+markers", line={"color": "#ff7f0e"}))
        fig.update_layout(yaxis2={"title": "seconds", "overlaying": "y", "side": "right", "showgrid": False})
    return _layout(fig, title, xt, "labels per day")


def incident_activity_chart(activity: pd.DataFrame, onset=None, unit: str = "day") -> go.Figure:
    """Labels per period by the incident's workers and by everybody else (``bucket, who, labels``)."""
    title = f"Labels per {unit}: the incident's workers against everybody else"
    if activity.empty:
        return empty(title, "The incident's workers have no timed labels")
    fig = go.Figure()
    colors = {"incident workers": ALERT_COLOR, "other workers": "#9ecae1"}
    for who, d in activity.groupby("who", sort=False):
        fig.add_trace(go.Bar(x=d["bucket"], y=d["labels"], name=str(who), marker_color=colors.get(str(who))))
    fig.update_layout(barmode="stack")
    if onset is not None:
        fig.add_vline(x=pd.Timestamp(onset).timestamp() * 1000, line={"color": "#000", "dash": "dot"})
        fig.add_annotation(x=pd.Timestamp(onset), y=1, yref="paper", text="estimated onset", showarrow=False,
                           xanchor="left", font={"size": 11})
    return _layout(fig, title, f"time (UTC, per {unit})", "labels")
