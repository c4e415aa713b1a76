"""Incidents: open from alerts or suspects, scope, contain (ban with the impact preview), repair
(re-queue, re-aggregate, corrected exports with diffs), close with a review note, and the report."""

from pathlib import Path

import pandas as pd
import streamlit as st

from analytics import actions
from analytics.errors import UserError
from analytics.incidents import records as inc_records
from analytics.incidents import report as inc_report
from analytics.incidents import response as inc_response
from analytics.incidents import scope as inc_scope
from analytics.incidents.response import read_output
from analytics.monitor import alerts as monitor_alerts
from analytics.monitor import charts
from app import monitor_ui, state

c = state.require_workspace("Incidents")

incidents = state.read(inc_records.list_incidents, c.project_id)


def open_form() -> None:
    """Open an incident from alerts and/or suspects (managers and admins)."""
    with st.expander("Open a new incident", expanded=incidents.empty):
        open_alerts = state.read(monitor_alerts.list_alerts, c.project_id, "open")
        alert_ids = st.multiselect("From alerts", open_alerts["alert_id"].astype(int).tolist(), key="inc_new_alerts",
                                   format_func=lambda a: f"alert {a} · " + str(
                                       open_alerts.loc[open_alerts["alert_id"] == a, "message"].iloc[0])[:90],
                                   help="The alerts' named workers start the incident; other open alerts of the same "
                                        "periods join it.")
        suspects = []
        if c.run_id is not None:
            q = state.read(actions.review_queue, c.project_id, c.run_id)
            suspects = q.loc[q["suspect"] & (q["status"] != "banned"), "worker"].tolist()
        chosen = st.multiselect("…and/or suspect workers", suspects, key="inc_new_workers")
        typed = st.text_input("…or worker ids (comma separated)", key="inc_new_typed")
        cols = st.columns([3, 1])
        title = cols[0].text_input("Title", key="inc_new_title", placeholder="default: from the alert")
        severity = cols[1].selectbox("Severity", ["default", "low", "medium", "high", "critical"], key="inc_new_sev")
        if st.button("Open incident", key="inc_open", type="primary", icon=":material/emergency:"):
            workers = sorted(set(chosen) | {t.strip() for t in typed.split(",") if t.strip()})
            if state.need_actor(c, "incident"):
                from analytics.incidents.records import open_incident

                try:
                    with state.write_workspace(c.ws, create=False) as ws:
                        iid = open_incident(ws, c.project, c.actor, alert_ids=alert_ids, workers=workers,
                                            title=title or None, severity=None if severity == "default" else severity)
                except UserError as exc:
                    st.error(str(exc))
                else:
                    st.session_state["incident_selected"] = iid
                    st.session_state["_flash"] = f"Incident {iid} opened."
                    st.rerun()


# -- open --------------------------------------------------------------------------------------
acting = c.can("incident")          # managers and admins act; everyone reads
if acting:
    open_form()
else:
    st.info(f"Your role ({getattr(c.actor, 'role', 'not signed in')}) can read the incidents and their reports; a "
            "manager or admin opens, contains, repairs and closes them.", icon=":material/visibility:")

if incidents.empty:
    st.info("No incidents in this project." + (" Open one from an alert on the Monitoring page or from suspects above."
                                               if acting else ""))
    st.stop()

st.dataframe(incidents[["incident_id", "status", "severity", "title", "workers", "alert_ids", "opened_at",
                        "opened_by", "closed_at"]], hide_index=True, width="stretch",
             height=min(38 + 35 * len(incidents), 220),
             column_config={"incident_id": "incident", "alert_ids": "alerts",
                            "opened_at": st.column_config.DatetimeColumn("opened (UTC)", format="YYYY-MM-DD HH:mm"),
                            "closed_at": st.column_config.DatetimeColumn("closed (UTC)", format="YYYY-MM-DD HH:mm")})
ids = incidents["incident_id"].astype(int).tolist()
want = st.session_state.get("incident_selected")
iid = st.selectbox("Incident", ids, index=ids.index(want) if want in ids else 0, key="inc_pick",
                   format_func=lambda i: f"incident {i} · " + str(incidents.loc[incidents["incident_id"] == i,
                                                                                  "title"].iloc[0]))
st.session_state["incident_selected"] = iid
inc = state.read(inc_records.get_incident, c.project_id, iid)
scope = state.read(inc_scope.scope_of, str(c.ws), c.project_id, iid)
wt = scope["workers"]

st.markdown(f"### Incident {iid}: {inc['title']}")
st.caption(f"{inc['severity']} · **{inc['status']}** · opened {pd.Timestamp(inc['opened_at']):%Y-%m-%d %H:%M} UTC by "
           f"{inc['opened_by']}" + (f" · alerts {', '.join(map(str, inc['alerts']))}" if inc["alerts"] else "")
           + (f" · closed by {inc['closed_by']}: {inc['close_note']}" if inc["status"] == "closed" else ""))
