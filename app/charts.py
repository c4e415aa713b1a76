"""Plotly figure builders: a DataFrame in, a figure out. No queries, no statistics.

One colour per worker verdict everywhere (:data:`VERDICT_COLORS`); every figure has a
title, axis titles with units, and hover text that names the worker or item.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from analytics.redteam.grid import long_form

VERDICT_ORDER = ["banned", "suspect", "watch", "trusted"]
VERDICT_COLORS = {"banned": "#5b5b5b", "suspect": "#d62728", "watch": "#f0a202", "trusted": "#2c8c5a"}
VERDICT_LABELS = {"banned": "banned", "suspect": "suspect", "watch": "watch (a detector fired)", "trusted": "trusted"}
SEQ = "Blues"
DIVERGING = "RdBu"
UNIT_LABEL = {"minute": "minute", "hour": "hour", "day": "day", "week": "week", "month": "month"}
HEIGHT = 360
#: Categories a bar chart draws at most (the most common first); more would overlap unreadably.
MAX_BARS = 30


def _layout(fig: go.Figure, title: str, x: str | None = None, y: str | None = None, height: int = HEIGHT) -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0, "xanchor": "left"}, height=height,
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, legend_title_text="",
                      hoverlabel={"namelength": -1})
    if x is not None:
        fig.update_xaxes(title_text=x)
    if y is not None:
        fig.update_yaxes(title_text=y)
    return fig


def empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": "#666"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height=220)


def labels_over_time(df: pd.DataFrame) -> go.Figure:
    """Stacked labels per time bucket by the labeller's verdict (bucket, verdict, labels)."""
    unit = UNIT_LABEL.get(df.attrs.get("unit", ""), "bucket")
    if df.empty:
        return empty("Labels over time", "No timestamps in this project")
    fig = px.bar(df, x="bucket", y="labels", color="verdict", color_discrete_map=VERDICT_COLORS,
                 category_orders={"verdict": VERDICT_ORDER[::-1]},
                 labels={"bucket": f"time (UTC, per {unit})", "labels": f"labels per {unit}", "verdict": "labeller"},
                 hover_data={"bucket": True, "labels": True, "verdict": True})
    fig.update_layout(bargap=0.05)
    return _layout(fig, f"Labels per {unit}, coloured by the labeller's verdict",
                   f"time (UTC, per {unit})", f"labels per {unit}")


def trust_histogram(df: pd.DataFrame) -> go.Figure:
    """Workers per trust bin, stacked by verdict (bin_lo, bin_hi, verdict, workers)."""
    if df.empty:
        return empty("Distribution of trust", "No workers in this run")
    d = df.assign(trust=(df["bin_lo"] + df["bin_hi"]) / 2,
                  range=[f"{a:.2f}–{b:.2f}" for a, b in zip(df["bin_lo"], df["bin_hi"], strict=True)])
    fig = px.bar(d, x="trust", y="workers", color="verdict", color_discrete_map=VERDICT_COLORS,
                 category_orders={"verdict": VERDICT_ORDER}, hover_data={"range": True, "trust": False},
                 labels={"trust": "trust (0 = untrustworthy, 1 = fully trusted)", "workers": "workers"})
    width = float((df["bin_hi"] - df["bin_lo"]).iloc[0])
    fig.update_traces(width=width * 0.95)
    fig.update_xaxes(range=[0, 1])
    return _layout(fig, "Distribution of worker trust", "trust (0 = untrustworthy, 1 = fully trusted)", "workers")


def count_bar(df: pd.DataFrame, x: str, y: str, title: str, x_title: str, y_title: str,
              color: str | None = None) -> go.Figure:
    if df.empty:
        return empty(title, "Nothing to show")
    fig = px.bar(df, x=x, y=y, labels={x: x_title, y: y_title},
                 color_discrete_sequence=[color or VERDICT_COLORS["suspect"]])
    return _layout(fig, title, x_title, y_title, height=280)


