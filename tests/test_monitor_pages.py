"""AppTest of the Monitoring and Incidents pages, the Overview's alert box and the alert-rules form:
they render without an exception on a project with alerts and on one without, and their buttons
acknowledge an alert, open, contain and close an incident, and save the rules."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from auth_support import PASSWORDS, accounts_at, me
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app" / "streamlit_app.py")


@pytest.fixture(scope="module")
def weekly_ws(tmp_path_factory) -> Path:
    from analytics.redteam.batches import plant_in_batch, weekly_batches
    from analytics.redteam.replay import replay_batches
    from analytics.redteam.weekly_crowds import weekly_crowd

    labels, gold = weekly_crowd("steady", seed=4, n_weeks=5, items_per_week=120)
    batches = weekly_batches(labels)
    planted = plant_in_batch(batches[-1].frame, "random", share=0.4, seed=4, gold=gold,
                             avoid_workers=set(labels["worker"]))
    root = tmp_path_factory.mktemp("pages")
    frames = [b.frame for b in batches[:-1]] + [planted.frame]
    rep = replay_batches(accounts_at(root / "ws"), "weekly", frames, [b.name for b in batches], root / "f", gold=gold,
                         deliver_dir=root / "d", actor=me("manager"))
    replay_batches(root / "ws", "quiet", [b.frame for b in batches[:2]], ["q0", "q1"], root / "f2", gold=gold,
                   actor=me("analyst"))
    assert rep.alerts[-1]
    return root / "ws"


@pytest.fixture
def ws(weekly_ws, tmp_path) -> Path:
    shutil.copytree(weekly_ws, tmp_path / "ws")
    return tmp_path / "ws"


def app(ws: Path, page: str, project: str, user: str = "manager") -> AppTest:
    """The dashboard on ``ws`` signed in as ``user`` through the sign-in form, on ``page``."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["workspace_path"] = str(ws)
    at.session_state["project"] = project
    at.run()
    at.text_input(key="signin_name").input(user)
    at.text_input(key="signin_password").input(PASSWORDS[user])
    at.button(key="FormSubmitter:signin-Sign in").click().run()
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    return at


def clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error], [e.value for e in at.error]


def text(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in [*at.markdown, *at.caption, *at.info, *at.success, *at.title])


def test_monitoring_shows_alerts_charts_and_acknowledges(ws):
    at = app(ws, "monitoring", "weekly", user="analyst")
    clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Open alerts"]) >= 1
    assert len(at.get("plotly_chart")) == 7
    assert "what changed" in at.dataframe[0].value.columns or len(at.dataframe[0].value)
    at.text_input(key=next(k for k in at.session_state if str(k).startswith("ack_note_"))).set_value("seen")
    at.button(key=next(b.key for b in at.button if str(b.key).startswith("FormSubmitter:ack_"))).click().run()
    clean(at)
    assert any("acknowledged" in str(s.value) for s in at.success)


def test_monitoring_on_a_quiet_project(ws):
    at = app(ws, "monitoring", "quiet")
    clean(at)
    assert "No alert has been raised" in text(at)


def test_overview_lists_the_alerts(ws):
    at = app(ws, "overview", "weekly")
    clean(at)
    assert "open alert" in text(at)


def test_incidents_open_contain_and_close(ws):
    at = app(ws, "incidents", "weekly")
    clean(at)
    assert "No incidents in this project" in text(at)
    alert_ids = at.multiselect(key="inc_new_alerts").options
    at.multiselect(key="inc_new_alerts").set_value([int(alert_ids[0].split()[1])]).run()
    at.button(key="inc_open").click().run()
    clean(at)
    assert "Incident 1" in text(at)
    at.button(key="inc_contain").click().run()
    clean(at)
    assert any("contained" in str(s.value) for s in at.success)
    at.text_area(key="inc_close_note").set_value("handled")
    at.button(key="FormSubmitter:inc_close_form-Close incident").click().run()
    clean(at)
    assert any("closed" in str(s.value) for s in at.success)
    from analytics.incidents.records import get_incident
    from analytics.store import open_workspace

    with open_workspace(ws, read_only=True) as w:
        inc = get_incident(w.con, w.project_id("weekly"), 1)
    assert inc["status"] == "closed" and inc["opened_by"] == "manager"
    assert [s["action"] for s in inc["steps"]] == ["incident_open", "incident_contain", "incident_close"]


def test_settings_saves_the_alert_rules(ws):
    at = app(ws, "settings", "weekly", user="admin")
    clean(at)
    at.number_input(key="ar_p_value").set_value(0.0001)
    at.button(key="FormSubmitter:alert_rules_form-Save alert rules").click().run()
    clean(at)
    from analytics.monitor.alerts import load_settings
    from analytics.store import open_workspace

    with open_workspace(ws, read_only=True) as w:
        assert load_settings(w.con, w.project_id("weekly")).p_value == pytest.approx(0.0001)


def test_roles_see_the_pages_and_only_their_controls(ws):
    """Every role reads Monitoring and Incidents (both in the navigation); a viewer cannot
    acknowledge, an analyst cannot open or act on incidents, nor change the alert rules."""
    viewer = app(ws, "monitoring", "weekly", user="viewer")
    clean(viewer)
    assert len(viewer.get("plotly_chart")) == 7
    assert not [k for k in viewer.session_state if str(k).startswith("ack_note_")]
    assert "An analyst, manager or admin acknowledges alerts." in text(viewer)
    assert not [b for b in viewer.button if str(b.key).startswith("open_inc_")]
    viewer.switch_page("views/incidents.py").run()
    clean(viewer)
    assert "can read the incidents" in text(viewer) and not [b for b in viewer.button if b.key == "inc_open"]
    analyst = app(ws, "settings", "weekly", user="analyst")
    clean(analyst)
    assert "Only an admin changes the alert rules" in text(analyst)
    assert not [b for b in analyst.button if "alert_rules_form" in str(b.key)]
