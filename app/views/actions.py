"""Actions: review the suspects, preview what a ban changes, confirm it with a reason; history and undo."""

import json

import pandas as pd
import streamlit as st

from analytics import actions, audit
from analytics.audit import ANCHOR_NAME
from analytics.errors import UserError
from app import state

c = state.require_workspace()
st.title(f"Actions · {c.project}")
state.flash()

# -- audit chain status ------------------------------------------------------------------------
chain = state.read(audit.verify, str(c.ws / ANCHOR_NAME))
if chain.ok and chain.warning:
    st.warning(f"Audit log chain intact ({chain.n_entries:,} entries), but {chain.warning}.",
               icon=":material/warning:")
elif chain.ok:
    st.success(f"Audit log intact: {chain.n_entries:,} entries, head `{chain.head_hash[:12]}`.",
               icon=":material/verified:")
else:
    st.error(f"Audit log BROKEN at entry {chain.first_bad_seq}: {chain.message}", icon=":material/gpp_bad:")

# -- the queue ---------------------------------------------------------------------------------
st.subheader("Review queue")
queue = state.read(actions.review_queue, c.project_id, c.run_id)
if c.run_id is None:
    st.info("No analysis yet, so there are no suspects to review: analyse the project first. "
            "You can still ban or trust a worker by id below.")
    state.analyze_button(c, label="Analyse this project now", key="act_analyze")
suspects = queue[queue["suspect"] & (queue["status"] != "banned")]
st.caption(f"{len(suspects):,} suspect workers not yet banned, from analysis run {c.run_id}; "
           "lowest trust first. Their reasons are what the detectors found.")
if len(suspects):
    st.dataframe(suspects[["worker", "trust", "n_labels", "reasons", "status"]].fillna({"status": "", "reasons": ""}),
                 hide_index=True,
                 width="stretch", height=min(38 + 35 * len(suspects), 320),
                 column_config={"trust": st.column_config.ProgressColumn("trust", min_value=0.0, max_value=1.0,
                                                                          format="%.2f"),
                                "n_labels": st.column_config.NumberColumn("labels", format="%d"),
                                "reasons": st.column_config.TextColumn("reasons", width="large")})