def reliability_scatter(df: pd.DataFrame, highlight: str | None = None) -> go.Figure:
    """Trust against labels per worker, coloured by verdict (worker, n_labels, trust, verdict, reasons)."""
    if df.empty:
        return empty("Reliability against volume", "No workers in this run")
    d = df.copy()
    d["reasons"] = d["reasons"].fillna("").str.slice(0, 120)
    fig = px.scatter(d, x="n_labels", y="trust", color="verdict", color_discrete_map=VERDICT_COLORS,
                     category_orders={"verdict": VERDICT_ORDER}, log_x=bool(d["n_labels"].max() > 50),
                     hover_name="worker", hover_data={"n_labels": True, "trust": ":.3f", "verdict": True,
                                                      "reasons": True},
                     labels={"n_labels": "labels given (log scale)", "trust": "trust"}, custom_data=["worker"])
    fig.update_traces(marker={"size": 8, "opacity": 0.8, "line": {"width": 0.5, "color": "white"}})
    if highlight is not None and highlight in set(d["worker"]):
        row = d[d["worker"] == highlight].iloc[0]
        fig.add_trace(go.Scatter(x=[row["n_labels"]], y=[row["trust"]], mode="markers+text", text=[highlight],
                                 textposition="top center", name="selected",
                                 marker={"size": 16, "symbol": "circle-open", "color": "#111", "line": {"width": 2}}))
    if d["n_labels"].max() > 50:
        ticks = [v for v in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000)
                 if d["n_labels"].min() / 2 <= v <= d["n_labels"].max() * 2]
        fig.update_xaxes(tickvals=ticks, ticktext=[f"{v:,}" for v in ticks])
    fig.update_yaxes(range=[-0.03, 1.03])
    return _layout(fig, "Reliability against volume: each dot is a worker", "labels given", "trust (0–1)")


def confusion_heatmap(df: pd.DataFrame, value: str, worker: str, title: str, value_title: str) -> go.Figure:
    """Heatmap of a worker's answers (columns) against the true or consensus label (rows)."""
    if df.empty:
        return empty(title, "No confusion matrix for this worker")
    m = df.pivot_table(index="true_label", columns="label", values=value, aggfunc="sum", fill_value=0)
    labels = sorted(set(m.index) | set(m.columns), key=str)
    m = m.reindex(index=labels, columns=labels, fill_value=0)
    fmt = ".2f" if value == "p" else "d"
    text = [[format(v, fmt) if fmt == ".2f" else str(int(v)) for v in row] for row in m.to_numpy()]
    fig = go.Figure(go.Heatmap(
        z=m.to_numpy(), x=[str(c) for c in m.columns], y=[str(i) for i in m.index], colorscale=SEQ,
        text=text, texttemplate="%{text}", colorbar={"title": value_title},
        hovertemplate=f"worker {worker}<br>true: %{{y}}<br>answered: %{{x}}<br>{value_title}: %{{z}}<extra></extra>"))
    fig.update_xaxes(type="category")
    fig.update_yaxes(autorange="reversed", type="category")
    return _layout(fig, title, "worker's answer", "true label (rows)", height=max(280, 60 * len(labels) + 120))


def worker_timeline(df: pd.DataFrame, bursts: pd.DataFrame, worker: str) -> go.Figure:
    """The worker's labels per time bucket with flagged bursts shaded (bucket, labels; start, end)."""
    unit = UNIT_LABEL.get(df.attrs.get("unit", ""), "bucket")
    if df.empty:
        return empty(f"Activity of {worker}", "No timestamps for this worker: timing detectors are off")
    fig = go.Figure(go.Bar(x=df["bucket"], y=df["labels"], name="labels", marker_color="#4a78a8",
                           hovertemplate=f"worker {worker}<br>%{{x}}<br>%{{y}} labels<extra></extra>"))
    for i, b in enumerate(bursts.itertuples(index=False)):
        fig.add_vrect(x0=b.start, x1=b.end, fillcolor=VERDICT_COLORS["suspect"], opacity=0.25, line_width=1,
                      line_color=VERDICT_COLORS["suspect"],
                      annotation_text=f"{b.signal}" if i < 5 else None, annotation_position="top left")
    title = f"Activity of {worker}: labels per {unit}" + (" (flagged windows shaded red)" if len(bursts) else "")
    return _layout(fig, title, f"time (UTC, per {unit})", f"labels per {unit}", height=300)


