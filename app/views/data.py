"""Data: load annotation files (a dry run first), ingest history with undo, projects, gold, label set."""

import dataclasses
import hashlib
import os
import tempfile
from pathlib import Path

import streamlit as st

from analytics import catalog, lifecycle, results
from analytics.errors import UserError
from analytics.ingest import preview
from analytics.ingest.columns import CANONICAL_COLUMNS, file_columns
from analytics.ingest.kinds import KIND_NAMES
from analytics.ingest.messages import PICKERS, for_form
from app import state

c = state.ctx()
st.title("Data")

AUTO = "(detect automatically)"
NONE = "—"
NEW, EXISTING = "A new project", "An existing project"
TYPES = ["csv", "tsv", "txt", "tab", "json", "jsonl", "ndjson", "parquet"]


def _save(uploaded, folder: Path) -> Path:
    dest = folder / Path(uploaded.name).name
    dest.write_bytes(uploaded.getbuffer())
    return dest


@st.cache_data(show_spinner=False, max_entries=64)
def _preview(digest: str, path: str, name: str, fmt, label_field, mapping: tuple, delimiter, rules_text, kind):
    """The dry run of one upload (cached on its bytes and the options)."""
    from analytics.ingest.labelmap import parse_rules
    from analytics.ingest.preview import preview_file

    rules = parse_rules(rules_text, "the label mapping") if rules_text else None
    return preview_file(path, name, format=fmt, label_field=label_field, mapping=dict(mapping),
                        delimiter=delimiter, rules=rules, kind=kind)


@st.cache_data(show_spinner=False, max_entries=64)
def _likely(digest: str, path: str, name: str):
    from analytics.ingest.preview import likely_label_field

    return likely_label_field(path, name)


def _suggested(path: Path, name: str) -> str | None:
    """The answer column the reader would ask for, preselected in the Label field picker."""
    return _likely(hashlib.sha256(path.read_bytes()).hexdigest(), str(path), name)


def _options_form(info: dict, suggested: str | None) -> dict:
    """The reading options (format, label field, delimiter, kind, column and label mapping)."""
    from analytics.ingest import FORMATS

    with st.expander("Reading options", expanded=bool(st.session_state.get("_up_needs_options"))):
        a, b, d, k = st.columns(4)
        fmt = a.selectbox(PICKERS["format"], [AUTO, *FORMATS], key="up_format",
                          help="Leave on automatic unless the detection is wrong.")
        answers = info["answer_columns"]
        opts = [AUTO, *answers, *[col for col in info["columns"] if col not in answers]]
        if suggested and suggested in opts and st.session_state.get("_up_label_default") != suggested:
            st.session_state["_up_label_default"] = suggested
            st.session_state["up_label"] = suggested
        label_field = b.selectbox(PICKERS["label_field"], opts, key="up_label",
                                  help="The answer column, for formats with several (MTurk Answer.*, Toloka "
                                       "OUTPUT:*, a CrowdFlower question). The likely one is chosen for you.")
        delim = d.selectbox(PICKERS["delimiter"], [AUTO, ",", "tab", ";", "|"], key="up_delim")
        kind = k.selectbox(PICKERS["kind"], [AUTO, "single", "multilabel", "item-specific"], key="up_kind",
                           format_func=lambda x: x if x == AUTO else KIND_NAMES[x],
                           help="Detected from the answers: one class each, a set of options (multi-select, "
                                "analysed per option), or answers worded per item.")
        mapping = {}
        if info["format"] == "canonical" and info["columns"]:
            st.markdown(f"**{PICKERS['mapping']}** (only needed when the file names the columns differently)")
            cols = st.columns(4)
            for i, canon in enumerate(CANONICAL_COLUMNS):
                choices = [NONE, *info["columns"]]
                default = choices.index(canon) if canon in info["columns"] else 0
                chosen = cols[i % 4].selectbox(canon + (" *" if canon in ("task", "worker", "label") else ""),
                                               choices, index=default, key=f"up_map_{canon}")
                if chosen != NONE and chosen != canon:
                    mapping[canon] = chosen
        st.markdown(f"**{PICKERS['map_labels']}**: for answers worded per item, rules that turn them into shared "
                    "classes, one per line as `pattern,label` (a regular expression; `{column}` stands for the "
                    "row's value of that column), e.g. `{term1} .+ {term2},t1_rel_t2`.")
        m1, m2 = st.columns([2, 1])
        rules_text = m1.text_area("Rules", key="up_rules", height=110, placeholder="pattern,label\n"
                                  "{term1} .+ {term2},t1_rel_t2\n{term2} .+ {term1},t2_rel_t1\nno_relation,no_relation")
        rules_file = m2.file_uploader("…or a mapping file (CSV pattern,label or answer,label; JSON)",
                                      key="up_rules_file", type=["csv", "tsv", "txt", "json"])
        if rules_file is not None:
            rules_text = rules_file.getvalue().decode("utf-8", errors="replace")
    text = (rules_text or "").strip()
    if text and not text.lower().startswith(("pattern", "answer", "from", "regex", "[", "{")):
        text = "pattern,label\n" + text
    return {"fmt": None if fmt == AUTO else fmt, "label_field": None if label_field == AUTO else label_field,
            "mapping": tuple(sorted(mapping.items())), "delimiter": None if delim == AUTO else delim,
            "rules_text": text or None, "kind": None if kind == AUTO else kind}


