"""AppTest for every dashboard page: the demo workspace, the results fixture, and empty workspaces.

Each page must render without an exception or an "unexpected error" box, and its main
widgets must change what is shown.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import app_fixture  # noqa: E402
from auth_support import PASSWORDS, add_accounts  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app" / "streamlit_app.py")
PAGES = ["overview", "workers", "items", "collusion", "agreement", "data", "settings", "monitoring", "incidents"]


@pytest.fixture(scope="module")
def fixture_ws(tmp_path_factory) -> Path:
    return app_fixture.build(tmp_path_factory.mktemp("app") / "fixture")


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory) -> Path:
    from analytics.demo import build_demo

    ws = tmp_path_factory.mktemp("app") / "demo"
    build_demo(ws, password=PASSWORDS["admin"])
    return ws


def sign_in(at: AppTest, name: str, password: str) -> AppTest:
    """Fill the sign-in form and submit it (the app reruns into the signed-in frame)."""
    at.text_input(key="signin_name").input(name)
    at.text_input(key="signin_password").input(password)
    return at.button(key="FormSubmitter:signin-Sign in").click().run()


def app(ws: Path, page: str = "overview", project: str | None = None, user: str = "admin") -> AppTest:
    """The dashboard on ``ws``, signed in as ``user`` (tests/auth_support.py accounts), on ``page``."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["workspace_path"] = str(ws)
    if project:
        at.session_state["project"] = project
    at.run()
    sign_in(at, user, PASSWORDS[user])
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert not any("Unexpected error" in e for e in errors), errors


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.info] + [m.value for m in at.caption]
    parts += [m.value for m in at.subheader] + [m.value for m in at.title] + [m.value for m in at.success]
    parts += [m.value for m in at.warning]
    return "\n".join(str(p) for p in parts)


# -- every page renders ----------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES)
def test_pages_render_on_demo(demo_ws, page):
    at = app(demo_ws, page, "reviews-simulated")
    assert_clean(at)
    assert "reviews-simulated" in at.title[0].value or page == "data"


def test_pages_render_on_demo_project_without_timestamps(demo_ws):
    at = app(demo_ws, "overview", "act-cf-weather")
    assert_clean(at)
    assert "No timestamps in this project" in texts(at)
    for page in PAGES[1:]:
        at.switch_page(f"views/{page}.py").run()
        assert_clean(at)
        assert "act-cf-weather" in at.title[0].value or page == "data"
    at.switch_page("views/workers.py").run()
    worker = at.dataframe[0].value["worker"].iloc[0]
    at.selectbox(key="worker_pick").set_value(worker).run()
    assert_clean(at)
    assert "No timestamps in this project" in texts(at)


def test_demo_weekly_project_shows_its_alert_incident_and_report(demo_ws):
    """`make run`'s demo: the weekly project's poisoned batch raised alerts, and its incident
    was opened, contained and repaired, so Monitoring and Incidents have something to show."""
    from analytics.demo import WEEKLY_PROJECT
    from analytics.incidents.records import get_incident
    from analytics.monitor.alerts import list_alerts
    from analytics.store import open_workspace

    with open_workspace(demo_ws, read_only=True) as ws:
        pid = ws.project_id(WEEKLY_PROJECT)
        alerts = list_alerts(ws.con, pid)
        inc = get_incident(ws.con, pid, 1)
    assert len(alerts) and set(alerts["period_name"]) == {alerts["period_name"].iloc[0]}      # one week only
    assert inc["status"] == "repaired" and inc["corrected_exports"] and inc["alerts"]
    at = app(demo_ws, "incidents", WEEKLY_PROJECT)
    assert_clean(at)
    assert "Incident 1" in texts(at) and "repaired" in texts(at)
    at.switch_page("views/monitoring.py").run()
    assert_clean(at)
    assert "week of" in texts(at)


def _every_page(ws: Path, project: str | None = None) -> list[AppTest]:
    at = app(ws, "overview", project)
    out = [texts(at)]
    assert_clean(at)
    for page in PAGES[1:]:
        at.switch_page(f"views/{page}.py").run()
        assert_clean(at)
        out.append(texts(at))
    return out


def test_without_workspace_only_the_sign_in_page_says_how_to_create_it(tmp_path):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["workspace_path"] = str(tmp_path / "nothing-here")
    at.run()
    assert_clean(at)
    assert "Sign in" in at.title[0].value and "users add NAME --role admin" in texts(at)
    assert not (tmp_path / "nothing-here").exists()