def speed_vs_peers(peers: pd.DataFrame, worker: str) -> go.Figure:
    """Histogram of every worker's median seconds per label with this worker marked."""
    if peers.empty:
        return empty("Speed against peers", "No durations in this project: speed detectors are off")
    d = peers[peers["median_seconds"] > 0]
    fig = px.histogram(d, x=np.log10(d["median_seconds"]), nbins=30, color_discrete_sequence=["#9bb7d4"],
                       labels={"x": "median seconds per label (log scale)"})
    ticks = [v for v in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 3600) if d["median_seconds"].min() / 2 <= v
             <= d["median_seconds"].max() * 2]
    fig.update_xaxes(tickvals=[math.log10(v) for v in ticks], ticktext=[str(v) for v in ticks])
    mine = peers.loc[peers["worker"] == worker, "median_seconds"]
    if len(mine) and mine.iloc[0] > 0:
        fig.add_vline(x=math.log10(mine.iloc[0]), line_color=VERDICT_COLORS["suspect"], line_width=3,
                      annotation_text=f"{worker}: {mine.iloc[0]:.1f} s", annotation_position="top")
    fig.update_traces(hovertemplate="%{y} workers<extra></extra>", selector={"type": "histogram"})
    return _layout(fig, "Speed against peers: median seconds per label of every worker",
                   "median seconds per label (log scale)", "workers", height=300)


def overlap_bar(df: pd.DataFrame, worker: str) -> go.Figure:
    """Cohen's kappa of the worker with each overlapping worker, coloured by the other's verdict."""
    if df.empty:
        return empty(f"Agreement of {worker} with overlapping workers", "No other worker labelled the same items")
    d = df.sort_values("shared", ascending=True).astype({"worker": str})
    fig = px.bar(d, x="kappa", y="worker", orientation="h", color="verdict", color_discrete_map=VERDICT_COLORS,
                 category_orders={"verdict": VERDICT_ORDER},
                 hover_data={"shared": True, "agreement": ":.2f", "kappa": ":.2f", "trust": ":.2f"},
                 labels={"kappa": "Cohen's kappa (1 = always agree, 0 = chance)", "worker": "other worker"})
    fig.update_xaxes(range=[-1, 1])
    fig.update_yaxes(type="category")
    return _layout(fig, f"Agreement of {worker} with overlapping workers",
                   "Cohen's kappa (1 = always agree, 0 = chance, < 0 = disagree)", "other worker",
                   height=max(280, 22 * len(d) + 100))


def probabilities_bar(df: pd.DataFrame, task: str, multilabel: bool = False) -> go.Figure:
    """Posterior probability of each label of an item (label, p); for a multi-label item the
    probability that each option applies (they do not sum to 1)."""
    title = f"Probability that each option applies to item {task}" if multilabel \
        else f"Class probabilities of item {task}"
    if df.empty:
        return empty(title, "No probabilities stored for this item")
    d = df.astype({"label": str})
    if len(d) > MAX_BARS:
        d = d.sort_values("p", ascending=False).head(MAX_BARS)
        title += f" (the {MAX_BARS} most likely of {len(df)})"
    x_title = "P(option applies)" if multilabel else "posterior probability"
    fig = px.bar(d, x="p", y="label", orientation="h", color_discrete_sequence=["#4a78a8"],
                 labels={"p": x_title, "label": "option" if multilabel else "label"}, hover_data={"p": ":.3f"})
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(autorange="reversed", type="category")
    if multilabel:
        fig.add_vline(x=0.5, line_dash="dot", line_color="#888")
    return _layout(fig, title, x_title, "option" if multilabel else "label", height=max(200, 28 * len(d) + 100))