def _describe(p: dict) -> str:
    kind = {"multilabel": f"multi-select answers over {p['options']:,} options, analysed per option",
            "item-specific": f"answers worded per item ({p['labels']:,} distinct answers on {p['items']:,} items)",
            "single": f"{p['labels']:,} labels"}[p["kind"]]
    rows = f"{p['rows']:,}{'+' if p['truncated'] else ''} rows"
    bad = f", {sum(p['reasons'].values()):,} would be quarantined" if p["reasons"] else ""
    return (f"**{p['file_name']}**: {p['format']} file, {rows}{bad}; labels from **{p['label_field']}**; {kind}.")


def _target(uploads) -> tuple[str | None, bool]:
    """The project chosen for the upload, and whether it is new."""
    projects = state.read(results.projects)["name"].tolist() if c.exists else []
    where = st.radio(PICKERS["project"], [NEW, EXISTING], key="up_where", horizontal=True,
                     disabled=not projects, help="Files never go into a project you did not choose.")
    if where == NEW or not projects:
        stems = [Path(u.name).stem for u in uploads]
        stem = os.path.commonprefix(stems).rstrip("_- .0123456789") if len(stems) > 1 else stems[0]
        stem = (stem or stems[0])[:40]
        if st.session_state.get("_up_stem") != stem:
            st.session_state["_up_stem"] = stem
            st.session_state["up_new_name"] = stem
        name = st.text_input("New project name", key="up_new_name").strip()
        if name in projects:
            st.error(f"There is already a project named **{name}**: choose another name, or pick "
                     f"“{EXISTING}” to add the file to it.")
            return None, True
        return (name or None), True
    name = st.selectbox("Project to add to", projects, index=None, key="up_existing",
                        placeholder="choose the project these labels belong to")
    return name, False


def upload_tab() -> None:
    if not c.can("ingest"):
        st.info("Loading files is for analysts, managers and admins; your role can read the history, projects, "
                "gold and label set.", icon=":material/visibility:")
        return
    st.markdown("Load annotation logs: canonical CSV/TSV/Parquet/JSONL, MTurk batch results, Toloka results, "
                "Label Studio JSON or CrowdFlower full reports. Several files at once are fine. Each file is "
                "checked before anything is written.")
    uploads = st.file_uploader("Annotation files", key=f"upload_files_{st.session_state.get('_up_round', 0)}",
                               type=TYPES, accept_multiple_files=True)
    if not uploads:
        _show_last_summary()
        return
    with tempfile.TemporaryDirectory(prefix="crowdtrust-upload-") as tmp:
        _upload_form(uploads, Path(tmp))