def test_workspace_without_accounts_says_how_to_create_the_first_admin(tmp_path):
    from analytics.store import open_workspace

    open_workspace(tmp_path / "ws").close()
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["workspace_path"] = str(tmp_path / "ws")
    at.run()
    assert_clean(at)
    assert "no accounts yet" in texts(at) and not at.text_input


def test_pages_render_on_workspace_without_projects(tmp_path):
    from analytics.store import open_workspace

    with open_workspace(tmp_path / "ws") as ws:
        add_accounts(ws)
    for page, text in zip(PAGES, _every_page(tmp_path / "ws"), strict=True):
        if page != "data":
            assert "no projects yet" in text, page


def test_unanalysed_project_offers_to_analyse(fixture_ws):
    at = app(fixture_ws, "overview", "untimed")
    for page in PAGES[1:5]:
        at.switch_page(f"views/{page}.py").run()
        assert_clean(at)
        assert "no analysis yet" in texts(at), page
        assert any("Analyse this project now" in b.label for b in at.button), page


# -- widgets change what is shown --------------------------------------------------------------

def test_overview_numbers_and_changes(fixture_ws):
    at = app(fixture_ws)
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Labels"] == "1,640" and metrics["Workers"] == "40"
    assert metrics["Suspect workers"] == "4"          # 3 suspect + 1 banned
    assert metrics["Newly suspect workers"] == "2"    # the colluders, flagged only by run 2
    assert metrics["Consensus labels changed"] == "12"
    assert len(at.get("plotly_chart")) >= 3


def test_project_picker_persists_across_pages(fixture_ws):
    at = app(fixture_ws)
    at.sidebar.selectbox(key="project").set_value("untimed").run()
    assert "untimed" in at.title[0].value
    at.switch_page("views/items.py").run()
    assert "untimed" in at.title[0].value
    assert at.query_params["project"] == ["untimed"] or at.query_params["project"] == "untimed"


def test_workers_filters_and_detail(fixture_ws):
    at = app(fixture_ws, "workers")
    assert_clean(at)
    table = at.dataframe[0].value
    assert len(table) == 40 and table["worker"].iloc[0] == "w_bot"   # lowest trust first
    at.multiselect(key="w_verdicts").set_value(["suspect"]).run()
    assert set(at.dataframe[0].value["verdict"]) == {"suspect"}
    assert set(at.dataframe[0].value["worker"]) == {"w_flip", "w_c1", "w_c2"}
    at.selectbox(key="w_signal").set_value("coerror").run()
    assert set(at.dataframe[0].value["worker"]) == {"w_c1", "w_c2"}
    at.selectbox(key="worker_pick").set_value("w_c1").run()
    assert_clean(at)
    assert any("Worker w_c1" in s.value and "suspect" in s.value for s in at.subheader)
    charts = len(at.get("plotly_chart"))
    assert charts >= 5     # scatter, confusion, timeline, speed, overlap
    assert any("coerror" in e.label for e in at.expander)
    assert at.query_params["worker"] in (["w_c1"], "w_c1")


def test_workers_detail_from_url(fixture_ws):
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["workspace_path"] = str(fixture_ws)
    at.run()
    sign_in(at, "viewer", PASSWORDS["viewer"])
    at.switch_page("views/workers.py")
    at.query_params["worker"] = "w_bot"
    at.run()
    assert_clean(at)
    assert any("Worker w_bot" in s.value and "banned" in s.value for s in at.subheader)


def test_items_filters_detail_and_link_to_worker(fixture_ws):
    at = app(fixture_ws, "items")
    assert_clean(at)
    risky = len(at.dataframe[0].value)
    assert risky == 51 and at.dataframe[0].value["suspect"].all()
    at.toggle(key="i_suspect").set_value(False).run()
    assert len(at.dataframe[0].value) == 300
    at.selectbox(key="i_label").set_value("cat").run()
    assert set(at.dataframe[0].value["label"]) == {"cat"}
    task = at.dataframe[0].value["task"].iloc[0]
    at.selectbox(key="item_pick").set_value(task).run()
    assert_clean(at)
    assert any(f"Item {task}" in s.value for s in at.subheader)
    answers = at.dataframe[1].value
    assert len(answers) >= 1 and {"worker", "trust", "verdict"} <= set(answers.columns)
    at.selectbox(key="item_worker").set_value(answers["worker"].iloc[0]).run()
    assert_clean(at)
    assert "Workers" in at.title[0].value
    assert any(f"Worker {answers['worker'].iloc[0]}" in s.value for s in at.subheader)


