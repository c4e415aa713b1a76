"""Settings: aggregation model, detector thresholds and weights, and re-analysis with progress."""

import streamlit as st

from analytics import pipeline, results
from analytics.aggregate import MODELS
from analytics.behaviour import DETECTORS
from analytics.errors import UserError
from analytics.ingest import kinds
from analytics.results import fmt_interval
from analytics.settings import AnalysisSettings
from app import monitor_ui, state
from app.settings_form import field_docs, field_inputs

c = state.require_workspace("Settings")

# The current results stay on screen while a new analysis runs below them.
with st.container(border=True):
    if c.run_id is None:
        st.markdown("**Current results:** none yet. Save settings and analyse below.")
    else:
        run = state.read(results.run_summary, c.run_id)
        head = state.read(results.headline, c.run_id, c.project_id)
        v = head["workers_by_verdict"]
        st.markdown(
            f"**Current results:** run {c.run_id} · model **{run['method']}** · finished "
            f"{run['finished_at']:%Y-%m-%d %H:%M} UTC in {run['duration_s'] or 0:.1f} s · "
            f"α {fmt_interval(run['alpha'], run['alpha_lo'], run['alpha_hi'])} · "
            f"{v['suspect'] + v['banned']} suspect workers · {head['items_at_risk']:,} items at risk")
        st.caption("These results stay the ones every page shows until a new run completes.")

current: AnalysisSettings = state.read(pipeline.project_settings, c.project_id)
trust = current.trust
st.caption("Every setting of the analysis, in four groups. The same settings can be given to the command "
           "line as a TOML or JSON file (`--settings FILE`, groups `[trust]`, `[reliability]`, "
           "`[behaviour.<detector>]`, `[collusion]`); every run records the settings it used.")

admin = c.can("settings")
if not admin:
    st.info("Only an admin changes the analysis settings; these are the values in force. You can re-analyse with "
            "them below.", icon=":material/lock:")
    with st.expander("Settings in force"):
        st.json(current.to_dict(), expanded=1)

if admin:
    with st.form("settings_form"):
        st.subheader("Aggregation model")
        methods = list(MODELS)
        method = st.radio("Model", methods, index=methods.index(trust.method) if trust.method in methods else 0,
                          format_func=lambda m: f"{m} — {MODELS[m]}", key="s_method")
        evidence_method = st.selectbox(
            "Reference of the evidence (worker reliability, behaviour and collusion detectors)", methods,
            index=methods.index(trust.evidence_method) if trust.evidence_method in methods else 0,
            key="s_evidence_method",
            help="Dawid-Skene by default: its per-worker matrices are not shrunk towards the crowd, so a swarm "
                 "of low-volume accounts cannot hide behind the crowd's average.")
        kind, _ = state.read(kinds.project_kind, c.project_id)
        if kind == "item-specific":
            st.caption("This project's answers are worded per item: it is always analysed with the one-coin model "
                       "on per-item options (models with shared classes have nothing to estimate here).")
        elif kind == "multilabel":
            st.caption("This project's answers are multi-select: the model runs on each option as a yes/no judgement.")
        st.subheader("Verdict")
        trust_values = field_inputs(trust, "s_trust", skip=("method", "evidence_method"))
        with st.expander("Detector weights in the suspicion score (0 switches a signal off)"):
            st.caption(field_docs(type(trust)).get("signal_weights", ""))
            weights = {}
            wcols = st.columns(4)
            for i, (name, w) in enumerate(sorted(trust.signal_weights.items())):
                weights[name] = float(wcols[i % 4].number_input(name, value=float(w), min_value=0.0, step=0.1,
                                                                format="%.2f", key=f"s_w_{name}"))
        with st.expander("Worker reliability and gold"):
            reliability_values = field_inputs(current.reliability, "s_rel")
        with st.expander("Behaviour detectors"):
            enabled = st.multiselect("Detectors to run", list(DETECTORS), default=list(current.behaviour.enabled),
                                     key="s_beh_enabled")
            behaviour_values: dict = {"enabled": enabled}
            for name in DETECTORS:
                st.markdown(f"**{name}**")
                behaviour_values[name] = field_inputs(getattr(current.behaviour, name), f"s_beh_{name}")
        with st.expander("Collusion detector"):
            collusion_values = field_inputs(current.collusion, "s_col")
        b1, b2, _ = st.columns([1, 1.4, 3])
        save = b1.form_submit_button("Save settings", icon=":material/save:")
        go = b2.form_submit_button("Save and re-analyse", type="primary", icon=":material/play_arrow:")

    if save or go:
        if state.need_actor(c, "settings change and analysis"):
            try:
                new = AnalysisSettings.from_dict({
                    "trust": {**trust.to_dict(), **trust_values, "method": method, "evidence_method": evidence_method,
                              "signal_weights": weights},
                    "reliability": reliability_values,
                    "behaviour": behaviour_values,
                    "collusion": collusion_values,
                })
                from analytics.pipeline import save_project_settings

                with state.write_workspace(c.ws, create=False) as ws:
                    save_project_settings(ws, c.project, new, c.actor)
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
    st.dataframe(state.read(results.runs, c.project_id, 20), hide_index=True, width="stretch", column_config={
        "started_at": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "finished_at": st.column_config.DatetimeColumn("finished (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "duration_s": st.column_config.NumberColumn("seconds", format="%.1f")})

st.divider()
monitor_ui.alert_rules_form(c)