def _upload_form(uploads, tmp: Path) -> None:
    paths = [_save(u, tmp) for u in uploads]
    try:
        info = file_columns(paths[0], uploads[0].name)
    except UserError as exc:
        st.error(for_form(str(exc)))
        return
    target, is_new = _target(uploads)
    opts = _options_form(info, _suggested(paths[0], uploads[0].name))
    previews, problems = [], []
    for u, p in zip(uploads, paths, strict=True):
        digest = hashlib.sha256(u.getbuffer()).hexdigest()
        try:
            with st.spinner(f"Checking {u.name}…"):
                previews.append(_preview(digest, str(p), u.name, opts["fmt"], opts["label_field"], opts["mapping"],
                                         opts["delimiter"], opts["rules_text"], opts["kind"]))
        except UserError as exc:
            problems.append(f"{u.name}: {for_form(str(exc))}" if u.name not in str(exc) else for_form(str(exc)))
    if problems:
        st.session_state["_up_needs_options"] = True
        for msg in problems:
            st.error(msg, icon=":material/error:")
        st.caption("Nothing has been loaded. Fix the reading options above; the check runs again at once.")
        return
    st.session_state["_up_needs_options"] = False
    for p in previews:
        st.markdown("✔ " + _describe(p))
        for w in p["warnings"]:
            st.caption(f"Note: {for_form(w)}")
    if any(p["kind"] == "item-specific" for p in previews) and not opts["rules_text"]:
        st.info("These answers are worded per item (each item offers its own sentences), so there are no shared "
                "classes. Either give a **Label mapping** in the reading options to turn them into shared classes, "
                "or load them as they are: they are then analysed with per-item options (one-coin reliability and "
                "agreement with each item's consensus).", icon=":material/info:")
    if any(p["kind"] == "multilabel" for p in previews):
        st.info("Multi-select answers: each answer is read as a set of options and analysed per option (each "
                "option a yes/no judgement on each item).", icon=":material/checklist:")
    for src in sorted({p["gold_source"] for p in previews if p["gold_source"]}):
        n = sum(p["gold_items"] for p in previews if p["gold_source"] == src)
        st.caption(f"Gold offered by the files: {src} — {n:,} items with a golden answer"
                   + ("" if n else " (empty in these files: nothing to load as gold)") + ".")
    if target is None:
        st.warning("Choose where these labels go: a new project (give it a name) or an existing one.")
        return
    differences = []
    if not is_new:
        pid = int(state.read(results.project_id, target))
        loaded = state.read(results.ingest_history, pid, 10_000)
        again = [u.name for u in uploads if hashlib.sha256(u.getbuffer()).hexdigest() in set(loaded["sha256"])]
        if again and not st.session_state.get("up_force"):
            st.error(f"{', '.join(again)} {'is' if len(again) == 1 else 'are'} already loaded into {target}; remove "
                     f"{'it' if len(again) == 1 else 'them'} from the upload, or tick **{PICKERS['force']}** below.")
            st.checkbox(PICKERS["force"], key="up_force")
            return
        for p in previews:
            differences += state.read(preview.compare_with_project, pid, p)
    if differences:
        st.warning(f"These files differ from project **{target}**: " + "; ".join(differences) + ". "
                   "Adding them mixes different data; a new project keeps them apart.", icon=":material/warning:")
        if not st.checkbox(f"Add them to {target} anyway", key="up_confirm_diff"):
            return
    gold = st.file_uploader("Gold answers (optional: a file with columns task, label)", key="up_gold",
                            type=["csv", "tsv", "parquet", "json", "jsonl"])
    x, y = st.columns(2)
    force = x.checkbox(PICKERS["force"], key="up_force")
    auto = y.checkbox("Analyse after loading", value=True, key="up_analyse",
                      help="Run the analysis as soon as the files are in (with a progress bar). Switch off to "
                           "load several batches first and analyse once.")
    verb = f"Load {len(uploads)} files into" if len(uploads) > 1 else "Load into"
    if not st.button(f"{verb} {'new project ' if is_new else ''}{target}", type="primary", icon=":material/upload:"):
        return
    if not state.need_actor(c, "ingest"):
        return
    _ingest_all(uploads, paths, tmp, target, opts, gold, force, auto)


