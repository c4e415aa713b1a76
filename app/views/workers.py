"""Workers: a filterable table of every worker's verdict and scores; selecting one opens their detail."""

import pandas as pd
import streamlit as st

from analytics import options, results
from analytics.answers import order_blind
from analytics.ingest import kinds
from analytics.results import LOW_TRUST, VERDICTS, WORKER_SORTS, WorkerFilter, fmt_interval, worker_bursts
from app import act, charts, state

c = state.require_run("Workers")
kind, _ = state.read(kinds.project_kind, c.project_id)

# A worker named in the URL (a link from another page) opens their detail.
linked = st.query_params.get("worker")
if linked and st.session_state.get("_worker_linked") != linked:
    st.session_state["_worker_linked"] = linked
    st.session_state["worker_pick"] = linked

stats = state.read(results.project_stats, c.project_id)
signals = state.read(results.significant_signal_names, c.run_id)

with st.container(border=True):
    f = st.columns([2.2, 1.6, 1, 1.4, 1.4, 1.1])
    verdicts = f[0].multiselect("Verdict", list(VERDICTS), default=[], key="w_verdicts",
                                placeholder="all verdicts",
                                help="banned: banned in the audit log · suspect: the evidence is conclusive · "
                                     "watch: a detector fired but the evidence is not conclusive, or trust is "
                                     f"below {LOW_TRUST:.1f} and half the crowd's median · trusted: the rest")
    search = f[1].text_input("Worker id contains", key="w_search", placeholder="e.g. A1B2")
    min_labels = f[2].number_input("Min. labels", min_value=0, value=0, step=5, key="w_min")
    signal = f[3].selectbox("Detector fired", ["any"] + signals, key="w_signal")
    sort = f[4].selectbox("Sort by", list(WORKER_SORTS), key="w_sort")
    desc = f[5].toggle("Descending", value=False, key="w_desc")

flt = WorkerFilter(verdicts=verdicts, search=search.strip(), min_labels=int(min_labels),
                   signal=None if signal == "any" else signal)
table = state.read(results.workers_table, c.run_id, c.project_id, flt, sort, desc, 500)
total = state.read(results.worker_count, c.run_id)

view = table[["worker", "verdict", "trust", "n_labels", "agreement", "gold_accuracy", "median_seconds",
              "last_active", "significant_signals", "reasons"]].copy()
view["gold"] = [fmt_interval(v, lo, hi, 2) for v, lo, hi in
                zip(table["gold_accuracy"], table["gold_lo"], table["gold_hi"], strict=True)]
view = view.drop(columns=["gold_accuracy"])
view[["significant_signals", "reasons"]] = view[["significant_signals", "reasons"]].fillna("")
st.session_state["_worker_rows"] = view["worker"].tolist()


def _on_select() -> None:
    rows = st.session_state["workers_table"].selection.rows
    st.session_state["_worker_selected"] = [st.session_state["_worker_rows"][r] for r in rows]
    if rows:
        st.session_state["worker_pick"] = st.session_state["_worker_rows"][rows[-1]]


def _on_point() -> None:
    pts = st.session_state["workers_scatter"].selection.points
    if pts and pts[0].get("customdata"):
        st.session_state["worker_pick"] = pts[0]["customdata"][0]


st.caption(f"{len(view):,} of {total:,} workers shown" + (" (first 500)" if len(view) == 500 else "")
           + ". Tick rows to ban, trust or re-queue them right here; the last one ticked opens below.")
