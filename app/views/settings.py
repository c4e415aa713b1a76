"""Settings: aggregation model, detector thresholds and weights, and re-analysis with progress."""

import dataclasses

import streamlit as st

from analytics.errors import UserError
from analytics.results import attribute_docs, fmt_interval
from app import monitor_ui, state

c = state.require_workspace("Settings")

if not state.has_module("pipeline") or not state.has_module("trust"):
    st.warning("The analysis engine is not installed in this build (analytics.pipeline / analytics.trust missing).")
    st.stop()

from analytics.aggregate import MODELS  # noqa: E402
from analytics.trust import TrustSettings  # noqa: E402

# The current results stay on screen while a new analysis runs below them.
with st.container(border=True):
    if c.run_id is None:
        st.markdown("**Current results:** none yet. Save settings and analyse below.")
    else:
        run = state.q("run_summary", c.run_id)
        head = state.q("headline", c.run_id, c.project_id)
        v = head["workers_by_verdict"]
        st.markdown(
            f"**Current results:** run {c.run_id} · model **{run['method']}** · finished "
            f"{run['finished_at']:%Y-%m-%d %H:%M} UTC in {run['duration_s'] or 0:.1f} s · "
            f"α {fmt_interval(run['alpha'], run['alpha_lo'], run['alpha_hi'])} · "
            f"{v['suspect'] + v['banned']} suspect workers · {head['items_at_risk']:,} items at risk")
        st.caption("These results stay the ones every page shows until a new run completes.")

current = state.q("pipeline:project_settings", c.project_id)
docs = attribute_docs(TrustSettings)

with st.form("settings_form"):
    st.subheader("Aggregation model")
    methods = list(MODELS)
    method = st.radio("Model", methods, index=methods.index(current.method) if current.method in methods else 0,
                      format_func=lambda m: f"{m} — {MODELS[m]}", key="s_method")
    st.subheader("Verdict thresholds")
    values = {}
    cols = st.columns(2)
    fields = [f for f in dataclasses.fields(TrustSettings) if f.name not in ("method", "signal_weights")]
    for i, f in enumerate(fields):
        val = getattr(current, f.name)
        doc = docs.get(f.name, "")
        label = doc.split(". ")[0].rstrip(".") if doc else f.name.replace("_", " ")
        help_text = f"`{f.name}` — {doc}" if doc else f.name
        col = cols[i % 2]
        if isinstance(val, bool):
            values[f.name] = col.checkbox(label, value=val, help=help_text, key=f"s_{f.name}")
        elif isinstance(val, int):
            values[f.name] = int(col.number_input(label, value=val, step=1, help=help_text, key=f"s_{f.name}"))
        elif isinstance(val, float):
            values[f.name] = float(col.number_input(label, value=val, step=0.01, format="%.3f", help=help_text,
                                                    key=f"s_{f.name}"))
    st.subheader("Detector weights")
    st.caption(docs.get("signal_weights", "Weight of each detector in the suspicion score; 0 switches it off."))
    weights = {}
    wcols = st.columns(4)
    for i, (name, w) in enumerate(sorted(current.signal_weights.items())):
        weights[name] = float(wcols[i % 4].number_input(name, value=float(w), min_value=0.0, step=0.1,
                                                        format="%.2f", key=f"s_w_{name}"))
    b1, b2, _ = st.columns([1, 1.4, 3])
    save = b1.form_submit_button("Save settings", icon=":material/save:")
    go = b2.form_submit_button("Save and re-analyse", type="primary", icon=":material/play_arrow:")

if save or go:
    if state.need_actor(c, "settings change and analysis"):
        try:
            new = TrustSettings.from_dict({**values, "method": method, "signal_weights": weights})
            from analytics.pipeline import save_project_settings

            with state.write_workspace(c.ws, create=False) as ws:
                save_project_settings(ws, c.project, new)
        except UserError as exc:
            st.error(str(exc))
            st.stop()
        if go:
            state.run_analysis(c, settings=new, method=method)
        else:
            st.session_state["_flash"] = "Settings saved. They apply from the next analysis run."
            st.rerun()

st.divider()
left, right = st.columns([1, 2])
with left:
    st.markdown("**Re-analyse with the saved settings**")
    force = st.checkbox("Recompute even if nothing changed", key="s_force",
                        help="A run with the same data and settings is normally reused.")
    state.analyze_button(c, label="Re-analyse now", key="settings_analyze", force=force)
with right:
    st.markdown("**Analysis runs of this project**")
    st.dataframe(state.q("runs", c.project_id, 20), hide_index=True, width="stretch", column_config={
        "started_at": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "finished_at": st.column_config.DatetimeColumn("finished (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "duration_s": st.column_config.NumberColumn("seconds", format="%.1f")})

st.divider()
monitor_ui.alert_rules_form(c)
