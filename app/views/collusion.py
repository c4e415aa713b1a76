"""Collusion: the worker graph with communities, and one community's members, shared items and timing."""

import streamlit as st

from analytics import results
from analytics.ingest import kinds
from app import charts, state

#: The graph draws at most this many of the strongest evidence edges (a readable picture, a fast page).
GRAPH_EDGES = 300

c = state.require_run("Collusion")
kind, _ = state.read(kinds.project_kind, c.project_id)
shared_name = "shared option judgements" if kind == "multilabel" else "shared items"
st.caption("Workers are joined when they share unusually many identical answers, identical wrong answers "
           "or near-simultaneous submissions. Groups of tightly joined workers form communities.")

comms = state.read(results.communities, c.run_id)
edges = state.read(results.pairs, c.run_id, c.project_id, "collusion", GRAPH_EDGES)
if edges.empty and comms.empty:
    st.success("No collusion evidence in this run: no pair of workers shares suspiciously many identical answers.")
    st.stop()

workers = sorted(set(edges["worker_a"]) | set(edges["worker_b"]))
nodes = state.read(results.worker_verdicts, c.run_id, c.project_id, workers)


@st.cache_data(show_spinner=False, max_entries=50)
def network(ws: str, stamp: tuple, run_id: int, selected) -> object:
    """The graph figure (its spring layout is the slow part), cached per run and selection."""
    return charts.collusion_network(edges, nodes, comms, selected=selected)


opts = comms["community"].tolist()
labels = {int(r.community): f"community {r.community}: {r.size} workers"
          + (" · suspect" if r.suspect else "") + (f" · score {r.score + 0.0:.2f}" if r.score == r.score else "")
          for r in comms.itertuples(index=False)}
left, right = st.columns([3, 2])
with right:
    st.markdown("**Communities** (suspect first)")
    st.dataframe(comms.drop(columns=["details"]), hide_index=True, width="stretch", column_config={
        "members": st.column_config.ListColumn("members"),
        "score": st.column_config.NumberColumn("score", format="%.2f"),
        "suspect": st.column_config.CheckboxColumn("suspect")})
    chosen = st.selectbox("Community detail", opts, index=0 if opts else None, key="community_pick",
                          format_func=lambda k: labels.get(int(k), str(k)),
                          placeholder="no communities in this run")
with left:
    st.plotly_chart(network(str(c.ws), state.stamp(c.ws), c.run_id, chosen), key="network")

with st.expander(f"Strongest worker pairs ({len(edges):,} shown)", expanded=comms["suspect"].sum() == 0):
    st.dataframe(edges.drop(columns=["details"]).head(100), hide_index=True, width="stretch", column_config={
        "worker_a": "worker", "worker_b": "other worker",
        "n_shared": st.column_config.NumberColumn(shared_name, format="%d",
                                                  help="For multi-select answers, each (item, option) pair counts."),
        "value": st.column_config.NumberColumn("evidence weight", format="%.2f"),
        "verdict_a": "verdict", "verdict_b": "other's verdict"})

if chosen is None:
    st.info("The graph has evidence edges but no community was formed; the strongest pairs are listed below.")
    st.dataframe(edges.drop(columns=["details"]).head(50), hide_index=True, width="stretch")
    st.stop()

row = comms[comms["community"] == chosen].iloc[0]
members = list(row["members"])
st.divider()
st.subheader(f"Community {chosen}" + ("  :red-badge[suspect]" if row["suspect"] else ""))
if row["reasons"]:
    st.markdown(f"**Why:** {row['reasons']}")
summ = state.read(results.community_summary, c.run_id, c.project_id, members)
k = st.columns(4)
k[0].metric("Members", len(members))
k[1].metric("Items shared by 2+ members", f"{summ['shared_items']:,}")
k[2].metric("Identical answers", f"{summ['same_answer']:,}")
k[3].metric("Co-errors", f"{summ['co_errors']:,}",
            help="Shared items where the members gave the same answer and it differs from the consensus.")

left, right = st.columns([2, 3])
with left:
    st.markdown("**Members**")
    mem = state.read(results.worker_verdicts, c.run_id, c.project_id, members)
    st.dataframe(mem, hide_index=True, width="stretch", column_config={
        "trust": st.column_config.ProgressColumn("trust", min_value=0.0, max_value=1.0, format="%.2f"),
        "n_labels": st.column_config.NumberColumn("labels", format="%d"),
        "reasons": st.column_config.TextColumn("reasons", width="medium")})
    who = st.selectbox("Open a member's detail", members, index=None, key="community_worker",
                       placeholder="choose a member")
    if who is not None:
        st.session_state["worker_pick"] = who
        st.switch_page("views/workers.py", query_params={"worker": who, "project": c.project})
with right:
    shared = state.read(results.community_items, c.run_id, c.project_id, members, 500)
    if shared["time_spread_s"].notna().any():
        st.plotly_chart(charts.community_timing(shared), key="comm_timing")
    else:
        st.info("No timestamps in this project: timing of shared answers is not available.")
st.markdown("**Items shared by members** (co-errors first)")
st.dataframe(shared, hide_index=True, width="stretch", height=300, column_config={
    "task": "item", "members": st.column_config.NumberColumn("members who answered", format="%d"),
    "group_answer": "their answer", "confidence": st.column_config.NumberColumn("consensus confidence", format="%.2f"),
    "same_answer": st.column_config.CheckboxColumn("identical"), "co_error": st.column_config.CheckboxColumn("co-error"),
    "time_spread_s": st.column_config.NumberColumn("seconds apart", format="%.0f")})
