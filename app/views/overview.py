"""Overview: headline numbers of the project's latest analysis, labels over time, trust, what changed,
and the workspace's projects and ingest history."""

import pandas as pd
import streamlit as st

from analytics import results
from analytics.results import fmt_interval
from app import charts, monitor_ui, state

c = state.require_workspace("Overview")
monitor_ui.open_alerts_box(c)

stats = state.read(results.project_stats, c.project_id)


def workspace_section() -> None:
    st.subheader("Workspace")
    projects = state.read(results.projects).copy()
    projects["latest_run"] = [("—" if pd.isna(r) else f"{int(r)}") for r in projects["latest_run"]]
    for col in ("first_at", "last_at"):                   # a project without timestamps says so, not "None"
        projects[col] = [("no times" if pd.isna(t) else pd.Timestamp(t).strftime("%Y-%m-%d %H:%M"))
                         for t in projects[col]]
    st.dataframe(
        projects.drop(columns=["project_id"]), hide_index=True, width="stretch",
        column_config={
            "name": "project", "labels": st.column_config.NumberColumn("labels", format="%d"),
            "gold": st.column_config.NumberColumn("gold items", format="%d"),
            "first_at": st.column_config.TextColumn("first label (UTC)"),
            "last_at": st.column_config.TextColumn("last label (UTC)"),
            "latest_run": st.column_config.TextColumn("latest run"),
            "kind": st.column_config.TextColumn("answers", help="single choice, multilabel (analysed per option) "
                                                "or item-specific (answers worded per item)"),
            "created_at": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm"),
        })
    hist = state.read(results.ingest_history, None, 20)
    st.markdown("**Ingest history** (newest first; details and quarantined rows on the Data page)")
    if hist.empty:
        st.caption("Nothing ingested yet.")
    else:
        st.dataframe(
            hist[["ingest_id", "project", "file_name", "format", "rows_read", "rows_loaded", "rows_quarantined",
                  "rows_duplicate", "actor", "loaded_at"]], hide_index=True, width="stretch",
            column_config={
                "ingest_id": "ingest", "file_name": "file", "rows_read": "rows read", "rows_loaded": "loaded",
                "rows_quarantined": "quarantined", "rows_duplicate": "duplicates", "actor": "by",
                "loaded_at": st.column_config.DatetimeColumn("when (UTC)", format="YYYY-MM-DD HH:mm")})


if c.run_id is None:
    m = st.columns(4)
    m[0].metric("Labels", f"{stats['labels']:,}")
    m[1].metric("Workers", f"{stats['workers']:,}")
    m[2].metric("Items", f"{stats['tasks']:,}")
    m[3].metric("Gold items", f"{stats['gold']:,}")
    running = state.read(results.running_run, c.project_id)
    if running:
        st.info(f"An analysis of **{c.project}** is running (started {running['started_at']:%H:%M} UTC). "
                "Reload when it finishes.")
    else:
        st.info("This project has not been analysed yet: trust scores, suspects and charts appear after one run.")
        state.analyze_button(c, label="Analyse this project now", key="overview_analyze")
    workspace_section()
    st.stop()

run = state.read(results.run_summary, c.run_id)
head = state.read(results.headline, c.run_id, c.project_id)
verdicts = head["workers_by_verdict"]
kind = run["summary"].get("answer_kind", "single")
aud = state.read(results.audit_status, str(c.ws), c.project_id)
last = aud["last"]
line = (f"{aud['entries']:,} entries" + (f"; last: {last[0]} {last[1] or ''} by {last[2]} "
                                          f"{last[3]:%Y-%m-%d %H:%M} UTC" if last else "")
        + f"; {aud['bans']} bans and {aud['requeues']} re-queues recorded in this project")
if not aud["ok"]:
    st.error(f"Audit log BROKEN at entry {aud['first_bad']}: {aud['message']}", icon=":material/gpp_bad:")
elif aud["warning"]:
    st.warning(f"Audit log chain intact ({line}), but {aud['warning']}.", icon=":material/warning:")
else:
    st.caption(f":material/verified: Audit log intact: {line}.")
st.caption(f"Analysis run {c.run_id} · model **{run['method']}**"
           + {"multilabel": " · multi-select answers, analysed per option",
              "item-specific": " · answers worded per item, analysed with per-item options"}.get(kind, "")
           + " · finished "
           f"{run['finished_at']:%Y-%m-%d %H:%M} UTC · {stats['events']:,} events ingested"
           + (f" · {stats['first_at']:%Y-%m-%d} to {stats['last_at']:%Y-%m-%d}" if stats["first_at"] else ""))

m = st.columns(7)
m[0].metric("Answers" if kind == "multilabel" else "Labels", f"{stats['labels']:,}",
            help="Final answers: the latest answer of each worker on each item.")