m = st.columns(5)
m[0].metric("Workers", len(wt), help=f"{int(wt['banned'].sum())} banned")
m[1].metric("Items", f"{scope['n_items']:,}")
m[2].metric("Labels", f"{scope['n_labels']:,}", help=f"{scope['n_labels_from_onset']:,} from the onset on")
m[3].metric("Estimated onset", "—" if scope["onset"] is None else f"{scope['onset']:%b %d}",
            help=(f"{scope['onset']:%Y-%m-%d %H:%M:%S} UTC. " if scope["onset"] is not None else "")
            + f"Earliest suspicious label (worker {scope['onset_worker']}): a drift change point or burst window "
              "where the detectors found one, else the worker's first label (in the alert's period for an "
              "established account).")
m[4].metric("Affected exports", len(scope["affected_exports"]),
            help="Delivered labels/items exports whose data held the incident's workers' labels.")

tabs = st.tabs(["Scope", "Contain", "Repair", "Close", "Report"])

with tabs[0]:
    if scope["onset"] is not None:
        st.caption(f"Estimated onset {scope['onset']:%Y-%m-%d %H:%M:%S} UTC (worker {scope['onset_worker']}).")
    act = state.read(inc_scope.activity, c.project_id, iid)
    st.plotly_chart(monitor_ui.figure(charts.incident_activity_chart(act, scope["onset"], act.attrs.get("unit", "day"))),
                    key="inc_activity")
    st.markdown("**Workers**")
    st.dataframe(wt, hide_index=True, width="stretch", height=min(38 + 35 * len(wt), 320),
                 column_config={"trust": st.column_config.NumberColumn(format="%.2f"),
                                "first_at": st.column_config.DatetimeColumn("first label", format="YYYY-MM-DD HH:mm"),
                                "last_at": st.column_config.DatetimeColumn("last label", format="YYYY-MM-DD HH:mm"),
                                "onset": st.column_config.DatetimeColumn("onset", format="YYYY-MM-DD HH:mm")})
    st.markdown("**Affected delivered exports**")
    if scope["affected_exports"]:
        st.dataframe(pd.DataFrame(scope["affected_exports"])[
            ["file", "sha256", "exported_at", "exported_by", "kind", "rows", "incident_labels", "labels_would_change"]],
            hide_index=True, width="stretch",
            column_config={"labels_would_change": "labels that would change", "incident_labels": "their labels in it"})
    else:
        st.caption("No delivered labels or items export held these workers' labels.")

with tabs[1]:
    todo = wt.loc[~wt["banned"], "worker"].tolist()
    if not todo:
        st.success(f"All {len(wt)} workers of the incident are banned.", icon=":material/block:")
    elif inc["status"] == "closed":
        st.info("The incident is closed.")
    else:
        try:
            preview = state.read(inc_response.contain_preview, c.project_id, tuple(inc["workers"]))
        except UserError as exc:
            st.error(str(exc))
            preview = None
        if preview is not None:
            s = preview.summary()
            st.markdown(f"**Impact of banning the {len(preview.workers)} workers not banned yet** "
                        f"(one-step preview, {s['method']})")
            p = st.columns(4)
            p[0].metric("Labels removed", f"{s['n_labels_removed']:,}", help=f"on {s['n_tasks_touched']:,} items")
            p[1].metric("Aggregated labels that change", f"{s['n_labels_changed']:,}")
            p[2].metric(f"Items below {s['min_trusted_labels']} trusted labels", f"{s['n_below_min']:,}",
                        help="re-queued by the repair")
            g = s["gold"]
            p[3].metric("Accuracy on gold", "no gold" if not g else f"{g['acc_after']:.1%}",
                        delta=None if not g else f"{g['delta']:+.1%}")
            if len(preview.changed):
                st.dataframe(preview.changed.head(300), hide_index=True, width="stretch", height=200)
            if acting and st.button(f"Ban {len(preview.workers)} workers", key="inc_contain", type="primary",
                                    icon=":material/block:") and state.need_actor(c, "containment"):
                from analytics.incidents.response import contain

                try:
                    with state.write_workspace(c.ws, create=False) as ws:
                        res = contain(ws, c.project, iid, c.actor)
                except UserError as exc:
                    st.error(str(exc))
                else:
                    st.session_state["_flash"] = (f"Incident {iid} contained: {len(res['banned'])} workers banned "
                                                  f"(audit entries {res['ban_seqs'][0]}-{res['ban_seqs'][-1]}).")
                    st.rerun()

