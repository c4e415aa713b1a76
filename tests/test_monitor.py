"""Quality over time and alert rules: the per-period numbers, the rules' tests, evaluation after
ingest and analysis, storage, acknowledgement, the pager file, and quiet honest crowds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from auth_support import accounts_at, me
from scipy import stats

from analytics.access import AccessDenied
from analytics.errors import UserError
from analytics.monitor import alerts as al
from analytics.monitor.rules import AlertSettings, baseline_sums, evaluate, thresholds
from analytics.monitor.series import chi2_shift, period_unit, quality_series, wilson
from analytics.redteam.batches import plant_in_batch, synthetic_weeks, weekly_batches
from analytics.redteam.replay import replay_batches
from analytics.redteam.weekly_crowds import SHAPES, weekly_crowd
from analytics.store import open_workspace
from tests.conftest import load_dataset

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory):
    """Five clean weeks of a steady crowd, then a week with planted random spammers."""
    labels, gold = weekly_crowd("steady", seed=5, n_weeks=6, items_per_week=200)
    batches = weekly_batches(labels)
    planted = plant_in_batch(batches[-1].frame, "random", share=0.3, seed=5, gold=gold,
                             avoid_workers=set(labels["worker"]))
    root = tmp_path_factory.mktemp("mon")
    frames = [b.frame for b in batches[:-1]] + [planted.frame]
    rep = replay_batches(accounts_at(root / "ws"), "p", frames, [b.name for b in batches], root / "files", gold=gold,
                         deliver_dir=root / "deliveries", actor=me("manager"))
    return {"ws": root / "ws", "root": root, "rep": rep, "planted": planted, "batches": batches, "gold": gold,
            "labels": labels}


# -- the per-period numbers -------------------------------------------------------------------

def test_series_counts_gold_and_alpha_match_direct_computation(poisoned):
    from analytics.agreement import krippendorff_alpha
    from analytics.dataset import from_frame

    with open_workspace(poisoned["ws"], read_only=True) as ws:
        pid = ws.project_id("p")
        s = quality_series(ws.con, pid)
    assert s.attrs["unit"] == "week" and len(s) == 6
    frames = [b.frame for b in poisoned["batches"][:-1]] + [poisoned["planted"].frame]
    gold = poisoned["gold"].set_index("task")["label"]
    seen: set[str] = set()
    for row, f in zip(s.itertuples(index=False), frames, strict=True):
        assert row.labels == len(f) and row.workers == f["worker"].nunique() and row.tasks == f["task"].nunique()
        assert row.new_workers == len(set(f["worker"]) - seen)
        seen |= set(f["worker"])
        g = f[f["task"].isin(gold.index)]
        assert row.gold_n == len(g) and row.gold_correct == int((g["label"] == gold.reindex(g["task"]).to_numpy()).sum())
        ci = stats.binomtest(int(row.gold_correct), int(row.gold_n)).proportion_ci(method="wilson")
        assert row.gold_lo == pytest.approx(ci.low, abs=1e-4) and row.gold_hi == pytest.approx(ci.high, abs=1e-4)
        assert row.alpha == pytest.approx(krippendorff_alpha(from_frame(f[["task", "worker", "label"]])), abs=1e-9)


def test_period_unit_by_span_and_ingest_without_times(workspace, tmp_path):
    from analytics.ingest import ingest_file

    short = pd.DataFrame({"task": ["a", "b", "a", "b"], "worker": ["x", "x", "y", "y"], "label": ["1", "0", "1", "1"],
                          "submitted_at": ["2025-01-01T10:00:00Z", "2025-01-05T10:00:00Z", "2025-01-02T10:00:00Z",
                                           "2025-01-03T10:00:00Z"]})
    short.to_csv(tmp_path / "s.csv", index=False)
    ingest_file(workspace, tmp_path / "s.csv", "short", actor=me("analyst"))
    assert period_unit(workspace.con, workspace.project_id("short")) == "day"
    long = short.assign(submitted_at=["2025-01-01T10:00:00Z", "2025-03-05T10:00:00Z", "2025-01-02T10:00:00Z",
                                      "2025-02-03T10:00:00Z"])
    long.to_csv(tmp_path / "l.csv", index=False)
    ingest_file(workspace, tmp_path / "l.csv", "long", actor=me("analyst"))
    assert period_unit(workspace.con, workspace.project_id("long")) == "week"
    short.drop(columns="submitted_at").to_csv(tmp_path / "u.csv", index=False)
    ingest_file(workspace, tmp_path / "u.csv", "untimed", actor=me("analyst"))
    pid = workspace.project_id("untimed")
    assert period_unit(workspace.con, pid) == "ingest"
    s = quality_series(workspace.con, pid)
    assert s["period"].tolist() == [3] and s["name"].iloc[0].startswith("ingest 3")
    assert s["alpha"].notna().all()


def test_wilson_and_chi2_helpers():
    lo, hi = wilson([0, 5, 10], [10, 10, 10])
    for k, a, b in zip([0, 5, 10], lo, hi, strict=True):
        ci = stats.binomtest(k, 10).proportion_ci(method="wilson")
        assert a == pytest.approx(ci.low) and b == pytest.approx(ci.high)
    tv, p = chi2_shift([50, 50, 0], [50, 50, 0])
    assert tv == 0 and p == pytest.approx(1.0)
    tv, p = chi2_shift([90, 10], [50, 50])
    assert tv == pytest.approx(0.4) and p < 1e-8


# -- the rules ----------------------------------------------------------------------------------

def _series(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {"period": np.arange(n), "labels": [200] * n, "workers": [40] * n, "new_workers": [3] * n,
            "new_worker_labels": [20] * n, "gold_n": [0] * n, "gold_correct": [0] * n}
    base.update(cols)
    df = pd.DataFrame(base)
    lo, hi = wilson(df["gold_correct"], df["gold_n"])
    with np.errstate(invalid="ignore", divide="ignore"):
        df["gold_accuracy"] = df["gold_correct"] / df["gold_n"]
    df["gold_lo"], df["gold_hi"] = lo, hi
    return df


def test_baseline_sums_use_the_trailing_qualifying_periods():
    s = _series(labels=[100, 10, 100, 100, 100, 100, 100], gold_n=[1, 2, 3, 4, 5, 6, 7])
    b = baseline_sums(s, ["gold_n"], AlertSettings(baseline_periods=2, min_history=2, min_period_labels=50))
    # period 1 (10 labels) is neither tested nor part of a baseline
    assert b["gold_n"].tolist() == [0, 1, 1, 4, 7, 9, 11]
    assert b["history"].tolist() == [0, 1, 1, 2, 2, 2, 2]
    assert b["testable"].tolist() == [False, False, False, True, True, True, True]


def test_gold_rule_fires_on_a_significant_drop_only():
    ok = _series(gold_n=[100] * 6, gold_correct=[85, 80, 84, 82, 79, 83])
    assert evaluate(ok, pd.DataFrame(columns=["period", "label", "n"]), AlertSettings(), 3).empty
    bad = _series(gold_n=[100] * 6, gold_correct=[85, 80, 84, 82, 79, 60])
    fired = evaluate(bad, pd.DataFrame(columns=["period", "label", "n"]), AlertSettings(), 3)
    assert fired["rule"].tolist() == ["gold_accuracy"] and fired["period"].tolist() == [5]
    assert fired["evidence"].iloc[0]["baseline_accuracy"] == pytest.approx((80 + 84 + 82 + 79) / 400)
    # a 10-point drop on 20 gold labels is not significant at 0.001
    small = _series(gold_n=[100] * 5 + [30], gold_correct=[85, 80, 84, 82, 79, 22])
    assert evaluate(small, pd.DataFrame(columns=["period", "label", "n"]), AlertSettings(), 3).empty


def _run_cols(df, suspect_workers, suspect_labels):
    return df.assign(suspect_workers=suspect_workers, suspect_labels=suspect_labels, agree=150, judged=200,
                     agree_new=15, judged_new=20, new_suspect_workers=0)


def test_suspect_share_rule_compares_a_crowd_with_itself():
    counts = pd.DataFrame(columns=["period", "label", "n"])
    steady_bad = _run_cols(_series(labels=[200] * 6), [16, 17, 15, 16, 17, 16], [80, 85, 78, 80, 82, 81])
    assert evaluate(steady_bad, counts, AlertSettings(), 3).empty       # 40% suspects all along: the crowd
    jump = _run_cols(_series(labels=[200] * 6), [1, 2, 1, 1, 2, 12], [5, 8, 4, 6, 7, 70])
    fired = evaluate(jump, counts, AlertSettings(), 3)
    assert fired["rule"].tolist() == ["suspect_share"] and fired["period"].tolist() == [5]
    # one busy suspect worker is not a change: the worker is the unit of the test
    one = _run_cols(_series(labels=[200] * 6), [1, 2, 1, 1, 2, 2], [5, 8, 4, 6, 7, 90])
    assert evaluate(one, counts, AlertSettings(), 3).empty
    # covered=False: the run has not seen the period yet
    assert evaluate(jump, counts, AlertSettings(), 3, covered=np.zeros(6, bool)).empty


def test_drift_rule_subtracts_the_items_own_shift():
    s = _run_cols(_series(labels=[300] * 6), [1] * 6, [5] * 6)
    mk = lambda rows: pd.DataFrame([(p, c, n) for p, cs in enumerate(rows) for c, n in zip("ab", cs, strict=True)],  # noqa: E731
                                   columns=["period", "label", "n"])
    labels = mk([[150, 150]] * 5 + [[270, 30]])
    fired = evaluate(s, labels, AlertSettings(), 2, consensus_counts=mk([[150, 150]] * 6), rules=["label_drift"])
    assert fired["rule"].tolist() == ["label_drift"]
    # the items themselves moved (their consensus moved as much): no alert
    assert evaluate(s, labels, AlertSettings(), 2, consensus_counts=mk([[150, 150]] * 5 + [[265, 35]]),
                    rules=["label_drift"]).empty


def test_thresholds_give_the_chart_lines():
    s = _run_cols(_series(gold_n=[100] * 6, gold_correct=[80] * 6), [2] * 6, [10] * 6)
    t = thresholds(s, AlertSettings(), 3)
    assert t["gold_drop_line"].isna().tolist() == [True, True, False, False, False, False]
    assert t["gold_drop_line"].iloc[-1] == pytest.approx(0.7)
    assert t["suspect_share_line"].iloc[-1] == pytest.approx(0.05 + 0.05)


def test_settings_validate_and_round_trip():
    s = AlertSettings(p_value=0.01, enabled_rules=["gold_accuracy"])
    assert AlertSettings.from_dict(s.to_dict()) == s
    with pytest.raises(UserError, match="unknown alert setting"):
        AlertSettings.from_dict({"nope": 1})
    with pytest.raises(UserError, match="out of range"):
        AlertSettings(p_value=2.0)
    with pytest.raises(UserError, match="unknown alert rule"):
        AlertSettings(enabled_rules=["magic"])


# -- evaluation, storage, paging -----------------------------------------------------------------

def test_alerts_fire_after_the_poisoned_week_only_and_name_the_attackers(poisoned):
    rep, planted = poisoned["rep"], poisoned["planted"]
    assert rep.first_alert_batch() == len(poisoned["batches"]) - 1
    week = poisoned["batches"][-1].start
    named = set()
    for a in rep.alerts[-1]:
        assert pd.Timestamp(a["period"]["start"]) == week
        assert a["evidence"]["period"]["name"] == f"week of {week:%Y-%m-%d}"
        named |= set(a["workers"])
    hit = named & set(planted.workers)
    assert len(hit) >= 0.8 * len(planted.workers), (len(hit), len(planted.workers))
    assert len(named - set(planted.workers)) <= 1


def test_each_period_is_judged_once_and_the_pager_file_has_one_line_per_alert(poisoned):
    ws_path = poisoned["ws"]
    with open_workspace(ws_path) as ws:
        assert al.evaluate(ws, "p", actor=me("analyst"), trigger="again") == []
        n = len(al.list_alerts(ws.con, ws.project_id("p")))
    lines = [json.loads(x) for x in (ws_path / "alerts.jsonl").read_text().splitlines()]
    raised = [x for x in lines if x["event"] == "alert"]
    assert len(raised) == n and {x["project"] for x in raised} == {"p"}
    assert all({"alert_id", "rule", "raised_at", "message", "workers", "audit"} <= set(x) for x in raised)


def test_ingest_alone_raises_agreement_alerts_and_run_rules_wait_for_an_analysis(tmp_path):
    labels, gold = weekly_crowd("steady", seed=9, n_weeks=5, items_per_week=150)
    batches = weekly_batches(labels)
    planted = plant_in_batch(batches[-1].frame, "random", share=0.4, seed=1, gold=gold,
                             avoid_workers=set(labels["worker"]))
    frames = [b.frame for b in batches[:-1]]
    replay_batches(accounts_at(tmp_path / "ws"), "p", frames, [b.name for b in batches[:-1]], tmp_path / "f", gold=gold,
                   actor=me("analyst"))
    rep = replay_batches(tmp_path / "ws", "p", [planted.frame], ["last"], tmp_path / "f", start=4, analyze=False,
                         actor=me("analyst"))
    # right after the ingest: the rules that need no run, new accounts judged by the other answers
    after_ingest = {a["rule"] for a in rep.alerts[-1]}
    assert "new_accounts" in after_ingest and not after_ingest & {"suspect_share", "label_drift", "collusion"}
    assert "other answers on the same items" in rep.alerts[-1][0]["message"] or "gold" in rep.alerts[-1][0]["rule"]
    assert set(rep.alerts[-1][-1]["workers"]) <= set(planted.workers) | set(labels["worker"])
    from analytics.pipeline import analyze

    with open_workspace(tmp_path / "ws") as ws:
        pid = ws.project_id("p")
        state = ws.con.execute("SELECT data_ingest_id, run_ingest_id FROM monitor_state WHERE project_id = ?",
                               [pid]).fetchone()
        assert state == (5, 4)                       # the run rules have not seen the last ingest
        run = analyze(ws, "p", actor=me("analyst"))
        state = ws.con.execute("SELECT data_ingest_id, run_ingest_id, run_id FROM monitor_state WHERE project_id = ?",
                               [pid]).fetchone()
        assert state == (5, 5, run)                  # ... until an analysis covers it
        assert len(al.list_alerts(ws.con, pid)) >= len(rep.alerts[-1])


def test_acknowledge_is_audited_and_paged(poisoned, tmp_path):
    import shutil

    from analytics import audit

    ws_path = tmp_path / "copy"
    shutil.copytree(poisoned["ws"], ws_path)
    with open_workspace(ws_path) as ws:
        pid = ws.project_id("p")
        aid = int(al.list_alerts(ws.con, pid)["alert_id"].iloc[0])
        with pytest.raises(AccessDenied, match="sign in first"):
            al.acknowledge(ws, "p", aid, "manager", "x")              # a typed name is not an account
        with pytest.raises(AccessDenied, match="viewer and may not acknowledge alerts"):
            al.acknowledge(ws, "p", aid, me("viewer"), "x")
        ev = al.acknowledge(ws, "p", aid, me("manager"), "looked at it")
        row = ws.con.execute("SELECT actor, action, target_kind, target, reason FROM actions WHERE seq = ?",
                             [ev["audit"]["seq"]]).fetchone()
        assert row == ("manager", "acknowledge", "alert", str(aid), "looked at it")
        assert al.get_alert(ws.con, pid, aid)["status"] == "acknowledged"
        with pytest.raises(UserError, match="already acknowledged"):
            al.acknowledge(ws, "p", aid, me("analyst"), "")
        with pytest.raises(UserError, match="no alert 9999"):
            al.get_alert(ws.con, pid, 9999)
        assert audit.verify(ws.con, ws_path / audit.ANCHOR_NAME).ok
    last = json.loads((ws_path / "alerts.jsonl").read_text().splitlines()[-1])
    assert last["event"] == "acknowledge" and last["alert_id"] == aid and last["by"] == "manager"


def test_alert_settings_are_saved_with_an_audit_entry(workspace, tmp_path):
    from analytics.ingest import ingest_file

    pd.DataFrame({"task": ["a"], "worker": ["x"], "label": ["1"]}).to_csv(tmp_path / "a.csv", index=False)
    ingest_file(workspace, tmp_path / "a.csv", "p", actor=me("analyst"))
    with pytest.raises(AccessDenied, match="manager and may not change settings"):
        al.save_settings(workspace, "p", AlertSettings(p_value=0.0001), me("manager"))
    al.save_settings(workspace, "p", AlertSettings(p_value=0.0001), me("admin"))
    assert al.load_settings(workspace.con, workspace.project_id("p")).p_value == 0.0001
    assert workspace.con.execute("SELECT count(*) FROM actions WHERE action = 'alert_rules'").fetchone()[0] == 1


def cli(*args):
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_cli_monitor_and_alerts(poisoned):
    res = cli("monitor", "--project", "p", "--workspace", poisoned["ws"])
    assert res.returncode == 0 and "week of" in res.stdout and "suspect label share" in res.stdout
    res = cli("alerts", "--project", "p", "--workspace", poisoned["ws"], "--json")
    data = json.loads(res.stdout)
    assert data and all({"id", "rule", "time", "evidence"} <= set(a) for a in data)
    res = cli("alerts", "--project", "nope", "--workspace", poisoned["ws"])
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "no project named" in res.stderr


# -- honest crowds stay quiet -------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES)
def test_honest_crowd_shapes_raise_no_alert(shape, tmp_path):
    labels, gold = weekly_crowd(shape, seed=11, n_weeks=6, items_per_week=150)
    batches = weekly_batches(labels)
    rep = replay_batches(accounts_at(tmp_path / "ws"), "p", [b.frame for b in batches], [b.name for b in batches],
                         tmp_path / "f", gold=gold, actor=me("analyst"))
    assert rep.alerts[-1] == [], [a["message"] for a in rep.alerts[-1]]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["act_SP_amt", "zheng_sentiment"])
def test_real_datasets_on_a_weekly_timeline_raise_no_alert(name, tmp_path):
    labels, gold = load_dataset(name)
    labels = labels.rename(columns={"time_spent_s": "duration_s"}).drop_duplicates(["task", "worker"], keep="last")
    weeks = synthetic_weeks(labels[[c for c in ("task", "worker", "label", "duration_s") if c in labels]],
                            n_weeks=6, seed=2)
    batches = weekly_batches(weeks)
    rep = replay_batches(accounts_at(tmp_path / "ws"), "p", [b.frame for b in batches], [b.name for b in batches],
                         tmp_path / "f", gold=gold, actor=me("analyst"))
    assert rep.alerts[-1] == [], [a["message"] for a in rep.alerts[-1]]


def test_turned_accounts_rule_finds_workers_worse_than_their_own_history():
    from analytics.monitor.rules import turned_workers

    rows = []
    for w in range(30):                       # 30 established workers, 80% agreement, 20 labels a period
        for p in range(6):
            k = 16 if not (p == 5 and w < 4) else 6         # four of them collapse in the last period
            k = 20 if (w == 10 and p < 5) else k             # perfect before, 80% now: not a turn
            rows.append((p, f"w{w}", 20, k))
    wpa = pd.DataFrame(rows, columns=["period", "worker", "n", "k"])
    s = _run_cols(_series(labels=[600] * 6, workers=[30] * 6), [0] * 6, [0] * 6)
    t = turned_workers(wpa, AlertSettings())
    assert sorted(t.loc[t["turned"], "worker"]) == ["w0", "w1", "w2", "w3"]
    assert set(t.loc[t["turned"], "period"]) == {5}
    fired = evaluate(s, pd.DataFrame(columns=["period", "label", "n"]), AlertSettings(), 2, worker_agreement=wpa,
                     rules=["turned_accounts"])
    assert fired["period"].tolist() == [5] and fired["evidence"].iloc[0]["turned_workers"] == ["w0", "w1", "w2", "w3"]
    quiet = wpa.assign(k=16)
    hard = wpa.assign(k=np.where(wpa["period"] == 5, 9, 16))          # a hard week for everybody
    assert not turned_workers(hard, AlertSettings())["turned"].any()
    assert evaluate(s, pd.DataFrame(columns=["period", "label", "n"]), AlertSettings(), 2, worker_agreement=quiet,
                    rules=["turned_accounts"]).empty


def test_schema_4_workspace_gains_the_monitoring_tables_and_the_migration_is_idempotent(tmp_path):
    """Schema 4 (accounts) -> 5 (alert rules, monitor state, alerts, incidents): an older
    workspace gains the tables with its accounts kept; a half-applied copy (tables there, stamp
    still 4) migrates again without an error."""
    import duckdb

    from analytics.store import DB_NAME, MIGRATIONS, SCHEMA_VERSION

    assert SCHEMA_VERSION == 5 and len(MIGRATIONS) == 5 and "CREATE TABLE IF NOT EXISTS alerts" in MIGRATIONS[4]
    tables = ["alerts", "alert_rules", "monitor_state", "incidents", "incident_links"]
    accounts_at(tmp_path / "ws")
    con = duckdb.connect(str(tmp_path / "ws" / DB_NAME))
    for t in tables:
        con.execute(f"DROP TABLE {t}")
    con.execute("DROP SEQUENCE alert_seq")
    con.execute("DROP SEQUENCE incident_seq")
    con.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    con.close()
    for _ in range(2):                        # the second time: tables present, stamp lowered again
        with open_workspace(tmp_path / "ws") as ws:
            have = {r[0] for r in ws.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            assert set(tables) <= have
            assert ws.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "5"
            assert ws.con.execute("SELECT count(*) FROM accounts").fetchone()[0] > 0
            assert ws.con.execute("SELECT nextval('alert_seq')").fetchone()[0] >= 1
        con = duckdb.connect(str(tmp_path / "ws" / DB_NAME))
        con.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
        con.close()