def kappa_heatmap(df: pd.DataFrame, workers: list[str]) -> go.Figure:
    """Symmetric worker x worker Cohen's kappa (worker_a, worker_b, shared, kappa)."""
    if df.empty:
        return empty("Agreement between the busiest workers", "These workers share too few items to compare")
    df = df.astype({"worker_a": str, "worker_b": str})
    order = [str(w) for w in workers if str(w) in set(df["worker_a"]) | set(df["worker_b"])]
    both = pd.concat([df, df.rename(columns={"worker_a": "worker_b", "worker_b": "worker_a"})])
    z = both.pivot_table(index="worker_a", columns="worker_b", values="kappa", aggfunc="first").reindex(
        index=order, columns=order)
    n = both.pivot_table(index="worker_a", columns="worker_b", values="shared", aggfunc="first").reindex(
        index=order, columns=order)
    fig = go.Figure(go.Heatmap(
        z=z.to_numpy(dtype=float), x=order, y=order, zmin=-1, zmax=1, colorscale=DIVERGING, zmid=0,
        customdata=n.to_numpy(dtype=float), colorbar={"title": "kappa"},
        hovertemplate="%{y} vs %{x}<br>kappa %{z:.2f}<br>%{customdata:.0f} shared items<extra></extra>"))
    fig.update_xaxes(type="category")   # worker ids are names even when they look like numbers
    fig.update_yaxes(autorange="reversed", type="category")
    return _layout(fig, "Cohen's kappa between the busiest workers (blank = too few shared items)",
                   "worker", "worker", height=max(380, 18 * len(order) + 160))


def agreement_by_label(df: pd.DataFrame) -> go.Figure:
    if df.empty:
        return empty("Agreement by label", "No labels")
    title = "Agreement by label: how often answers match the consensus on items of each label"
    if len(df) > MAX_BARS:
        title = f"Agreement on the {MAX_BARS} most common of {len(df)} consensus labels"
        df = df.sort_values(["items", "label"], ascending=[False, True]).head(MAX_BARS)
    df = df.astype({"label": str})
    d = df.melt(id_vars=["label", "items"], value_vars=["answer_agreement", "mean_confidence"],
                var_name="measure", value_name="value")
    d["measure"] = d["measure"].map({"answer_agreement": "answers matching the consensus",
                                     "mean_confidence": "mean confidence of the consensus"})
    fig = px.bar(d, x="label", y="value", color="measure", barmode="group", hover_data={"items": True},
                 color_discrete_sequence=["#4a78a8", "#9bb7d4"],
                 labels={"label": "consensus label", "value": "share (0–1)"})
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, title, "consensus label", "share (0–1)")


def _finite_weights(values: pd.Series) -> pd.Series:
    """Edge weights as finite non-negative floats: missing -> 0, infinite -> the largest finite
    weight (a p-value that underflowed to 0 is the strongest evidence, not a NaN position)."""
    v = pd.to_numeric(values, errors="coerce").astype(float).fillna(0.0).clip(lower=0.0)
    finite = v[np.isfinite(v)]
    cap = float(finite.max()) if len(finite) and finite.max() > 0 else 1.0
    return v.where(np.isfinite(v), cap)