st.dataframe(
    view, key="workers_table", on_select=_on_select, selection_mode="multi-row", hide_index=True, width="stretch",
    height=min(420, 36 * (len(view) + 1) + 4),
    column_order=["worker", "verdict", "trust", "n_labels", "agreement", "gold", "median_seconds", "last_active",
                  "significant_signals", "reasons"],
    column_config={
        "verdict": st.column_config.TextColumn("verdict", width="small"),
        "trust": st.column_config.ProgressColumn("trust", min_value=0.0, max_value=1.0, format="%.2f", width="small"),
        "n_labels": st.column_config.NumberColumn("answers" if kind != "single" else "labels", format="%d"),
        "agreement": st.column_config.NumberColumn(
            "agrees with others", format="percent",
            help="Share of the worker's answers equal to the consensus of the other workers on the same items."),
        "gold": st.column_config.TextColumn("gold accuracy [95% CI]",
                                            help="Accuracy on gold items with its interval; — without gold."),
        "median_seconds": st.column_config.NumberColumn("median s / label", format="%.1f"),
        "last_active": st.column_config.DatetimeColumn("last active (UTC)", format="YYYY-MM-DD HH:mm"),
        "significant_signals": "significant signals",
        "reasons": st.column_config.TextColumn("reasons", width="large"),
    })
if view.empty:
    st.info("No worker matches these filters. Clear the verdict or detector filter to see everyone.")
selected = [w for w in st.session_state.get("_worker_selected", []) if w in set(view["worker"])]
if selected:
    shown = {r.worker: {"verdict": r.verdict, "trust": r.trust, "reasons": r.reasons}
             for r in view[view["worker"].isin(selected)].itertuples(index=False)}
    act.worker_bar(c, selected, key="wt_act", shown=shown)

scatter = state.read(results.reliability_scatter, c.run_id, c.project_id)
pick_opts = view["worker"].tolist()
if "worker_pick" not in st.session_state and st.session_state.get("_worker_keep"):
    st.session_state["worker_pick"] = st.session_state["_worker_keep"]
current = st.session_state.get("worker_pick")
if current and current not in pick_opts:
    pick_opts = [current] + pick_opts

st.plotly_chart(charts.reliability_scatter(scatter, highlight=current), key="workers_scatter",
                on_select=_on_point, selection_mode="points")

st.divider()
worker = st.selectbox("Worker detail", pick_opts, index=None, key="worker_pick",
                      placeholder="select a row in the table, a dot in the chart, or type a worker id")
st.session_state["_worker_keep"] = worker
if worker is None:
    st.info("Select a worker to see their confusion matrix, activity, speed, agreement, every fired detector "
            "with its evidence, and the items they labelled.")
    st.stop()
if st.query_params.get("worker") != worker:
    st.query_params["worker"] = worker
    st.session_state["_worker_linked"] = worker

d = state.read(results.worker_detail, c.run_id, c.project_id, worker)
badge = {"banned": "gray", "suspect": "red", "watch": "orange", "trusted": "green"}[d["verdict"]]
st.subheader(f"Worker {worker}  :{badge}-badge[{d['verdict']}]")
if d.get("reasons"):
    st.markdown(f"**Why:** {d['reasons']}")
k = st.columns(6)
k[0].metric("Trust", f"{d['trust']:.2f}" if d["trust"] is not None else "—",
            help="A model estimate: chance-corrected agreement with the consensus, lowered by detector evidence.")
k[1].metric("Answers" if kind != "single" else "Labels", f"{d['n_labels']:,}")
k[2].metric("Agrees per option" if kind == "multilabel" else "Agrees with others",
            "—" if d["agreement"] is None else f"{d['agreement']:.0%}",
            help="Share of the worker's judgements equal to the consensus of the other workers on the same items.")
if d["gold_accuracy"] is not None:
    k[3].metric("Gold accuracy", fmt_interval(d["gold_accuracy"], None, None, 2),
                help=f"Measured on gold items; 95% interval "
                     f"{fmt_interval(d['gold_accuracy'], d['gold_lo'], d['gold_hi'], 2)}")
else:
    k[3].metric("Accuracy (estimated)", fmt_interval(d.get("model_accuracy"), None, None, 2),
                help="No gold answers for this worker: the aggregation model's estimate, not a measurement.")
k[4].metric("Median s / label", "—" if d["median_seconds"] is None else f"{d['median_seconds']:.1f}")
k[5].metric("Last active (UTC)", "—" if d["last_active"] is None else f"{pd.Timestamp(d['last_active']):%d %b}",
            help=None if d["last_active"] is None else f"{pd.Timestamp(d['last_active']):%Y-%m-%d %H:%M:%S} UTC")