def _ingest_all(uploads, paths, tmp: Path, target: str, opts: dict, gold, force: bool, auto: bool) -> None:
    from analytics.ingest import ingest_file
    from analytics.ingest.labelmap import parse_rules

    rules = parse_rules(opts["rules_text"], "the label mapping") if opts["rules_text"] else None
    gold_path = _save(gold, tmp) if gold is not None else None
    done = []
    for i, (u, p) in enumerate(zip(uploads, paths, strict=True)):
        try:
            with st.spinner(f"Loading {u.name} ({i + 1} of {len(uploads)})…"), state.write_workspace(c.ws) as ws:
                s = ingest_file(ws, p, target, format=opts["fmt"], label_field=opts["label_field"],
                                mapping=dict(opts["mapping"]) or None, delimiter=opts["delimiter"],
                                gold_path=gold_path if i == 0 else None, force=force, actor=c.actor,
                                file_name=u.name, gold_file_name=gold.name if gold is not None else None,
                                label_rules=rules, label_rules_name="label mapping" if rules else None,
                                kind=opts["kind"])
            done.append(s.to_dict() | {"text": s.describe()})
        except UserError as exc:
            kept = f" {len(done)} file(s) before it were loaded." if done else ""
            st.error(f"{u.name} was not loaded: {for_form(str(exc))}.{kept}", icon=":material/error:")
            break
    if not done:
        return
    st.session_state["_last_ingest"] = done
    st.session_state["_project_switch"] = target
    st.session_state["_up_round"] = st.session_state.get("_up_round", 0) + 1   # a fresh, empty uploader
    for k in ("up_existing", "up_confirm_diff", "up_rules"):
        st.session_state.pop(k, None)
    if auto:
        state.run_analysis(dataclasses.replace(c, project=target))
    st.rerun()


def _show_last_summary() -> None:
    done = st.session_state.get("_last_ingest")
    if not done:
        return
    for s in done if isinstance(done, list) else [done]:
        st.success(f"Loaded **{s['file_name']}** into **{s['project']}** (ingest {s['ingest_id']}, format "
                   f"{s['format']}" + (f", {KIND_NAMES[s['answer_kind']]}" if s.get("answer_kind", "single") != "single"
                                       else "") + ").")
        k = st.columns(5)
        k[0].metric("Rows read", f"{s['rows_read']:,}")
        k[1].metric("Loaded", f"{s['rows_loaded']:,}")
        k[2].metric("Updates", f"{s['rows_updates']:,}", help="Second answers of a worker to the same item; "
                                                               "the latest counts.")
        k[3].metric("Quarantined", f"{s['rows_quarantined']:,}")
        k[4].metric("Duplicates collapsed", f"{s['rows_duplicate']:,}")
        for w in s.get("warnings") or []:
            st.caption(f"Note: {for_form(w)}")
        if s["rows_quarantined"]:
            reasons = s.get("quarantine_reasons") or {}
            st.markdown("**Quarantined rows** (kept with their reason; nothing is dropped silently): "
                        + "; ".join(f"{why}: {n:,}" for why, n in reasons.items()))
            st.dataframe(state.read(catalog.quarantine_rows, s["project_id"], s["ingest_id"], 500), hide_index=True,
                         width="stretch", column_order=["source_row", "reason", "raw"])


def history_tab() -> None:
    if not c.exists:
        st.info("Nothing ingested yet.")
        return
    hist = state.read(results.ingest_history, None, 200)
    if hist.empty:
        st.info("Nothing ingested yet.")
    else:
        st.dataframe(hist.drop(columns=["project_id"]), hide_index=True, width="stretch", column_config={
            "ingest_id": "ingest", "file_name": "file",
            "size_bytes": st.column_config.NumberColumn("bytes", format="%d"),
            "sha256": st.column_config.TextColumn("SHA-256", help="The stored copy is files/<sha256>."),
            "rows_read": "read", "rows_loaded": "loaded", "rows_quarantined": "quarantined",
            "rows_duplicate": "duplicates", "rows_updates": "updates", "gold_loaded": "gold", "actor": "by",
            "loaded_at": st.column_config.DatetimeColumn("when (UTC)", format="YYYY-MM-DD HH:mm:ss")})
        _undo_form(hist)
        with_q = hist[hist["rows_quarantined"] > 0].set_index("ingest_id")
        if not with_q.empty:
            pick = st.selectbox("Quarantined rows of ingest", with_q.index.tolist(), key="q_ingest",
                                format_func=lambda i: f"{i}: {with_q.loc[i, 'file_name']} ({with_q.loc[i, 'project']}, "
                                                      f"{with_q.loc[i, 'rows_quarantined']:,} rows)")
            pid = int(with_q.loc[pick, "project_id"])
            st.dataframe(state.read(catalog.quarantine_reasons, pid, pick), hide_index=True)
            st.dataframe(state.read(catalog.quarantine_rows, pid, pick, 500), hide_index=True, width="stretch",
                         column_order=["source_row", "reason", "raw"])


