"""Widgets shared by the Monitoring, Incidents, Overview and Settings pages: the open-alerts box,
acknowledging an alert, opening an incident from one, and the alert-rules form."""

from __future__ import annotations

import dataclasses

import streamlit as st

from analytics.errors import UserError
from analytics.monitor import alerts as monitor_alerts
from app import state


def figure(spec: dict):
    """A plotly figure from a figure spec of :mod:`analytics.monitor.charts`."""
    import plotly.graph_objects as go

    return go.Figure(spec)


def open_alerts_box(c: state.Ctx, limit: int = 3) -> None:
    """The project's open alerts (or, when all are handled, the latest ones) with a link to Monitoring."""
    alerts = state.read(monitor_alerts.list_alerts, c.project_id)
    if alerts.empty:
        return
    open_ = alerts[alerts["status"] == "open"]
    shown = open_ if len(open_) else alerts
    with st.container(border=True):
        if len(open_):
            st.markdown(f"**:red[{len(open_)} open alert{'s' if len(open_) != 1 else ''}]** · quality changed in a "
                        "recent period and nobody has handled it yet")
        else:
            st.markdown(f"**Alerts** · {len(alerts)} raised, all acknowledged or handled in an incident")
        for a in shown.head(limit).itertuples(index=False):
            tag = ":red[**critical**]" if a.severity == "critical" else ":orange[**warning**]"
            status = "" if a.status == "open" else f" · {a.status}" + (f" ({a.ack_note})" if a.ack_note else "")
            st.markdown(f"{tag} **Alert {a.alert_id}** ({a.rule}, {a.period_name}{status}): {a.message}")
        b = st.columns(2)
        with b[0]:
            state.link("views/monitoring.py", "Review the alerts on Monitoring", icon=":material/monitoring:")
        with b[1]:
            state.link("views/incidents.py", "Incidents", icon=":material/emergency:")


def acknowledge_form(c: state.Ctx, alert_id: int, key: str) -> None:
    """Acknowledge with a note (analysts and up; others see who may)."""
    if not c.can("alerts"):
        st.caption("An analyst, manager or admin acknowledges alerts.")
        return
    with st.form(f"ack_{key}", border=False):
        note = st.text_input("Note (kept in the audit log)", key=f"ack_note_{key}",
                             placeholder="e.g. expected: a new batch of harder items")
        if st.form_submit_button("Acknowledge", icon=":material/done:") and state.need_actor(c, "acknowledgement"):
            from analytics.monitor.alerts import acknowledge

            try:
                with state.write_workspace(c.ws, create=False) as ws:
                    ev = acknowledge(ws, c.project, alert_id, c.actor, note)
            except UserError as exc:
                st.error(str(exc))
            else:
                st.session_state["_flash"] = f"Alert {alert_id} acknowledged (audit entry {ev['audit']['seq']})."
                st.rerun()


def open_incident_button(c: state.Ctx, alert_ids: list[int], key: str, label: str = "Open an incident") -> None:
    """Open an incident from alerts and go to the Incidents page (managers and admins)."""
    if not c.can("incident"):
        return
    if st.button(label, key=f"open_inc_{key}", type="primary", icon=":material/emergency:"):
        if not state.need_actor(c, "incident"):
            return
        from analytics.incidents.records import open_incident

        try:
            with state.write_workspace(c.ws, create=False) as ws:
                iid = open_incident(ws, c.project, c.actor, alert_ids=alert_ids)
        except UserError as exc:
            st.error(str(exc))
            return
        st.session_state["incident_selected"] = iid
        st.session_state["_flash"] = f"Incident {iid} opened from alert {', '.join(map(str, alert_ids))}."
        try:
            st.switch_page("views/incidents.py")
        except Exception:  # noqa: BLE001  (page not registered, e.g. in a page-level test)
            st.rerun()


def alert_rules_form(c: state.Ctx) -> None:
    """The project's alert rules with their documented defaults, saved with an audit entry."""
    from analytics.monitor.rules import RULE_TITLES, RULES, AlertSettings
    from app.settings_form import field_docs

    current = state.read(monitor_alerts.load_settings, c.project_id)
    docs = field_docs(AlertSettings)
    defaults = AlertSettings()
    st.subheader("Alert rules")
    st.caption("Evaluated after every ingest and analysis on the periods that changed; each rule compares a period "
               "with the project's own recent periods. New alerts show on Overview and Monitoring and are appended "
               "to the pager file as JSON lines.")
    if not c.can("settings"):
        st.info("Only an admin changes the alert rules; these are the rules in force.", icon=":material/lock:")
        with st.expander("Alert rules in force"):
            st.json(current.to_dict(), expanded=1)
        return
    with st.form("alert_rules_form"):
        enabled = st.multiselect("Rules switched on", list(RULES), default=[r for r in current.enabled_rules],
                                 format_func=lambda r: f"{r} — {RULE_TITLES[r]}", key="ar_enabled")
        values = {}
        cols = st.columns(2)
        fields = [f for f in dataclasses.fields(AlertSettings) if f.name not in ("enabled_rules",)]
        for i, f in enumerate(fields):
            val, default = getattr(current, f.name), getattr(defaults, f.name)
            doc = docs.get(f.name, f.name)
            label = f"{f.name} (default {default!r})"
            col = cols[i % 2]
            if isinstance(default, bool):
                values[f.name] = col.checkbox(label, value=val, help=doc, key=f"ar_{f.name}")
            elif isinstance(default, int):
                values[f.name] = int(col.number_input(label, value=int(val), step=1, help=doc, key=f"ar_{f.name}"))
            elif isinstance(default, float):
                values[f.name] = float(col.number_input(label, value=float(val), step=0.01, format="%.4f", help=doc,
                                                        key=f"ar_{f.name}"))
            else:
                values[f.name] = col.text_input(label, value=str(val), help=doc, key=f"ar_{f.name}")
        b = st.columns([1, 1, 3])
        save = b[0].form_submit_button("Save alert rules", icon=":material/save:")
        reset = b[1].form_submit_button("Restore defaults", icon=":material/restart_alt:")
    if (save or reset) and state.need_actor(c, "alert rules change"):
        from analytics.monitor.alerts import save_settings

        try:
            new = AlertSettings() if reset else AlertSettings.from_dict({**values, "enabled_rules": enabled})
            with state.write_workspace(c.ws, create=False) as ws:
                save_settings(ws, c.project, new, c.actor)
        except UserError as exc:
            st.error(str(exc))
        else:
            st.session_state["_flash"] = ("Alert rules restored to their defaults." if reset else "Alert rules saved.") + \
                " They apply to the periods the next ingest or analysis changes."
            st.rerun()