act.worker_bar(c, [worker], key="wd_act", shown={worker: {"verdict": d["verdict"], "trust": d["trust"],
                                                             "reasons": d.get("reasons")}})

sig = state.read(results.worker_signals, c.run_id, worker)
if kind == "multilabel":
    tick = state.read(options.tick_signal, c.run_id, worker)
    if tick is not None:
        (st.error if tick["significant"] else st.caption)(("**Ticking:** " if tick["significant"] else "Ticking: ")
                                                     + str(tick["reason"]))
    st.plotly_chart(charts.option_profile(state.read(options.option_stats, c.run_id, c.project_id, worker), worker),
                    key="w_options")
left, right = st.columns(2)
with left:
    conf = state.read(results.worker_confusion, c.run_id, worker)
    if kind == "item-specific":
        st.info("Answers are worded per item, so there are no shared classes and no confusion matrix: this "
                "worker is scored by the one-coin model (one accuracy) and by agreement with each item's "
                "consensus, shown above.")
    elif kind == "multilabel":
        st.plotly_chart(charts.confusion_heatmap(conf, "p", worker, f"{worker}: ticked or not against the "
                                                 "consensus, all options pooled (model estimate)", "P(answer | true)"),
                        key="w_conf")
    elif not conf.empty:
        st.plotly_chart(charts.confusion_heatmap(conf, "p", worker, f"Confusion matrix of {worker} (model estimate)",
                                                 "P(answer | true)"), key="w_conf")
    else:
        counts = state.read(results.worker_confusion_counts, c.run_id, c.project_id, worker).rename(columns={"n": "count"})
        st.plotly_chart(charts.confusion_heatmap(counts, "count", worker,
                                                 f"Answers of {worker} against the consensus label", "answers"),
                        key="w_conf")
with right:
    if stats["has_time"]:
        st.plotly_chart(charts.worker_timeline(state.read(results.worker_timeline, c.project_id, worker), worker_bursts(sig),
                                               worker), key="w_time")
    else:
        st.info("No timestamps in this project: the activity timeline and timing detectors are off.")

left, right = st.columns(2)
with left:
    if stats["has_duration"]:
        st.plotly_chart(charts.speed_vs_peers(state.read(results.worker_speed, c.project_id), worker), key="w_speed")
    else:
        st.info("No durations or start/submit times in this project: speed against peers is not available.")
with right:
    st.plotly_chart(charts.overlap_bar(state.read(results.worker_overlap, c.run_id, c.project_id, worker, 20), worker),
                    key="w_overlap")

st.markdown("**Detectors tested on this worker** (significant first)")
if sig.empty:
    st.caption("No detector produced a result for this worker.")
else:
    for r in sig.itertuples(index=False):
        icon = ":material/warning:" if r.significant else ":material/check_circle:"
        title = f"{r.signal} — {'significant' if r.significant else 'not significant'}" + (
            f" · p = {r.p_value:.2g}" if r.p_value == r.p_value and r.p_value is not None else "")
        with st.expander(title, expanded=bool(r.significant), icon=icon):
            st.write(r.reason or "")
            if r.signal in order_blind(kind):
                st.caption("Not counted in the verdict for this kind of answers: its input (the order or the "
                           "distribution of class codes) has no meaning once answers are coded per option or per item.")
            if r.evidence:
                st.json(r.evidence, expanded=False)

st.markdown("**Items this worker labelled** (newest first)")
only_dis = st.toggle("Only items where they disagree with the consensus", key="w_only_dis")
items = state.read(results.worker_items, c.run_id, c.project_id, worker, only_dis, 200)
st.dataframe(items.fillna({"answer": "", "consensus": ""}), hide_index=True, width="stretch", height=300, column_config={
    "task": "item", "answer": "their answer", "agrees": st.column_config.CheckboxColumn("agrees"),
    "confidence": st.column_config.NumberColumn("consensus confidence", format="%.2f"),
    "item_suspect": st.column_config.CheckboxColumn("item at risk"),
    "submitted_at": st.column_config.DatetimeColumn("submitted (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "duration_s": st.column_config.NumberColumn("seconds", format="%.1f")})
