"""Data: upload and ingest annotation files, ingest history with provenance, gold, label set."""

import tempfile
from pathlib import Path

import streamlit as st

from analytics.errors import UserError
from analytics.results import CANONICAL_COLUMNS, file_columns
from app import state

c = state.ctx()
st.title("Data")

AUTO = "(detect automatically)"
NONE = "—"


def _save_upload(uploaded, folder: Path) -> Path:
    dest = folder / Path(uploaded.name).name
    with open(dest, "wb") as fh:
        fh.write(uploaded.getbuffer())
    return dest


def upload_tab() -> None:
    if not state.has_module("ingest"):
        st.warning("The ingest engine is not installed in this build (analytics.ingest is missing).")
        return
    if not c.can("ingest"):
        st.info("Loading files is for analysts, managers and admins; your role can read the history, gold and "
                "label set.", icon=":material/visibility:")
        return
    from analytics.ingest import FORMATS, ingest_file

    st.markdown("Load an annotation log: canonical CSV/TSV/Parquet/JSONL, MTurk batch results, Toloka results, "
                "Label Studio JSON or a CrowdFlower full report. The format is detected; you can override it.")
    uploaded = st.file_uploader("Annotation file", key="upload_file",
                                type=["csv", "tsv", "txt", "tab", "json", "jsonl", "ndjson", "parquet"])
    last = st.session_state.get("_last_ingest")
    if uploaded is None or (last and uploaded.name == last["file_name"]):
        _show_last_summary()
        if uploaded is not None:
            st.caption("Remove the file above (×) to load another one.")
        return
    tmp = Path(tempfile.mkdtemp(prefix="crowdtrust-upload-"))
    path = _save_upload(uploaded, tmp)
    try:
        info = file_columns(path, uploaded.name)
    except UserError as exc:
        st.error(str(exc))
        return
    st.success(f"**{uploaded.name}**: detected format **{info['format']}**, {len(info['columns'])} columns.")
    projects = state.q("projects")["name"].tolist() if c.exists else []
    with st.form("ingest_form"):
        a, b = st.columns(2)
        fmt = a.selectbox("Format", [AUTO, *FORMATS], key="up_format",
                          help="Leave on automatic unless the detection is wrong.")
        target = b.text_input(
            "Project (existing or new)", value=c.project or Path(uploaded.name).stem[:40], key="up_project",
            help="Type an existing project's name to add these labels to it, or a new name to create a project. "
                 + (f"Existing: {', '.join(projects)}." if projects else "There are no projects yet."))
        label_opts = [AUTO, *info["answer_columns"], *[col for col in info["columns"]
                                                        if col not in info["answer_columns"]]]
        label_field = a.selectbox("Label field", label_opts, key="up_label",
                                  help="The answer column, for formats with several (MTurk Answer.*, Toloka "
                                       "OUTPUT:*, a CrowdFlower question).")
        mapping = {}
        if info["format"] == "canonical" and info["columns"]:
            st.markdown("**Column mapping** (only needed when the file names the columns differently)")
            cols = st.columns(4)
            for i, canon in enumerate(CANONICAL_COLUMNS):
                opts = [NONE, *info["columns"]]
                default = opts.index(canon) if canon in info["columns"] else 0
                chosen = cols[i % 4].selectbox(canon + (" *" if canon in ("task", "worker", "label") else ""),
                                               opts, index=default, key=f"up_map_{canon}")
                if chosen != NONE and chosen != canon:
                    mapping[canon] = chosen
        gold = st.file_uploader("Gold answers (optional: a file with columns task, label)", key="up_gold",
                                type=["csv", "tsv", "parquet", "json", "jsonl"])
        force = st.checkbox("Load again even if this exact file was loaded before", key="up_force")
        submitted = st.form_submit_button("Ingest", type="primary", icon=":material/upload:")
    if not submitted:
        return
    if not state.need_actor(c, "ingest"):
        return
    project = target.strip()
    if not project:
        st.error("Give the project a name: an existing one or a new one.")
        return
    gold_path = _save_upload(gold, tmp) if gold is not None else None
    try:
        with st.spinner(f"Ingesting {uploaded.name}…"), state.write_workspace(c.ws) as ws:
            summary = ingest_file(ws, path, project, format=None if fmt == AUTO else fmt,
                                  label_field=None if label_field == AUTO else label_field,
                                  mapping=mapping or None, gold_path=gold_path, force=force,
                                  actor=c.actor, file_name=uploaded.name)
    except UserError as exc:
        st.error(f"Nothing was loaded: {exc}")
        return
    st.session_state["_last_ingest"] = summary.to_dict() | {"text": summary.describe()}
    st.session_state["_project_switch"] = project   # the sidebar picker moves to it on the rerun
    st.rerun()


