"""Plotly figures of red-team results: DataFrame in, figure out (no Streamlit here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics.redteam.grid import long_form

_LABELS = {
    "acc_clean": "clean (no attack)", "acc_attacked": "under attack", "acc_defended": "after banning flagged workers",
    "attack_success_rate": "attack success", "attack_success_defended": "attack success after ban",
    "pr_auc": "detectors (1 - trust)", "baseline_pr_auc": "baseline (agreement with DS)",
}


def _err(d: pd.DataFrame) -> dict | None:
    if d["lo"].notna().any():
        return {"type": "data", "symmetric": False, "array": (d["hi"] - d["value"]).fillna(0).to_numpy(),
                "arrayminus": (d["value"] - d["lo"]).fillna(0).to_numpy()}
    return None


def _lines(summary: pd.DataFrame, param: str, metrics: tuple[str, ...], title: str, ytitle: str) -> go.Figure:
    lf = long_form(summary, param, metrics)
    fig = go.Figure()
    multi = lf["attack"].nunique() > 1
    for (a, m), d in lf.groupby(["attack", "metric"], sort=False):
        d = d.sort_values(param)
        if d["value"].isna().all():
            continue
        name = f"{a}: {_LABELS.get(m, m)}" if multi else _LABELS.get(m, m)
        fig.add_trace(go.Scatter(x=d[param], y=d["value"], mode="lines+markers", name=name, error_y=_err(d)))
    fig.update_layout(title=title, xaxis_title=param, yaxis_title=ytitle, legend_title_text="", height=380,
                      margin={"t": 50, "l": 10, "r": 10, "b": 10})
    return fig


def accuracy_figure(summary: pd.DataFrame, param: str = "share") -> go.Figure:
    """Gold accuracy of the aggregated labels: clean, under attack, after the defence, against ``param``."""
    return _lines(summary, param, ("acc_clean", "acc_attacked", "acc_defended"),
                  "Accuracy on held-out gold", "accuracy")


def success_figure(summary: pd.DataFrame, param: str = "share") -> go.Figure:
    """Attack success rate on the targets, without and with the defence, against ``param``."""
    return _lines(summary, param, ("attack_success_rate", "attack_success_defended"),
                  "Attack success on targeted items", "share of targets flipped (minus clean)")


def detection_figure(summary: pd.DataFrame) -> go.Figure:
    """PR-AUC per attack: the detectors' 1 - trust next to the plain-agreement baseline, with intervals."""
    fig = go.Figure()
    for m in ("pr_auc", "baseline_pr_auc"):
        if m not in summary.columns:
            continue
        v = summary[m].to_numpy(float)
        lo = summary.get(f"{m}_lo", pd.Series(np.nan, index=summary.index)).to_numpy(float)
        hi = summary.get(f"{m}_hi", pd.Series(np.nan, index=summary.index)).to_numpy(float)
        err = None
        if np.isfinite(lo).any():
            err = {"type": "data", "symmetric": False, "array": np.nan_to_num(hi - v), "arrayminus": np.nan_to_num(v - lo)}
        fig.add_trace(go.Bar(x=summary["attack"], y=v, name=_LABELS[m], error_y=err))
    fig.update_layout(barmode="group", title="Worker-level PR-AUC (planted vs honest original workers)",
                      yaxis_range=[0, 1.05], yaxis_title="PR-AUC", height=380,
                      margin={"t": 50, "l": 10, "r": 10, "b": 10})
    return fig