def collusion_network(edges: pd.DataFrame, nodes: pd.DataFrame, communities: pd.DataFrame,
                      selected: int | None = None, seed: int = 7) -> go.Figure:
    """The worker graph: edges are collusion evidence (weight), nodes coloured by verdict,
    members of suspect communities ringed; the selected community is drawn larger.

    ``edges``: worker_a, worker_b, value, n_shared; ``nodes``: worker, verdict, trust, n_labels;
    ``communities``: community, members, suspect.
    """
    if edges.empty:
        return empty("Worker graph", "No collusion evidence between workers in this run")
    edges = edges.assign(value=_finite_weights(edges["value"]))
    g = nx.Graph()
    for r in edges.itertuples(index=False):
        g.add_edge(r.worker_a, r.worker_b, weight=max(float(r.value), 1e-3), shared=r.n_shared)
    pos = nx.spring_layout(g, seed=seed, weight="weight", k=1.5 / math.sqrt(max(g.number_of_nodes(), 1)),
                           iterations=30)
    member_of = {}
    for c in communities.itertuples(index=False):
        for m in c.members:
            member_of[m] = (int(c.community), bool(c.suspect))
    wmax = max(float(edges["value"].max()), 1e-9)
    fig = go.Figure()
    # one trace per (strength class, highlighted): thousands of edges stay a handful of traces
    groups: dict[tuple[int, bool], tuple[list, list]] = {}
    for r in edges.itertuples(index=False):
        (x0, y0), (x1, y1) = pos[r.worker_a], pos[r.worker_b]
        ca, cb = member_of.get(r.worker_a, (None,))[0], member_of.get(r.worker_b, (None,))[0]
        strong = selected is not None and ca == selected == cb
        cls = min(int(3 * float(r.value) / wmax), 2)
        xs, ys = groups.setdefault((cls, strong), ([], []))
        xs += [x0, x1, None]
        ys += [y0, y1, None]
    for (cls, strong), (xs, ys) in sorted(groups.items()):
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False,
                                 line={"width": 0.8 + 1.6 * cls,
                                       "color": "rgba(214,39,40,0.7)" if strong else "rgba(120,120,120,0.35)"}))
    verdict_of = dict(zip(nodes["worker"], nodes["verdict"], strict=True))
    trust_of = dict(zip(nodes["worker"], nodes["trust"], strict=True))
    for verdict in VERDICT_ORDER:
        ws = [w for w in g.nodes if verdict_of.get(w, "trusted") == verdict]
        if not ws:
            continue
        sizes, lines, text = [], [], []
        for w in ws:
            comm, sus = member_of.get(w, (None, False))
            sizes.append(20 if (selected is not None and comm == selected) else 12)
            lines.append(3 if sus else 0.5)
            trust = trust_of.get(w)
            text.append(f"worker {w}<br>verdict {verdict}<br>trust {trust:.2f}" if trust is not None and trust == trust
                        else f"worker {w}<br>verdict {verdict}")
            if comm is not None:
                text[-1] += f"<br>community {comm}" + (" (suspect)" if sus else "")
        fig.add_trace(go.Scatter(
            x=[pos[w][0] for w in ws], y=[pos[w][1] for w in ws], mode="markers", name=VERDICT_LABELS[verdict],
            marker={"size": sizes, "color": VERDICT_COLORS[verdict], "line": {"width": lines, "color": "#111"}},
            text=text, hovertemplate="%{text}<extra></extra>", customdata=ws))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return _layout(fig, "Worker graph (thicker line = stronger evidence; black ring = suspect community)",
                   height=520)


def community_timing(df: pd.DataFrame) -> go.Figure:
    """Histogram of how far apart (seconds) group members submitted the same item."""
    d = df.dropna(subset=["time_spread_s"])
    if d.empty:
        return empty("Timing of shared items", "No timestamps on the shared items")
    med = float(d["time_spread_s"].median())
    unit, div = ("seconds", 1.0) if med < 600 else ("minutes", 60.0) if med < 36_000 else ("hours", 3600.0)
    d = d.assign(spread=d["time_spread_s"] / div,
                 answer=np.where(d["co_error"].fillna(False).astype(bool), "same wrong answer", "other"))
    x_title = f"{unit} between the first and last member's answer"
    fig = px.histogram(d, x="spread", nbins=30, color="answer", hover_data={"task": True},
                       color_discrete_map={"same wrong answer": VERDICT_COLORS["suspect"], "other": "#9bb7d4"},
                       labels={"spread": x_title, "answer": ""})
    return _layout(fig, "Timing: how close together members answered the items they share",
                   x_title, "shared items", height=300)


def option_profile(df: pd.DataFrame, worker: str) -> go.Figure:
    """A worker's sensitivity and specificity per option (option, sensitivity, specificity, items, ticked)."""
    title = f"{worker} per option: sensitivity and specificity"
    if df.empty:
        return empty(title, "No answers of this worker on options with a posterior")
    d = df.astype({"option": str}).melt(id_vars=["option", "items", "ticked"],
                                        value_vars=["sensitivity", "specificity"], var_name="measure", value_name="v")
    d["measure"] = d["measure"].map({"sensitivity": "sensitivity: ticks it when it applies",
                                     "specificity": "specificity: leaves it when it does not"})
    fig = px.bar(d, x="v", y="option", color="measure", barmode="group", orientation="h",
                 color_discrete_sequence=["#4a78a8", "#9bb7d4"], hover_data={"items": True, "ticked": True},
                 labels={"v": "rate (0–1)", "option": "option", "measure": ""})
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(legend={"orientation": "h", "y": -0.15})
    return _layout(fig, title, "rate (0–1, weighted by the consensus posterior)", "option",
                   height=max(300, 34 * len(df) + 140))