def _undo_form(hist) -> None:
    if not c.can("ingest"):
        return
    with st.expander("Undo an ingest"):
        st.caption("Undoing holds the file's rows back at once (pages, analyses and exports stop seeing them); "
                   "you can restore them exactly until you confirm. Both steps are recorded in the audit log.")
        rows = hist.set_index("ingest_id")
        pick = st.selectbox("Ingest to undo", rows.index.tolist(), index=None, key="undo_pick",
                            format_func=lambda i: f"{i}: {rows.loc[i, 'file_name']} → {rows.loc[i, 'project']} "
                                                  f"({rows.loc[i, 'rows_loaded']:,} rows)")
        reason = st.text_input("Reason", key="undo_reason", placeholder="e.g. loaded into the wrong project")
        if st.button("Undo this ingest", key="undo_go", disabled=pick is None, icon=":material/undo:") \
                and state.need_actor(c, "undo"):
            _lifecycle("withdraw_ingest", int(pick), reason,
                       done=f"Ingest {pick} ({rows.loc[pick, 'file_name']}) is undone; restore or confirm it below.")


def _lifecycle(fn: str, target, *args, done: str) -> None:
    try:
        with state.write_workspace(c.ws, create=False) as ws:
            getattr(lifecycle, fn)(ws, target, c.actor, *args)
    except UserError as exc:
        st.error(str(exc))
        return
    st.session_state["_flash"] = done
    st.rerun()


def _pending() -> None:
    pend = state.read(lifecycle.pending)
    ing, proj = pend["ingests"], pend["projects"]
    if ing.empty and proj.empty or not c.can("ingest"):
        return
    st.markdown("**Waiting for your confirmation**")
    admin = c.can("delete")         # restoring an ingest is an analyst's; confirming, and projects, an admin's
    for r in ing.itertuples(index=False):
        with st.container(border=True):
            st.markdown(f"Ingest **{r.ingest_id}** · {r.file_name} → **{r.project}** · {r.rows_loaded:,} rows held "
                        f"back since {r.withdrawn_at:%Y-%m-%d %H:%M} UTC")
            a, b = st.columns(2)
            if a.button("Restore it", key=f"rest_i{r.ingest_id}", icon=":material/restore:") \
                    and state.need_actor(c, "restore"):
                _lifecycle("restore_ingest", int(r.ingest_id), done=f"Ingest {r.ingest_id} is restored.")
            if admin and b.button("Delete it for good", key=f"purge_i{r.ingest_id}", type="primary",
                                  icon=":material/delete_forever:") and state.need_actor(c, "deletion"):
                _lifecycle("purge_ingest", int(r.ingest_id), done=f"Ingest {r.ingest_id} is deleted for good.")
    for r in proj.itertuples(index=False) if admin else ():
        with st.container(border=True):
            st.markdown(f"Project **{r.project}** · {r.labels:,} labels · deleted {r.deleted_at:%Y-%m-%d %H:%M} UTC "
                        "(hidden everywhere until you restore or confirm)")
            a, b, d = st.columns([1, 1.4, 1.6])
            if a.button("Restore it", key=f"rest_p{r.project_id}", icon=":material/restore:") \
                    and state.need_actor(c, "restore"):
                _lifecycle("restore_project", int(r.project_id), done=f"Project {r.project} is restored.")
            typed = d.text_input("Type the project name to confirm", key=f"purge_name{r.project_id}",
                                 label_visibility="collapsed", placeholder=f"type {r.project} to confirm")
            if b.button("Delete it for good", key=f"purge_p{r.project_id}", type="primary",
                        disabled=typed.strip() != r.project, icon=":material/delete_forever:") \
                    and state.need_actor(c, "deletion"):
                _lifecycle("purge_project", int(r.project_id), done=f"Project {r.project} is deleted for good.")


