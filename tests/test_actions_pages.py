"""Actions and Export pages (Streamlit AppTest): select, preview, confirm, undo; export and record."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from actions_support import FLIPPERS, insert_run, make_workspace  # noqa: E402
from auth_support import me  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from analytics import actions, audit  # noqa: E402
from analytics.store import open_workspace  # noqa: E402

VIEWS = Path(__file__).resolve().parent.parent / "app" / "views"


@pytest.fixture
def ws_path(tmp_path):
    ws = make_workspace(tmp_path)
    insert_run(ws)
    ws.close()
    return tmp_path / "ws"


def _app(page: str, ws_path: Path, actor: str = "tester") -> AppTest:
    """The page alone, as account ``actor`` (tests/auth_support.py) would see it."""
    from app.state import Ctx

    with open_workspace(ws_path, read_only=True) as ws:
        pid = ws.project_id("p")
    at = AppTest.from_file(str(VIEWS / page), default_timeout=60)
    at.session_state["workspace_path"] = str(ws_path)
    at.session_state["_ctx"] = Ctx(ws=ws_path, exists=True, actor=me(actor), project="p", project_id=pid, run_id=1)
    return at


def test_actions_page_preview_confirm_and_undo(ws_path):
    at = _app("actions.py", ws_path).run()
    assert not at.exception, at.exception
    assert "intact" in at.success[0].value
    assert set(FLIPPERS) <= set(at.dataframe[0].value["worker"])
    at.multiselect(key="act_sel").set_value(FLIPPERS[:2]).run()
    at.button(key="act_preview").click().run()
    assert not at.exception, at.exception
    assert any(m.label == "Aggregated labels that change" for m in at.metric)
    at.text_area(key="act_reason").set_value("flips labels; checked on gold")
    submit = [b for b in at.button if b.label.startswith("Ban ")][0]
    submit.click().run()
    assert not at.exception, at.exception
    with open_workspace(ws_path, read_only=True) as ws:
        pid = ws.project_id("p")
        assert actions.banned_workers(ws.con, pid) == FLIPPERS[:2]
        ev = ws.con.execute("SELECT reason, actor, evidence->'impact'->>'n_labels_removed' FROM actions"
                            " WHERE seq = 1").fetchone()
        assert ev[0] == "flips labels; checked on gold" and ev[1] == "tester" and int(ev[2]) > 0
        assert audit.verify(ws.con).ok
    hist = at.dataframe[-1].value
    assert list(hist["action"][:2]) == ["ban", "ban"]
    at.multiselect(key="act_undo_sel").set_value([FLIPPERS[0]])
    at.text_input(key="act_undo_reason").set_value("appeal")
    [b for b in at.button if b.label == "Unban"][0].click().run()
    assert not at.exception, at.exception
    with open_workspace(ws_path, read_only=True) as ws:
        assert actions.banned_workers(ws.con, ws.project_id("p")) == [FLIPPERS[1]]


def test_actions_page_fits_once_and_caches_each_preview(ws_path, monkeypatch):
    """The model is fitted once per workspace state; a preview of the same selection and
    settings is computed once (a warm re-fit without the selection), however often the page reruns."""
    import streamlit as st

    from analytics import aggregate as agg_module
    from analytics import impact

    st.cache_data.clear()
    fits, previews = [], []
    real_aggregate, real_preview = agg_module.aggregate, impact.preview_ban

    def count_fit(data, *a, **kw):
        fits.append(data.n)
        return real_aggregate(data, *a, **kw)

    def count_preview(*a, **kw):
        previews.append(kw.get("refit", False))
        return real_preview(*a, **kw)

    monkeypatch.setattr(agg_module, "aggregate", count_fit)
    monkeypatch.setattr(impact, "preview_ban", count_preview)
    at = _app("actions.py", ws_path).run()
    at.multiselect(key="act_sel").set_value(FLIPPERS[:2]).run()
    at.button(key="act_preview").click().run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.metric]
    assert (len(fits), previews) == (2, [False]) and fits[1] < fits[0]    # the model, then its warm re-fit
    for _ in range(2):                                   # reruns (e.g. typing a reason) reuse the preview
        at.text_input(key="act_typed").set_value("").run()
        assert [m.value for m in at.metric] == shown
    assert (len(fits), previews) == (2, [False])
    at.toggle(key="act_refit").set_value(True).run()
    at.button(key="act_preview").click().run()           # exact re-fit: fits the model without the two
    assert not at.exception, at.exception
    assert len(fits) == 3 and fits[2] == fits[1] and previews == [False, True]
    at.run()
    at.toggle(key="act_refit").set_value(False).run()
    at.button(key="act_preview").click().run()           # back to the warm preview: cached
    assert (len(fits), previews) == (3, [False, True]) and [m.value for m in at.metric] == shown


def test_actions_page_has_no_controls_for_a_viewer_and_refuses_a_ban_without_reason(ws_path):
    at = _app("actions.py", ws_path, actor="viewer").run()
    assert not at.exception, at.exception
    assert "intact" in at.success[0].value and len(at.dataframe) >= 1          # queue and history readable
    assert not at.multiselect and not [b for b in at.button if b.label.startswith(("Ban", "Preview", "Unban"))]
    assert any("can read the review queue" in i.value for i in at.info)
    at = _app("actions.py", ws_path, actor="analyst").run()
    assert not [b for b in at.button if b.label.startswith(("Ban", "Preview"))]
    at = _app("actions.py", ws_path).run()
    at.multiselect(key="act_sel").set_value(FLIPPERS[:1]).run()
    at.button(key="act_preview").click().run()
    [b for b in at.button if b.label.startswith("Ban ")][0].click().run()
    assert any("reason is required" in e.value for e in at.error)
    with open_workspace(ws_path, read_only=True) as ws:
        assert actions.banned_workers(ws.con, ws.project_id("p")) == []


def test_export_page_previews_and_records(ws_path):
    with open_workspace(ws_path) as ws:
        actions.ban(ws, "p", FLIPPERS, "flippers", me("alice"))
    at = _app("export.py", ws_path).run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 20 and "n_trusted_labels" in at.dataframe[0].value.columns
    at.selectbox(key="exp_kind").set_value("mturk-block").run()
    assert list(at.dataframe[0].value.columns) == ["Worker ID", "UPDATE BlockStatus", "BlockReason"]
    at.button(key="exp_prepare").click().run()
    assert not at.exception, at.exception
    with open_workspace(ws_path, read_only=True) as ws:
        row = ws.con.execute("SELECT action, actor, evidence->>'kind' FROM actions ORDER BY seq DESC LIMIT 1").fetchone()
    assert row == ("export", "tester", "mturk-block")


def test_actions_page_shows_a_broken_chain(ws_path):
    import duckdb

    with open_workspace(ws_path) as ws:
        actions.ban(ws, "p", FLIPPERS, "flippers", me("alice"))
    con = duckdb.connect(str(ws_path / "workspace.duckdb"))
    con.execute("UPDATE actions SET reason = 'nothing' WHERE seq = 2")
    con.close()
    at = _app("actions.py", ws_path).run()
    assert not at.exception, at.exception
    assert any("BROKEN at entry 2" in e.value for e in at.error)