m[1].metric("Workers", f"{stats['workers']:,}")
m[2].metric("Items", f"{stats['tasks']:,}")
acc = run["accuracy"]
measured = run["accuracy_kind"] == "on gold items"
m[3].metric("Label accuracy" if measured else "Est. accuracy", "—" if acc is None else f"{acc:.1%}",
            help="Measured on the gold items." if measured else
            f"No gold answers to measure it: this is an estimate ({run['accuracy_kind']}), not a measurement.")
m[4].metric("Krippendorff's α", fmt_interval(run["alpha"], None, None),
            help="Chance-corrected agreement between workers (1 = perfect, 0 = chance)."
            + (f" 95% interval {fmt_interval(run['alpha'], run['alpha_lo'], run['alpha_hi'])}."
               if run["alpha_lo"] is not None else ""))
m[5].metric("Suspect workers", f"{verdicts['suspect'] + verdicts['banned']:,}",
            help=f"{verdicts['suspect']} suspect, {verdicts['banned']} banned, {verdicts['watch']} on watch "
                 "(a detector fired but the evidence is not conclusive).")
m[6].metric("Items at risk", f"{head['items_at_risk']:,}",
            help="Items whose consensus depends on suspect workers or has too few trusted labels.")
summary = run["summary"]
if summary.get("crowd_wide_note"):
    st.info(summary["crowd_wide_note"][0].upper() + summary["crowd_wide_note"][1:], icon=":material/groups:")
if (summary.get("rescore") or {}).get("skipped"):
    st.info("The second scoring pass was skipped: " + summary["rescore"]["skipped"] + ".", icon=":material/info:")
if summary.get("n_low_quality_workers"):
    st.caption(f"{summary['n_low_quality_workers']:,} workers are marked low quality: weaker answers than most, "
               "recommended for review, not suspected of an attack (Workers page, 'low quality').")
if run["alpha_lo"] is not None:
    st.caption(f"Krippendorff's α with 95% interval: {fmt_interval(run['alpha'], run['alpha_lo'], run['alpha_hi'])}"
               + (f" · {run['kappa_name']} {fmt_interval(run['kappa'], run['kappa_lo'], run['kappa_hi'])}"
                  if run["kappa"] is not None else ""))

left, right = st.columns([3, 2])
with left:
    if stats["has_time"]:
        st.plotly_chart(charts.labels_over_time(state.read(results.labels_over_time, c.run_id, c.project_id)),
                        key="labels_time")
    else:
        st.info("No timestamps in this project: the labels-over-time chart and the timing detectors "
                "(bursts, co-timing) are off; drift is followed in the order of the file instead of in time. "
                "Ingest a file with submit times to switch them on.")
with right:
    st.plotly_chart(charts.trust_histogram(state.read(results.trust_histogram, c.run_id, c.project_id)), key="trust_hist")

left, right = st.columns([2, 3])
with left:
    st.subheader("Suspects by kind")
    kinds = head["suspects_by_kind"] if not head["suspects_by_kind"].empty else head["suspects_by_signal"].rename(
        columns={"signal": "kind"})
    if kinds.empty:
        st.success("No suspect workers in this run.")
    else:
        st.plotly_chart(charts.count_bar(kinds, "kind", "workers", "Suspect workers by kind of evidence",
                                         "kind of evidence", "workers"), key="kinds")
    st.page_link("views/workers.py", label="Review suspect workers", icon=":material/group:")
    st.page_link("views/items.py", label="Review items at risk", icon=":material/list_alt:")
with right:
    st.subheader("What changed since the previous run")
    prev = state.read(results.previous_run, c.project_id, c.run_id)
    if prev is None:
        st.caption("This is the project's first analysis run.")
    else:
        diff = state.read(results.run_diff, prev, c.run_id, c.project_id)
        d = st.columns(3)
        d[0].metric("Newly suspect workers", diff["newly_suspect"])
        d[1].metric("Workers cleared", diff["cleared"])
        d[2].metric("Consensus labels changed", f"{diff['labels_changed']:,}")
        st.caption(f"Run {prev} ({diff['method_before']}) → run {c.run_id} ({diff['method_after']}). "
                   f"α {fmt_interval(diff['alpha_before'], None, None)} → {fmt_interval(diff['alpha_after'], None, None)}; "
                   f"accuracy {fmt_interval(diff['accuracy_before'], None, None)} → "
                   f"{fmt_interval(diff['accuracy_after'], None, None)}.")
        if not diff["workers"].empty:
            st.dataframe(diff["workers"], hide_index=True, width="stretch", height=180, column_config={
                "was_suspect": st.column_config.CheckboxColumn("was suspect"),
                "now_suspect": st.column_config.CheckboxColumn("now suspect"),
                "trust_before": st.column_config.NumberColumn("trust before", format="%.2f"),
                "trust_after": st.column_config.NumberColumn("trust now", format="%.2f")})

workspace_section()
