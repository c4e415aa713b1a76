"""Monitoring: quality per day, week or ingest batch, with the alert thresholds drawn; the alerts,
their evidence, acknowledgement, and opening an incident from one."""

import streamlit as st

from analytics.monitor import alerts as monitor_alerts
from analytics.monitor import charts
from analytics.monitor import view as monitor_view
from app import monitor_ui, state

c = state.require_workspace("Monitoring")

tl = state.read(monitor_view.timeline, c.project_id)
settings = state.read(monitor_alerts.load_settings, c.project_id)
alerts = state.read(monitor_alerts.list_alerts, c.project_id)
if tl.empty:
    st.info("This project has no labels yet: load a file on the Data page.")
    st.stop()

unit = tl.attrs["unit"]
unit_text = {"day": "per day", "week": "per week (Monday to Sunday, UTC)",
             "ingest": "per ingest batch (the labels carry no timestamps)"}[unit]
st.caption(f"{len(tl)} periods {unit_text} · "
           + (f"suspect shares from analysis run {tl.attrs['run_id']}" if tl.attrs["run_id"] is not None
              else "not analysed yet: suspect shares and early quality appear after an analysis")
           + f" · each period is compared with the {settings.baseline_periods} periods with data before it. "
             "Thresholds and rules are on the Settings page.")

open_alerts = alerts[alerts["status"] == "open"]
m = st.columns(5)
last = tl.iloc[-1]
m[0].metric("Open alerts", len(open_alerts), help="Alerts nobody has acknowledged or opened an incident for.")
m[1].metric("Alerts in total", len(alerts))
m[2].metric(f"Labels in the last period ({last['name']})", f"{int(last['labels']):,}")
m[3].metric("New workers in it", int(last["new_workers"]))
share = last.get("suspect_label_share")
m[4].metric("Labels from suspects in it", "—" if share is None or share != share else f"{share:.1%}")

# -- alerts ----------------------------------------------------------------------------------
st.subheader("Alerts")
if alerts.empty:
    st.success("No alert has been raised for this project.", icon=":material/check_circle:")
else:
    table = alerts[["alert_id", "severity", "status", "rule", "period_name", "raised_at", "n_workers", "message"]]
    st.dataframe(table, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 280),
                 column_config={"alert_id": "alert", "period_name": "period", "n_workers": "workers named",
                                "raised_at": st.column_config.DatetimeColumn("raised (UTC)",
                                                                             format="YYYY-MM-DD HH:mm"),
                                "message": st.column_config.TextColumn("what changed", width="large")})
    ids = alerts["alert_id"].astype(int).tolist()
    chosen = st.selectbox("Alert", ids, key="mon_alert", format_func=lambda a: (
        f"alert {a} · " + alerts.loc[alerts["alert_id"] == a, "rule"].iloc[0] + " · "
        + str(alerts.loc[alerts["alert_id"] == a, "period_name"].iloc[0])))
    a = state.read(monitor_alerts.get_alert, c.project_id, int(chosen))
    with st.container(border=True):
        st.markdown(f"**Alert {a['alert_id']}** · {a['severity']} · {a['status']}"
                    + (f" by {a['acked_by']} ({a['ack_note']})" if a["status"] == "acknowledged" else ""))
        st.write(a["message"])
        ev = a["evidence"]
        cols = st.columns(4)
        cols[0].metric("Value", "—" if a["value"] is None else f"{a['value']:.3g}")
        cols[1].metric("Threshold", "—" if a["threshold"] is None else f"{a['threshold']:.3g}")
        p = ev.get("p_value")
        cols[2].metric("p-value", "—" if p is None else f"{p:.1g}")
        cols[3].metric("Workers named", ev.get("n_workers", len(a["workers"])))
        if ev.get("workers"):
            st.dataframe(ev["workers"], hide_index=True, width="stretch", height=220)
        with st.expander("Full evidence"):
            st.json({k: v for k, v in ev.items() if k != "workers"}, expanded=1)
        b = st.columns([1, 2])
        with b[0]:
            monitor_ui.open_incident_button(c, [int(a["alert_id"])], key=f"a{a['alert_id']}",
                                            label="Open an incident from this alert")
        if a["status"] == "open":
            with b[1]:
                monitor_ui.acknowledge_form(c, int(a["alert_id"]), key=str(a["alert_id"]))

# -- charts ----------------------------------------------------------------------------------
st.subheader("Quality over time")
left, right = st.columns(2)
left.plotly_chart(monitor_ui.figure(charts.suspect_chart(tl)), key="mon_suspect")
right.plotly_chart(monitor_ui.figure(charts.new_workers_chart(tl)), key="mon_new")
left, right = st.columns(2)
left.plotly_chart(monitor_ui.figure(charts.gold_chart(tl)), key="mon_gold")
right.plotly_chart(monitor_ui.figure(charts.agreement_chart(tl)), key="mon_agree")
left, right = st.columns(2)
left.plotly_chart(monitor_ui.figure(charts.drift_chart(tl, settings.drift_min_tv)), key="mon_drift")
right.plotly_chart(monitor_ui.figure(charts.label_mix_chart(tl)), key="mon_mix")
st.plotly_chart(monitor_ui.figure(charts.throughput_chart(tl)), key="mon_throughput")

with st.expander("The numbers per period"):
    from analytics.monitor.view import summary_table

    st.dataframe(summary_table(tl), hide_index=True, width="stretch")