def _show_last_summary() -> None:
    s = st.session_state.get("_last_ingest")
    if not s:
        return
    st.success(f"Loaded **{s['file_name']}** into **{s['project']}** (ingest {s['ingest_id']}, format {s['format']}).")
    k = st.columns(5)
    k[0].metric("Rows read", f"{s['rows_read']:,}")
    k[1].metric("Loaded", f"{s['rows_loaded']:,}")
    k[2].metric("Updates", f"{s['rows_updates']:,}", help="Second answers of a worker to the same item; "
                                                           "the latest counts.")
    k[3].metric("Quarantined", f"{s['rows_quarantined']:,}")
    k[4].metric("Duplicates collapsed", f"{s['rows_duplicate']:,}")
    for w in s.get("warnings") or []:
        st.warning(w)
    if s["rows_quarantined"]:
        st.markdown("**Quarantined rows** (kept with their reason; nothing is dropped silently)")
        reasons = s.get("quarantine_reasons") or {}
        if reasons:
            st.markdown("\n".join(f"- {why}: {n:,} row{'s' if n != 1 else ''}" for why, n in reasons.items()))
        st.dataframe(state.q("catalog:quarantine_rows", s["project_id"], s["ingest_id"], 500), hide_index=True,
                     width="stretch", column_order=["source_row", "reason", "raw"])
    st.info("Next: analyse the project on the Overview page (or Settings) to compute trust and suspects.")


def history_tab() -> None:
    if not c.exists:
        st.info("Nothing ingested yet.")
        return
    hist = state.q("ingest_history", None, 200)
    if hist.empty:
        st.info("Nothing ingested yet.")
        return
    st.dataframe(hist.drop(columns=["project_id"]), hide_index=True, width="stretch", column_config={
        "ingest_id": "ingest", "file_name": "file", "size_bytes": st.column_config.NumberColumn("bytes", format="%d"),
        "sha256": st.column_config.TextColumn("SHA-256", help="The stored copy is files/<sha256> in the workspace."),
        "rows_read": "read", "rows_loaded": "loaded", "rows_quarantined": "quarantined",
        "rows_duplicate": "duplicates", "rows_updates": "updates", "gold_loaded": "gold", "actor": "by",
        "loaded_at": st.column_config.DatetimeColumn("when (UTC)", format="YYYY-MM-DD HH:mm:ss")})
    with_q = hist[hist["rows_quarantined"] > 0].set_index("ingest_id")
    if not with_q.empty:
        pick = st.selectbox("Quarantined rows of ingest", with_q.index.tolist(), key="q_ingest",
                            format_func=lambda i: f"{i}: {with_q.loc[i, 'file_name']} ({with_q.loc[i, 'project']}, "
                                                  f"{with_q.loc[i, 'rows_quarantined']:,} rows)")
        pid = int(with_q.loc[pick, "project_id"])
        st.dataframe(state.q("catalog:quarantine_reasons", pid, pick), hide_index=True)
        st.dataframe(state.q("catalog:quarantine_rows", pid, pick, 500), hide_index=True, width="stretch",
                     column_order=["source_row", "reason", "raw"])


def gold_tab() -> None:
    if c.project is None:
        st.info("Load an annotation file first; gold answers belong to a project.")
        return
    st.markdown(f"Gold (control) answers of **{c.project}**: used to score workers' accuracy.")
    g = state.q("gold_summary", c.project_id)
    if g.empty:
        st.caption("No gold answers in this project yet.")
    else:
        st.dataframe(g, hide_index=True)
    if not state.has_module("ingest") or not c.can("ingest"):
        return
    from analytics.ingest import ingest_gold

    with st.form("gold_form"):
        gold = st.file_uploader("Gold file (columns task, label)", key="gold_file",
                                type=["csv", "tsv", "parquet", "json", "jsonl"])
        force = st.checkbox("Load again even if this exact file was loaded before", key="gold_force")
        ok = st.form_submit_button("Load gold", icon=":material/upload:")
    if ok and gold is not None and state.need_actor(c, "gold upload"):
        path = _save_upload(gold, Path(tempfile.mkdtemp(prefix="crowdtrust-gold-")))
        try:
            with state.write_workspace(c.ws) as ws:
                s = ingest_gold(ws, path, c.project, actor=c.actor, file_name=gold.name, force=force)
        except UserError as exc:
            st.error(f"Nothing was loaded: {exc}")
            return
        st.session_state["_flash"] = f"Loaded {s.gold_loaded:,} gold answers from {gold.name}; re-analyse to use them."
        st.rerun()


def labels_tab() -> None:
    if c.project is None:
        st.info("Load an annotation file first.")
        return
    ls = state.q("label_set", c.project_id)
    declared = bool(ls["declared"].any()) if not ls.empty else False
    st.markdown(f"Labels of **{c.project}** "
                + ("(declared label set: answers outside it are quarantined)" if declared
                   else "(no declared label set: inferred from the answers)"))
    st.dataframe(ls, hide_index=True, column_config={
        "answers": st.column_config.NumberColumn("answers", format="%d"),
        "gold_items": st.column_config.NumberColumn("gold items", format="%d"),
        "declared": st.column_config.CheckboxColumn("declared")})


tabs = st.tabs(["Upload", "Ingest history", "Gold", "Label set"])
with tabs[0]:
    upload_tab()
with tabs[1]:
    history_tab()
with tabs[2]:
    gold_tab()
with tabs[3]:
    labels_tab()