with tabs[2]:
    st.caption("Re-queues the items left without enough trusted labels, re-analyses without the banned workers, and "
               "writes a corrected export for every affected delivered one, with a diff.")
    if inc["corrected_exports"]:
        for ce in inc["corrected_exports"]:
            with st.container(border=True):
                st.markdown(f"**{ce['file']}** · replaces `{(ce.get('replaces') or {}).get('file')}` · "
                            f"{ce.get('labels_changed')} labels changed, {ce.get('labels_removed')} removed · "
                            f"SHA-256 `{ce['sha256'][:16]}…` · audit entry {ce['audit_seq']}")
                d = st.columns(2)
                data = read_output(c.ws, ce["path"])
                if data is not None:
                    d[0].download_button("Corrected file", data, file_name=Path(ce["path"]).name,
                                         key=f"dl_{ce['file']}", icon=":material/download:", on_click="ignore")
                diff = read_output(c.ws, ce["diff_file"]) if ce.get("diff_file") else None
                if diff is not None:
                    d[1].download_button("Diff", diff, file_name=Path(ce["diff_file"]).name,
                                         key=f"dldiff_{ce['file']}", icon=":material/difference:", on_click="ignore")
        st.caption(f"{len(inc['requeued'])} items re-queued (export them on the Export page, kind requeue).")
    unbanned = bool(wt.loc[~wt["banned"]].shape[0])
    blocked = unbanned or inc["status"] in ("closed", "repaired")
    why = ("Contain the incident first." if unbanned else
           f"The incident is {inc['status']}; attach new workers to repair again." if blocked else None)
    if acting and st.button("Repair", key="inc_repair", type="primary", disabled=blocked, icon=":material/healing:",
                            help=why) and state.need_actor(c, "repair"):
        from analytics.incidents.response import repair

        with st.status(f"Repairing incident {iid}…", expanded=True) as status:
            bar = st.progress(0.0, text="starting")
            try:
                with state.write_workspace(c.ws, create=False) as ws:
                    res = repair(ws, c.project, iid, c.actor,
                                 progress=lambda f, msg: bar.progress(min(max(float(f), 0.0), 1.0), text=msg))
            except UserError as exc:
                status.update(label=f"Repair stopped: {exc}", state="error")
                st.error(str(exc))
            else:
                status.update(label="Repaired", state="complete", expanded=False)
                st.session_state["_flash"] = (f"Incident {iid} repaired: {len(res['requeued'])} items re-queued, run "
                                              f"{res['run_id']}, {len(res['corrected_exports'])} corrected exports.")
                st.rerun()

with tabs[3]:
    if inc["status"] == "closed":
        st.success(f"Closed by {inc['closed_by']}: {inc['close_note']}")
    elif not acting:
        st.caption("A manager or admin closes the incident with a review note.")
    else:
        with st.form("inc_close_form"):
            note = st.text_area("Review note (required)", key="inc_close_note",
                                placeholder="what happened, what was done, what changes now")
            if st.form_submit_button("Close incident", icon=":material/task_alt:") and state.need_actor(c, "closing"):
                from analytics.incidents.records import close_incident

                try:
                    with state.write_workspace(c.ws, create=False) as ws:
                        close_incident(ws, c.project, iid, c.actor, note)
                except UserError as exc:
                    st.error(str(exc))
                else:
                    st.session_state["_flash"] = f"Incident {iid} closed."
                    st.rerun()

with tabs[4]:
    st.caption("A self-contained HTML report (charts embedded, readable offline) and the same content as JSON, with "
               "the audit chain's range and head hash and the fields of a MITRE ATLAS case study.")
    r = st.columns(2)
    for col, fmt, mime in ((r[0], "html", "text/html"), (r[1], "json", "application/json")):
        with col:
            if st.button(f"Build the {fmt.upper()} report", key=f"inc_rep_{fmt}", icon=":material/summarize:"):
                with st.spinner("Building the report…"):
                    st.session_state[f"inc_report_{fmt}"] = (iid, state.read(inc_report.report_bytes, str(c.ws),
                                                                           c.project, c.project_id, iid, fmt))
            ready = st.session_state.get(f"inc_report_{fmt}")
            if ready and ready[0] == iid:
                st.download_button(f"Download incident_{iid}.{fmt}", ready[1], file_name=f"incident_{iid}.{fmt}",
                                   mime=mime, key=f"inc_dl_{fmt}", type="primary", icon=":material/download:",
                                   on_click="ignore")
    steps = pd.DataFrame(inc["steps"])
    if len(steps):
        st.markdown("**Steps in the audit chain**")
        st.dataframe(steps, hide_index=True, width="stretch")
