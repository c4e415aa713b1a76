"""Red-team page: renders, runs an attack with the real analysis, and opens an attacked copy."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from auth_support import add_accounts, me  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.test_redteam import _fill_workspace, make_base  # noqa: E402

PAGE = str(Path(__file__).resolve().parent.parent / "app" / "views" / "redteam.py")


@pytest.fixture
def ws_path(tmp_path):
    from analytics.store import open_workspace

    ws = open_workspace(tmp_path / "ws")
    add_accounts(ws)
    _fill_workspace(ws, make_base(n_workers=20, n_tasks=120, seed=2))
    ws.close()
    return tmp_path / "ws"


def _app(ws_path, actor=None):
    from analytics.store import open_workspace
    from app.state import Ctx

    with open_workspace(ws_path) as ws:
        pid = ws.project_id("proj")
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["workspace_path"] = str(ws_path)
    at.session_state["_ctx"] = Ctx(ws=ws_path, exists=True, actor=actor or me("analyst"), project="proj",
                                   project_id=pid)
    return at


def test_page_runs_attack_and_opens_copy(ws_path):
    at = _app(ws_path).run()
    assert not at.exception
    at.selectbox(key="rt_attack").set_value("random").run()
    at.number_input(key="rt_seeds").set_value(1)
    at.button[0].click().run()          # the form's submit button
    assert not at.exception, at.exception
    assert any("pr_auc" in df.value.columns for df in at.dataframe)
    at.button(key="rt_open").click().run()
    assert not at.exception, at.exception
    assert at.session_state["_project_keep"] == "proj~rt-random-s0"
    assert (ws_path / "redteam" / "proj~rt-random-s0.json").exists()


def test_page_shows_answer_key_banner_on_a_copy(ws_path):
    from analytics.redteam.workspace import inject_project
    from analytics.store import open_workspace
    from app.state import Ctx

    with open_workspace(ws_path) as ws:
        name = inject_project(ws, "proj", "colluders", 0.2, 1, actor=me("analyst"))
        pid = ws.project_id(name)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["workspace_path"] = str(ws_path)
    at.session_state["_ctx"] = Ctx(ws=ws_path, exists=True, actor=me("viewer"), project=name, project_id=pid)
    at.run()
    assert not at.exception
    assert any("red-team copy" in m.value for m in at.markdown)


def test_page_grid_sweep_draws_charts(ws_path):
    at = _app(ws_path).run()
    at.selectbox(key="rt_attack").set_value("flipper").run()
    at.number_input(key="rt_seeds").set_value(1)
    at.checkbox(key="rt_grid_on").check()
    at.text_input(key="rt_grid_param").input("share")
    at.text_input(key="rt_grid_vals").input("0.1, 0.3")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 2
    grid = [df.value for df in at.dataframe if "share" in df.value.columns]
    assert grid and sorted(grid[0]["share"]) == [0.1, 0.3]