def history() -> None:
    """The decisions of this project, newest first (everyone may read them)."""
    st.subheader("History")
    hist = state.read(actions.history, c.project_id, limit=200)
    if hist.empty:
        st.caption("No decisions yet.")
    else:
        last = hist.iloc[0]
        st.markdown(f"Latest entry **#{last['seq']}**: `{last['action']}` **{last['target']}** by {last['actor']} "
                    f"at {last['created_at']:%Y-%m-%d %H:%M:%S} UTC"
                    + (f" — “{last['reason']}”" if isinstance(last["reason"], str) and last["reason"] else ""))
        view = hist[["seq", "created_at", "actor", "action", "target", "scope", "reason"]].copy()
        view[["target", "scope", "reason"]] = view[["target", "scope", "reason"]].astype(object).fillna("")
        view["created_at"] = pd.to_datetime(view["created_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S")
        st.dataframe(view, hide_index=True, width="stretch", height=min(38 + 35 * len(view), 360),
                     column_config={"reason": st.column_config.TextColumn(width="large")})


if not c.can("ban"):
    st.info(f"Your role ({c.actor.role}) can read the review queue and the decisions; a manager or admin records "
            "bans, trust marks and re-queues.", icon=":material/visibility:")
    history()
    st.stop()

all_workers = queue.loc[queue["status"] != "banned", "worker"].tolist()
info = queue.set_index("worker")


def _label(w: str) -> str:
    if w not in info.index:
        return w
    r = info.loc[w]
    tag = "suspect" if r["suspect"] else "ok"
    return f"{w} · {tag} · trust {r['trust']:.2f}" if pd.notna(r["trust"]) else f"{w} · {tag}"


sel = st.multiselect("Workers to act on", all_workers, key="act_sel", format_func=_label,
                     placeholder="choose suspects from the queue (type to search)",
                     help="Pick one or many; a bulk decision is recorded as one entry per worker, all or nothing.")
typed = st.text_input("…or worker ids not in the latest run (comma separated)", key="act_typed")
selection = sorted(set(sel) | {t.strip() for t in typed.split(",") if t.strip()})
if sel:
    with st.expander("Why they were flagged" if len(sel) > 1 else f"Why {sel[0]} was flagged", expanded=len(sel) <= 3):
        for w in sel[:25]:
            r = info.loc[w]
            trust = f"trust {r['trust']:.2f}" if pd.notna(r["trust"]) else "trust n/a"
            n = f"{int(r['n_labels']):,} labels" if pd.notna(r["n_labels"]) else ""
            st.markdown(f"**{w}** · {trust} · {n} — {r['reasons'] or 'no detector fired'}")

# -- preview -----------------------------------------------------------------------------------
cols = st.columns([1, 1, 3])
refit = cols[1].toggle("Exact re-fit", key="act_refit",
                       help="Re-run the aggregation model from scratch without them (what the export will give). Off: "
                            "the model re-fitted from the current fit (under a second on large projects).")
if cols[0].button("Preview impact", key="act_preview", disabled=not selection, icon=":material/preview:"):
    st.session_state["act_preview_for"] = (tuple(selection), bool(refit))

preview = None
if selection and st.session_state.get("act_preview_for") == (tuple(selection), bool(refit)):
    try:
        with st.spinner("Computing the impact…"):
            preview = state.impact_preview(c, selection, refit=refit)
    except UserError as exc:
        st.error(str(exc))
if preview is not None:
    s = preview.summary()
    mode_txt = {"refit": "re-fit", "warm": "re-fit from the current fit"}.get(s["mode"], "one-step preview")
    with st.container(border=True):
        st.markdown(f"**Impact of banning {len(preview.workers)} worker(s)** "
                    f"({mode_txt}, {s['method']}"
                    f"{', exact' if s['exact'] else ''})")
        m = st.columns(4)
        m[0].metric("Labels removed", f"{s['n_labels_removed']:,}", help=f"on {s['n_tasks_touched']:,} items")
        m[1].metric("Aggregated labels that change", f"{s['n_labels_changed']:,}",
                    help=f"{s['n_left_without_labels']} items would have no label left")
        m[2].metric(f"Items below {s['min_trusted_labels']} trusted labels", f"{s['n_below_min']:,}",
                    help="suggested for re-queue")
        g = s["gold"]
        if g:
            m[3].metric("Accuracy on gold", f"{g['acc_after']:.1%}", delta=f"{g['delta']:+.1%}",
                        delta_color="normal" if abs(g["delta"]) >= 5e-4 else "off",
                        help=f"{g['n_gold']} gold items; before {g['acc_before']:.1%}. Measured on the crowd's "
                             "answers (not on a posterior fixed to gold).")
        else:
            m[3].metric("Accuracy on gold", "no gold")
        for note in s.get("notes", []):
            st.caption(note)
        if len(preview.changed):
            st.caption("Labels that would change")
            st.dataframe(preview.changed.head(500), hide_index=True, width="stretch", height=220,
                         column_config={"old_conf": st.column_config.NumberColumn(format="%.2f"),
                                        "new_conf": st.column_config.NumberColumn(format="%.2f"),
                                        "tv": st.column_config.NumberColumn("TV shift", format="%.2f")})
        if len(preview.below_min):
            with st.expander(f"Suggested re-queue: {len(preview.below_min)} items"):
                st.dataframe(preview.below_min, hide_index=True, width="stretch", height=200)

    with st.form("act_confirm", border=True):
        st.markdown("**Confirm the ban**")
        reason = st.text_area("Reason (required, kept in the audit log)", key="act_reason",
                              placeholder="e.g. flips labels on 40 items; confirmed with gold")
        fc = st.columns(2)
        scope = fc[0].radio("Scope", ["project", "workspace"], horizontal=True, key="act_scope",
                            help="This project only, or every project of the workspace.")
        also_requeue = fc[1].checkbox(f"Also re-queue the {len(preview.below_min)} suggested items",
                                      value=False, key="act_requeue", disabled=len(preview.below_min) == 0)
        submitted = st.form_submit_button(f"Ban {len(preview.workers)} worker(s)", type="primary",
                                          icon=":material/block:")
    if submitted and state.need_actor(c, "ban"):
        evidence = {w: {"shown": {k: (info.loc[w, k] if w in info.index else None)
                                  for k in ("trust", "suspect", "reasons")},
                        "impact": s, "run_id": c.run_id} for w in preview.workers}
        evidence = json.loads(json.dumps(evidence, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
        try:
            with state.write_workspace(c.ws, create=False) as ws:
                res = actions.ban(ws, c.project, preview.workers, reason, c.actor, scope=scope, evidence=evidence)
                msg = f"{res.summary()}."
                if also_requeue and len(preview.below_min):
                    rq = actions.requeue(ws, c.project, preview.requeue, f"left short of trusted labels by a ban: {reason}",
                                         c.actor)
                    msg += f" Also {rq.summary()}."
        except UserError as exc:
            st.error(str(exc))
        else:
            for k in ("act_preview_for", "act_sel", "act_typed"):
                st.session_state.pop(k, None)
            st.session_state["_flash"] = msg + " Labels and exports now leave them out; re-analyse to refresh scores."
            st.rerun()

# -- other decisions ---------------------------------------------------------------------------
with st.expander("Mark as trusted, or re-queue items by id"):
    with st.form("act_other"):
        kind = st.radio("Decision", ["Mark selected workers as trusted", "Remove the trusted mark",
                                     "Re-queue items"], key="act_kind")
        tasks = st.text_input("Item ids to re-queue (comma separated)", key="act_tasks")
        reason2 = st.text_input("Reason (required)", key="act_reason2")
        go = st.form_submit_button("Record decision")
    if go and state.need_actor(c, "decision", "requeue" if kind.startswith("Re-queue") else "trust"):
        try:
            with state.write_workspace(c.ws, create=False) as ws:
                if kind.startswith("Re-queue"):
                    ids = [t.strip() for t in tasks.split(",") if t.strip()]
                    res = actions.requeue(ws, c.project, ids, reason2, c.actor)
                elif kind.startswith("Mark"):
                    res = actions.trust_workers(ws, c.project, selection, reason2, c.actor)
                else:
                    res = actions.untrust_workers(ws, c.project, selection, reason2, c.actor)
        except UserError as exc:
            st.error(str(exc))
        else:
            st.session_state["_flash"] = res.summary() + "."
            st.rerun()

# -- history and undo --------------------------------------------------------------------------
history()

banned = state.read(actions.banned_workers, c.project_id)
if banned:
    with st.form("act_undo"):
        st.markdown(f"**Undo a ban** ({len(banned)} banned now). The workers' labels count again, exactly as before.")
        undo = st.multiselect("Banned workers", banned, key="act_undo_sel")
        undo_scope = st.radio("Scope of the ban to lift", ["project", "workspace"], horizontal=True,
                              key="act_undo_scope")
        undo_reason = st.text_input("Reason (required)", key="act_undo_reason")
        undo_go = st.form_submit_button("Unban", icon=":material/undo:")
    if undo_go and state.need_actor(c, "unban"):
        try:
            with state.write_workspace(c.ws, create=False) as ws:
                res = actions.unban(ws, c.project, undo, undo_reason, c.actor, scope=undo_scope)
        except UserError as exc:
            st.error(str(exc))
        else:
            st.session_state["_flash"] = res.summary() + "."
            st.rerun()