def projects_tab() -> None:
    if not c.exists or c.project is None:
        st.info("No projects yet.")
        return
    projects = state.read(results.projects)
    st.dataframe(projects[["name", "kind", "labels", "workers", "tasks", "gold", "latest_run", "created_at"]],
                 hide_index=True, width="stretch", column_config={
                     "name": "project", "kind": st.column_config.TextColumn("answers", help="single choice, "
                                                                            "multilabel (per option) or item-specific"),
                     "latest_run": st.column_config.NumberColumn("latest run", format="%d"),
                     "created_at": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm")})
    if not c.can("delete"):
        return
    with st.expander("Delete a project"):
        st.caption("The project disappears from every page at once; you can restore it until you confirm the "
                   "deletion below. Both steps are recorded in the audit log.")
        names = projects["name"].tolist()
        pick = st.selectbox("Project", names, index=None, key="del_pick", placeholder="choose a project")
        reason = st.text_input("Reason", key="del_reason")
        if st.button("Delete project", key="del_go", disabled=pick is None, icon=":material/delete:") \
                and state.need_actor(c, "deletion"):
            _lifecycle("delete_project", pick, reason,
                       done=f"Project {pick} is deleted (restorable until you confirm at the top of this page).")


def gold_tab() -> None:
    if c.project is None:
        st.info("Load an annotation file first; gold answers belong to a project.")
        return
    st.markdown(f"Gold (control) answers of **{c.project}**: used to score workers' accuracy.")
    g = state.read(results.gold_summary, c.project_id)
    if g.empty:
        st.caption("No gold answers in this project yet.")
    else:
        st.dataframe(g, hide_index=True)
    if not c.can("ingest"):
        return
    from analytics.ingest import ingest_gold

    gold = st.file_uploader("Gold file (columns task, label)", key="gold_file",
                            type=["csv", "tsv", "parquet", "json", "jsonl"])
    force = st.checkbox(PICKERS["force"], key="gold_force")
    if st.button("Load gold", icon=":material/upload:", disabled=gold is None) and state.need_actor(c, "gold upload"):
        with tempfile.TemporaryDirectory(prefix="crowdtrust-gold-") as tmp:
            path = _save(gold, Path(tmp))
            try:
                with state.write_workspace(c.ws) as ws:
                    s = ingest_gold(ws, path, c.project, actor=c.actor, file_name=gold.name, force=force)
            except UserError as exc:
                st.error(f"Nothing was loaded: {for_form(str(exc))}")
                return
        st.session_state["_flash"] = f"Loaded {s.gold_loaded:,} gold answers from {gold.name}; re-analyse to use them."
        st.rerun()


def labels_tab() -> None:
    if c.project is None:
        st.info("Load an annotation file first.")
        return
    ls = state.read(results.label_set, c.project_id)
    declared = bool(ls["declared"].any()) if not ls.empty else False
    st.markdown(f"Labels of **{c.project}** "
                + ("(declared label set: answers outside it are quarantined)" if declared
                   else "(no declared label set: inferred from the answers)"))
    st.dataframe(ls.head(500), hide_index=True, column_config={
        "answers": st.column_config.NumberColumn("answers", format="%d"),
        "gold_items": st.column_config.NumberColumn("gold items", format="%d"),
        "declared": st.column_config.CheckboxColumn("declared")})


if c.exists:
    _pending()
tabs = st.tabs(["Upload", "Ingest history", "Projects", "Gold", "Label set"])
with tabs[0]:
    upload_tab()
with tabs[1]:
    history_tab()
with tabs[2]:
    projects_tab()
with tabs[3]:
    gold_tab()
with tabs[4]:
    labels_tab()
