"""Decisions taken where the manager looks: ban, trust and re-queue bars for the Workers and Items pages.

Each bar records through :mod:`analytics.actions` (hash-chained audit entries with the actor,
the reason and what was on screen); a ban shows the impact preview of :mod:`analytics.impact`
before it is confirmed, as on the Actions page. No statistics here.
"""

from __future__ import annotations

import json

import streamlit as st

from analytics import actions, impact, results
from analytics.errors import UserError
from app import state


def _evidence(shown: dict) -> dict:
    return json.loads(json.dumps(shown, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _record(c: state.Ctx, fn, targets: list[str], reason: str, message: str, **kwargs) -> None:
    try:
        with state.write_workspace(c.ws, create=False) as ws:
            res = fn(ws, c.project, targets, reason, c.actor, **kwargs)
    except UserError as exc:
        st.error(str(exc))
        return
    st.session_state["_flash"] = f"{res.summary()}. {message}"
    st.rerun()


def worker_bar(c: state.Ctx, workers: list[str], key: str, shown: dict | None = None) -> None:
    """Ban / mark trusted / re-queue all their items, for the given workers (managers and admins)."""
    if not workers or not c.can("ban"):
        return
    who = workers[0] if len(workers) == 1 else f"{len(workers)} workers"
    with st.container(border=True):
        st.markdown(f"**Act on {who}**")
        reason = st.text_input("Reason (required, kept in the audit log)", key=f"{key}_reason",
                               placeholder="e.g. ticks every option on every sentence")
        a, b, d = st.columns(3)
        ban = a.button(f"Ban {who}…", key=f"{key}_ban", icon=":material/block:", type="primary")
        trust = b.button("Mark as trusted", key=f"{key}_trust", icon=":material/verified_user:")
        requeue = d.button("Re-queue all their items", key=f"{key}_rq", icon=":material/replay:",
                           help="Every item these workers answered goes on the re-queue list (export it as a "
                                "task list for the platform).")
        if ban:
            st.session_state[f"{key}_ban_open"] = tuple(workers)
        if trust and state.need_actor(c, "decision", "trust"):
            _record(c, actions.trust_workers, workers, reason, "Their verdict shows the override after the next "
                    "analysis.", evidence=_evidence(shown or {}))
        if requeue and state.need_actor(c, "re-queue"):
            tasks = state.read(results.worker_tasks, c.project_id, tuple(workers))
            _record(c, actions.requeue, tasks, reason or f"re-queue the items of {who}",
                    f"{len(tasks):,} items are on the re-queue list (Export → re-queue task list).",
                    evidence=_evidence({"workers": workers, **(shown or {})}))
        if st.session_state.get(f"{key}_ban_open") == tuple(workers):
            _ban_confirm(c, workers, reason, key, shown)


def _ban_confirm(c: state.Ctx, workers: list[str], reason: str, key: str, shown: dict | None) -> None:
    try:
        with st.spinner("Computing the impact of the ban…"):
            data, consensus, untrusted, settings = state.read(impact.current_state, c.project_id)
            preview = impact.preview_ban(data, consensus, workers, settings.min_trusted_labels,
                                         untrusted=[u for u in untrusted if u not in workers])
    except UserError as exc:
        st.error(str(exc))
        return
    s = preview.summary()
    st.info(f"Banning removes {s['n_labels_removed']:,} labels on {s['n_tasks_touched']:,} items; "
            f"{s['n_labels_changed']:,} aggregated labels change and {s['n_below_min']:,} items fall below "
            f"{s['min_trusted_labels']} trusted labels (one-step preview; exact re-fit on the Actions page).",
            icon=":material/preview:")
    x, y = st.columns(2)
    if x.button(f"Confirm: ban {len(workers)} worker(s)", key=f"{key}_ban_go", type="primary",
                icon=":material/gavel:") and state.need_actor(c, "ban"):
        st.session_state.pop(f"{key}_ban_open", None)
        _record(c, actions.ban, workers, reason, "Labels and exports now leave them out; re-analyse to refresh "
                "scores.", evidence=_evidence({w: {"shown": (shown or {}).get(w), "impact": s, "run_id": c.run_id}
                                               for w in workers}))
    if y.button("Cancel", key=f"{key}_ban_cancel"):
        st.session_state.pop(f"{key}_ban_open", None)
        st.rerun()


def requeue_bar(c: state.Ctx, tasks: list[str], key: str) -> None:
    """Re-queue the given items (managers and admins)."""
    if not tasks or not c.can("requeue"):
        return
    what = f"item {tasks[0]}" if len(tasks) == 1 else f"{len(tasks)} items"
    with st.container(border=True):
        a, b = st.columns([3, 1])
        reason = a.text_input(f"Re-queue {what}: reason (required)", key=f"{key}_reason",
                              placeholder="e.g. consensus depends on suspect workers")
        b.write("")
        if b.button(f"Re-queue {what}", key=f"{key}_go", icon=":material/replay:") and state.need_actor(c, "re-queue"):
            _record(c, actions.requeue, tasks, reason, "Export the re-queue task list on the Export page.")
