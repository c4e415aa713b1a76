"""Export: labels without banned workers, reports and platform files; preview, download, manifest."""

import streamlit as st

from analytics import export
from analytics.errors import UserError
from app import state

c = state.require_workspace()
st.title(f"Export · {c.project}")
state.flash()
if not c.can("export"):
    st.info("Exports are for managers and admins: ask an admin for the manager role.", icon=":material/lock:")
    st.stop()

WHAT = {
    "labels": "Labels without banned workers (label, confidence, class probabilities, trusted-label count)",
    "workers": "Worker report of the latest analysis",
    "items": "Item report of the latest analysis",
    "mturk-block": "MTurk worker file that blocks the banned workers",
    "toloka-restrictions": "Toloka restriction list for the banned workers",
    "requeue": "Re-queue task list",
}
MIME = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "jsonl": "application/x-ndjson"}

cols = st.columns([3, 1, 1.4])
kind = cols[0].selectbox("What", list(WHAT), format_func=lambda k: WHAT[k], key="exp_kind")
fmt = cols[1].selectbox("Format", list(export.FORMATS), key="exp_fmt",
                        help="CSV cells that a spreadsheet would run as a formula (= + - @ …) are prefixed "
                             "with ' — plain numbers such as -1 are left alone. Parquet and JSONL keep values as they are.")
form = "canonical"
if kind == "requeue":
    form = cols[2].radio("Form", list(export.FORMS), key="exp_form", horizontal=True,
                         help="canonical: task list · source: the platform's task-input file rebuilt from the "
                              "source fields kept at ingest (MTurk Input.*, Toloka INPUT:*)")

try:
    with st.spinner("Building the preview…"):
        exp = state.read(export.preview_export, str(c.ws), c.project_id, kind, fmt, form)
except UserError as exc:
    st.info(str(exc))
    st.stop()

m = exp.manifest
n_banned = len(m["banned_workers"])
st.caption(f"{m['rows']:,} row{'s' if m['rows'] != 1 else ''} · {n_banned} banned worker{'s' if n_banned != 1 else ''}"
           + (" left out" if kind == "labels" else "")
           + (f" · analysis run {m['run']['run_id']}" if m.get("run") else " · no analysis run")
           + f" · first {export.DEFAULT_SETTINGS.preview_rows} rows below")
head = exp.frame.head(export.DEFAULT_SETTINGS.preview_rows)
st.dataframe(head, hide_index=True, width="stretch",
             column_config={col: st.column_config.NumberColumn(format="%.4f")
                            for col in head.columns if head[col].dtype.kind == "f"})

key = (c.project_id, kind, fmt, form)
ready = st.session_state.get("exp_ready")
if ready is not None and ready[0] != key:
    ready = None

if st.button("Prepare download", type="primary", key="exp_prepare", icon=":material/inventory_2:",
             help="Builds the file from the current data and records the export (with the file's SHA-256) "
                  "in the audit log."):
    if state.need_actor(c, "export"):
        try:
            with state.write_workspace(c.ws, create=False) as ws:
                built = export.build_export(ws, c.project, kind, fmt, actor=c.actor, form=form)
                export.record_export(ws, built, c.actor)
        except UserError as exc:
            st.error(str(exc))
        else:
            st.session_state["exp_ready"] = ready = (key, built)

if ready is not None:
    built = ready[1]
    with st.container(border=True):
        st.markdown(f"**{built.filename}** · {len(built.data):,} bytes · SHA-256 `{built.sha256[:16]}…` · "
                    f"audit entry {built.manifest['audit']['seq']}")
        d = st.columns(2)
        d[0].download_button("Download file", built.data, file_name=built.filename, mime=MIME[built.fmt],
                             key="exp_dl", type="primary", icon=":material/download:", on_click="ignore")
        d[1].download_button("Download manifest", built.manifest_bytes(), file_name=built.filename + ".manifest.json",
                             mime="application/json", key="exp_dl_manifest", icon=":material/receipt_long:",
                             on_click="ignore")
        with st.expander("Manifest"):
            st.json(built.manifest, expanded=1)
