"""Items: suspect and uncertain items, and one item's answers, answerers and class probabilities."""

import streamlit as st

from analytics import results
from analytics.ingest import kinds
from analytics.results import ITEM_SORTS, ItemFilter
from app import act, charts, state

c = state.require_run("Items")
kind, _ = state.read(kinds.project_kind, c.project_id)

labels = state.read(results.consensus_labels, c.run_id)
with st.container(border=True):
    f = st.columns([1.6, 1.5, 1.7, 1.2, 1.3, 1.2])
    only_suspect = f[0].toggle("Only at-risk items", value=True, key="i_suspect",
                               help="Items the analysis marked at risk: exposed to suspect workers, or too few "
                                    "trusted labels.")
    max_conf = f[1].slider("Max. confidence", 0.0, 1.0, 1.0, 0.05, key="i_conf",
                           help="Show items whose consensus confidence is at most this (uncertain items).")
    min_share = f[2].slider("Min. share of labels from suspects", 0.0, 1.0, 0.0, 0.05, key="i_share")
    label = f[3].selectbox("Consensus label", ["any"] + labels, key="i_label")
    search = f[4].text_input("Item id contains", key="i_search")
    sort = f[5].selectbox("Sort by", list(ITEM_SORTS), key="i_sort")

flt = ItemFilter(only_suspect=only_suspect, max_confidence=float(max_conf), min_suspect_share=float(min_share),
                 search=search.strip(), label=None if label == "any" else label)
table = state.read(results.items_table, c.run_id, c.project_id, flt, sort, 500)
st.session_state["_item_rows"] = table["task"].tolist()


def _on_select() -> None:
    rows = st.session_state["items_table"].selection.rows
    st.session_state["_item_selected"] = [st.session_state["_item_rows"][r] for r in rows]
    if rows:
        st.session_state["item_pick"] = st.session_state["_item_rows"][rows[-1]]


st.caption(f"{len(table):,} items shown" + (" (first 500)" if len(table) == 500 else "")
           + ". Tick rows to re-queue them; the last one ticked opens below with every answer.")
table = table.fillna({"reasons": "", "label": ""})
st.dataframe(table, key="items_table", on_select=_on_select, selection_mode="multi-row", hide_index=True,
             width="stretch", height=min(400, 36 * (len(table) + 1) + 4), column_config={
                 "task": "item", "label": "consensus",
                 "confidence": st.column_config.ProgressColumn("confidence", min_value=0.0, max_value=1.0,
                                                               format="%.2f"),
                 "n_labels": st.column_config.NumberColumn("labels", format="%d"),
                 "disagreement": st.column_config.NumberColumn(
                     "disagreement", format="percent", help="Share of answers that differ from the most common answer."),
                 "suspect_share": st.column_config.NumberColumn(
                     "from suspects", format="percent", help="Share of the answer weight that comes from suspect workers."),
                 "distinct_labels": st.column_config.NumberColumn("distinct answers", format="%d"),
                 "suspect": st.column_config.CheckboxColumn("at risk"),
                 "reasons": st.column_config.TextColumn("reasons", width="large")})
if table.empty:
    st.info("No item matches these filters." + (" Switch off 'Only items at risk' to see all items."
                                                if only_suspect else ""))
picked_items = [t for t in st.session_state.get("_item_selected", []) if t in set(table["task"])]
act.requeue_bar(c, picked_items, key="it_rq")

opts = table["task"].tolist()
if "item_pick" not in st.session_state and st.session_state.get("_item_keep"):
    st.session_state["item_pick"] = st.session_state["_item_keep"]
current = st.session_state.get("item_pick")
if current and current not in opts:
    opts = [current] + opts
task = st.selectbox("Item detail", opts, index=None, key="item_pick",
                    placeholder="select a row in the table or type an item id")
st.session_state["_item_keep"] = task
if task is None:
    st.stop()

st.divider()
d = state.read(results.item_detail, c.run_id, task)
st.subheader(f"Item {task}" + ("  :red-badge[at risk]" if d.get("suspect") else ""))
act.requeue_bar(c, [task], key="id_rq")
k = st.columns(3)
if kind == "multilabel":
    chosen = [o for o in str(d["label"]).split("|") if o]
    k[0].metric("Options chosen by the consensus", len(chosen) if d["label"] != "(no option)" else 0)
    st.markdown("**Consensus:** " + (" · ".join(f"`{o}`" for o in chosen) if d["label"] != "(no option)"
                                     else "no option applies"))
else:
    k[0].metric("Consensus label", str(d["label"]))
k[1].metric("Confidence", f"{d['confidence']:.2f}" if d["confidence"] is not None else "—")
k[2].metric("Labels", d["n_labels"])
if d.get("reasons"):
    st.markdown(f"**Why at risk:** {d['reasons']}")

answers = state.read(results.item_answers, c.run_id, c.project_id, task).fillna({"reasons": ""})
left, right = st.columns([3, 2])
with left:
    st.markdown("**Every answer** (click a row to open the worker)")
    st.session_state["_answer_rows"] = answers["worker"].tolist()
    picked = st.dataframe(
        answers, key="answers_table", on_select="rerun", selection_mode="single-row", hide_index=True,
        width="stretch", column_config={
            "trust": st.column_config.ProgressColumn("answerer's trust", min_value=0.0, max_value=1.0, format="%.2f"),
            "submitted_at": st.column_config.DatetimeColumn("submitted (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "duration_s": st.column_config.NumberColumn("seconds", format="%.1f"),
            "agrees_with_consensus": st.column_config.CheckboxColumn("agrees"),
            "reasons": st.column_config.TextColumn("why the worker is flagged", width="large")})
    who = st.selectbox("Open a worker's detail", answers["worker"].tolist(), index=None, key="item_worker",
                       placeholder="choose an answerer")
    rows = picked.selection.rows if picked is not None else []
    target = answers["worker"].iloc[rows[0]] if rows else who
    if target is not None:
        st.session_state["worker_pick"] = target
        st.switch_page("views/workers.py", query_params={"worker": target, "project": c.project})
with right:
    st.plotly_chart(charts.probabilities_bar(state.read(results.item_probs, c.run_id, task), task,
                                             multilabel=kind == "multilabel"), key="i_probs")
    if d.get("scores"):
        st.markdown("**Item scores**")
        st.dataframe({"score": list(d["scores"]), "value": list(d["scores"].values())}, hide_index=True)