def option_agreement(df: pd.DataFrame) -> go.Figure:
    """Per option: Krippendorff's alpha of the yes/no judgements and the share of items it applies to."""
    title = "Agreement per option (multi-select answers, each option a yes/no judgement)"
    if df.empty:
        return empty(title, "No per-option results in this run")
    d = df.astype({"option": str}).melt(id_vars=["option", "items", "items_chosen"],
                                        value_vars=["alpha", "prevalence"], var_name="measure", value_name="v")
    d["measure"] = d["measure"].map({"alpha": "Krippendorff's α (agreement beyond chance)",
                                     "prevalence": "share of items it applies to"})
    fig = px.bar(d, x="v", y="option", color="measure", barmode="group", orientation="h",
                 color_discrete_sequence=["#4a78a8", "#f0a202"], hover_data={"items": True, "items_chosen": True},
                 labels={"v": "value", "option": "option", "measure": ""})
    fig.update_xaxes(range=[min(-0.2, float(df["alpha"].min(skipna=True) or 0) - 0.05), 1])
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(legend={"orientation": "h", "y": -0.12})
    return _layout(fig, title, "value", "option", height=max(320, 34 * len(df) + 160))


# -- red team (analytics.redteam: scorecard summaries and parameter sweeps) ------------------------

_REDTEAM_LABELS = {
    "acc_clean": "clean (no attack)", "acc_attacked": "under attack", "acc_defended": "after banning flagged workers",
    "attack_success_rate": "attack success", "attack_success_defended": "attack success after ban",
    "pr_auc": "detectors (1 - trust)", "baseline_pr_auc": "baseline (agreement with DS)",
}


def _redteam_err(d: pd.DataFrame) -> dict | None:
    if d["lo"].notna().any():
        return {"type": "data", "symmetric": False, "array": (d["hi"] - d["value"]).fillna(0).to_numpy(),
                "arrayminus": (d["value"] - d["lo"]).fillna(0).to_numpy()}
    return None


def _redteam_lines(summary: pd.DataFrame, param: str, metrics: tuple[str, ...], title: str, ytitle: str) -> go.Figure:
    lf = long_form(summary, param, metrics)
    fig = go.Figure()
    multi = lf["attack"].nunique() > 1
    for (a, m), d in lf.groupby(["attack", "metric"], sort=False):
        d = d.sort_values(param)
        if d["value"].isna().all():
            continue
        name = f"{a}: {_REDTEAM_LABELS.get(m, m)}" if multi else _REDTEAM_LABELS.get(m, m)
        fig.add_trace(go.Scatter(x=d[param], y=d["value"], mode="lines+markers", name=name, error_y=_redteam_err(d)))
    fig.update_layout(title=title, xaxis_title=param, yaxis_title=ytitle, legend_title_text="", height=380,
                      margin={"t": 50, "l": 10, "r": 10, "b": 10})
    return fig


def accuracy_figure(summary: pd.DataFrame, param: str = "share") -> go.Figure:
    """Gold accuracy of the aggregated labels: clean, under attack, after the defence, against ``param``."""
    return _redteam_lines(summary, param, ("acc_clean", "acc_attacked", "acc_defended"),
                  "Accuracy on held-out gold", "accuracy")


def success_figure(summary: pd.DataFrame, param: str = "share") -> go.Figure:
    """Attack success rate on the targets, without and with the defence, against ``param``."""
    return _redteam_lines(summary, param, ("attack_success_rate", "attack_success_defended"),
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
        fig.add_trace(go.Bar(x=summary["attack"], y=v, name=_REDTEAM_LABELS[m], error_y=err))
    fig.update_layout(barmode="group", title="Worker-level PR-AUC (planted vs honest original workers)",
                      yaxis_range=[0, 1.05], yaxis_title="PR-AUC", height=380,
                      margin={"t": 50, "l": 10, "r": 10, "b": 10})
    return fig