def test_collusion_community_detail(fixture_ws):
    at = app(fixture_ws, "collusion")
    assert_clean(at)
    assert any("Community 1" in s.value for s in at.subheader)
    assert {m.label: m.value for m in at.metric}["Co-errors"] == "45"
    at.selectbox(key="community_pick").set_value(2).run()
    assert_clean(at)
    assert any("Community 2" in s.value for s in at.subheader)
    assert {m.label: m.value for m in at.metric}["Members"] == "3"


def test_agreement_matrix_size_follows_slider(fixture_ws):
    at = app(fixture_ws, "agreement")
    assert_clean(at)
    assert {m.label: m.value for m in at.metric}["Krippendorff's α (nominal)"] == "0.610"
    at.slider(key="a_top").set_value(10).run()
    assert_clean(at)
    import json

    heat = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(heat["data"][0]["x"]) <= 10


def test_data_page_history_gold_labels(fixture_ws):
    at = app(fixture_ws, "data")
    assert_clean(at)
    frames = [d.value for d in at.dataframe]
    hist = next(f for f in frames if "sha256" in f.columns)
    assert hist["rows_quarantined"].iloc[0] == 2
    assert any("reason" in f.columns and len(f) == 2 for f in frames)         # quarantined rows with reasons
    assert any("source" in f.columns and f["items"].iloc[0] == 30 for f in frames)   # gold
    assert any("declared" in f.columns and set(f["label"]) == {"cat", "dog", "fox"} for f in frames)


def test_settings_save_and_analyse(tmp_path, fixture_ws):
    ws = tmp_path / "ws"
    shutil.copytree(fixture_ws, ws)
    at = app(ws, "settings", "untimed")
    assert_clean(at)
    assert any("none yet" in m.value for m in at.markdown)
    at.radio(key="s_method").set_value("mv")
    at.selectbox(key="s_evidence_method").set_value("mv")
    at.button(key="FormSubmitter:settings_form-Save and re-analyse").click().run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    from analytics.store import open_workspace

    with open_workspace(ws, read_only=True) as w:
        rows = w.con.execute("SELECT r.method, r.status, p.settings->'trust'->>'method', "
                             "p.settings->'trust'->>'evidence_method' FROM runs r JOIN projects p "
                             "USING (project_id) WHERE p.name = 'untimed'").fetchall()
    assert rows == [("mv", "complete", "mv", "mv")]
    at.run()
    assert "run" in at.sidebar.caption[0].value.lower()


def test_analysis_needs_the_analyst_role(fixture_ws, tmp_path):
    at = app(fixture_ws, "overview", "untimed", user="viewer")
    assert_clean(at)
    assert not any(b.key == "overview_analyze" for b in at.button)
    assert "An analyst, manager or admin can run the analysis" in texts(at)
    at = app(fixture_ws, "overview", "untimed", user="analyst")
    assert any(b.key == "overview_analyze" for b in at.button)


def test_workspace_of_an_older_version_is_migrated_on_first_read(demo_ws, tmp_path):
    """A schema-1 workspace (before runs recorded their process) opens in the app: the first
    read migrates it instead of failing on the new columns."""
    import duckdb

    from analytics.store import DB_NAME, SCHEMA_VERSION

    old = tmp_path / "old"
    shutil.copytree(demo_ws, old)
    con = duckdb.connect(str(old / DB_NAME))
    con.execute("ALTER TABLE runs DROP COLUMN host")
    con.execute("ALTER TABLE runs DROP COLUMN pid")
    con.execute("DROP TABLE accounts")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["workspace_path"] = str(old)
    at.run()                                   # the sign-in page reads the accounts: that read migrates
    assert_clean(at)
    assert "no accounts yet" in texts(at)
    from analytics.access import bootstrap_admin
    from analytics.store import open_workspace

    with open_workspace(old) as ws:
        bootstrap_admin(ws, "admin", PASSWORDS["admin"])
    at = app(old, "settings", "reviews-simulated")
    assert_clean(at)
    con = duckdb.connect(str(old / DB_NAME), read_only=True)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    con.close()


def test_overview_says_no_times_instead_of_none(fixture_ws):
    """The workspace table of the Overview names a project without timestamps, never "None"."""
    at = app(fixture_ws, "overview", "untimed")
    assert_clean(at)
    table = next(d.value for d in at.dataframe if "first_at" in d.value.columns)
    row = table[table["name"] == "untimed"].iloc[0]
    assert (row["first_at"], row["last_at"]) == ("no times", "no times")
    assert not table.astype(str).isin(["None", "NaT", "nan"]).any().any()
