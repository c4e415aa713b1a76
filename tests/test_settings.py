"""One validated settings object: from files, recorded with every run, and a run reused only when
data, settings and the analysis code itself are unchanged."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

import analytics
from analytics.demo import simulate_reviews
from analytics.errors import UserError
from analytics.ingest import ingest_file
from analytics.pipeline import analyze, project_settings, save_project_settings
from analytics.settings import AnalysisSettings, load_settings_file
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def labels_csv(tmp_path_factory):
    labels, _, _ = simulate_reviews(n_tasks=400, n_honest=30)
    path = tmp_path_factory.mktemp("sim") / "labels.csv"
    labels.to_csv(path, index=False)
    return path


def test_round_trip_and_every_group_reaches_its_detector():
    s = AnalysisSettings.from_dict({"trust": {"fdr_q": 0.05}, "reliability": {"chance_margin": 0.15},
                                    "behaviour": {"burst": {"min_rate_ratio": 4.0}, "enabled": ["burst", "drift"]},
                                    "collusion": {"cotiming_window_s": 5.0}})
    assert s.trust.fdr_q == 0.05 and s.reliability.chance_margin == 0.15
    assert s.behaviour.burst.min_rate_ratio == 4.0 and s.behaviour.enabled == ("burst", "drift")
    assert s.collusion.cotiming_window_s == 5.0
    assert AnalysisSettings.from_dict(json.loads(json.dumps(s.to_dict()))).to_dict() == s.to_dict()
    # the flat verdict-only form of projects saved before this object existed still loads
    assert AnalysisSettings.from_dict({"fdr_q": 0.02, "method": "mv"}).trust.method == "mv"


@pytest.mark.parametrize("bad, word", [
    ({"trust": {"fdr_q": 5}}, "fdr_q"), ({"collusion": {"edge_alpha": 2.0}}, "edge_alpha"),
    ({"behaviour": {"burst": {"alpha": 3.0}}}, "alpha"), ({"reliability": {"nope": 1}}, "nope"),
    ({"behaviour": {"drift": {"min_labels": 2.5}}}, "min_labels"), ({"colusion": {}}, "colusion"),
])
def test_bad_values_are_refused_at_the_boundary(bad, word):
    with pytest.raises(UserError, match=word):
        AnalysisSettings.from_dict(bad)


def test_settings_files_toml_and_json(tmp_path):
    t = tmp_path / "s.toml"
    t.write_text("[trust]\nfdr_q = 0.05\n\n[behaviour.burst]\nmin_rate_ratio = 4.0\n")
    assert load_settings_file(t).behaviour.burst.min_rate_ratio == 4.0
    j = tmp_path / "s.json"
    j.write_text(json.dumps({"collusion": {"min_cotimed": 5}}))
    assert load_settings_file(j).collusion.min_cotimed == 5
    (tmp_path / "bad.toml").write_text("[trust\nfdr_q = ")
    with pytest.raises(UserError, match="bad.toml"):
        load_settings_file(tmp_path / "bad.toml")
    (tmp_path / "range.toml").write_text("[trust]\nfdr_q = 5\n")
    with pytest.raises(UserError, match="range.toml.*fdr_q"):
        load_settings_file(tmp_path / "range.toml")


def test_cli_run_settings_file_changes_the_run_and_bad_file_exits_2(tmp_path, labels_csv):
    strict = tmp_path / "strict.toml"
    strict.write_text("[trust]\nsignal_weights = { burst = 0.0, drift = 0.0, coerror = 0.0, community = 0.0, "
                      "cotiming = 0.0, near_chance = 0.0, class_flip = 0.0, adversarial = 0.0, fast = 0.0 }\n")
    outs = {}
    for name, extra in (("default", []), ("strict", ["--settings", str(strict)])):
        out = tmp_path / name
        r = subprocess.run([sys.executable, "-m", "analytics", "run", str(labels_csv), "--out", str(out), "--quiet",
                            *extra], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        outs[name] = pd.read_csv(out / "workers.csv")
    assert outs["default"]["suspect"].sum() > 0
    assert outs["strict"]["suspect"].sum() < outs["default"]["suspect"].sum()
    bad = tmp_path / "bad.toml"
    bad.write_text("[trust]\nfdr_q = 5\n")
    r = subprocess.run([sys.executable, "-m", "analytics", "run", str(labels_csv), "--out", str(tmp_path / "x"),
                        "--settings", str(bad)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "fdr_q" in r.stderr


def test_a_changed_setting_or_code_reruns_and_is_recorded(workspace, labels_csv, monkeypatch, admin):
    ingest_file(workspace, labels_csv, "sim", actor=admin)
    con = workspace.con
    first = analyze(workspace, "sim", actor=admin)
    assert analyze(workspace, "sim", actor=admin) == first                      # same data, settings and code: reused
    s = project_settings(con, workspace.project_id("sim"))
    s.behaviour.burst.min_rate_ratio = 4.5                          # a detector setting, deep in a group
    save_project_settings(workspace, "sim", s, admin)
    second = analyze(workspace, "sim", actor=admin)
    assert second != first
    params = json.loads(con.execute("SELECT params FROM runs WHERE run_id = ?", [second]).fetchone()[0])
    assert params["settings"]["behaviour"]["burst"]["min_rate_ratio"] == 4.5
    assert analyze(workspace, "sim", actor=admin) == second
    # the analysis code changed (a detector edited): recompute, never return the stale run
    monkeypatch.setattr(analytics, "code_version", lambda: "0.2.0+edited-detector")
    third = analyze(workspace, "sim", actor=admin)
    assert third != second
    version = con.execute("SELECT code_version FROM runs WHERE run_id = ?", [third]).fetchone()[0]
    assert version == "0.2.0+edited-detector"


def test_code_version_is_a_digest_of_the_source(tmp_path):
    v = analytics.code_version()
    assert v.startswith(analytics.__version__ + "+") and len(v.split("+")[1]) == 16


def test_gold_for_evaluation_leaves_trust_and_suspects_unchanged_end_to_end(tmp_path):
    """`run --gold` (evaluation only) gives the same trust and suspects as no gold; `--use-gold`
    uses it and reports accuracy on held-out halves of the gold, not on the answer key it saw."""
    from tests.conftest import dataset_path

    labels = dataset_path("act_SP_amt")
    gold = dataset_path("act_SP_amt", "gold.csv")
    outs = {}
    for name, extra in (("none", []), ("eval", ["--gold", str(gold)]), ("use", ["--gold", str(gold), "--use-gold"])):
        out = tmp_path / name
        r = subprocess.run([sys.executable, "-m", "analytics", "run", str(labels), "--out", str(out), "--quiet",
                            "--map", "duration_s=time_spent_s", *extra], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        outs[name] = (pd.read_csv(out / "workers.csv").set_index("worker"), r.stdout)
    a, b = outs["none"][0], outs["eval"][0]
    pd.testing.assert_series_equal(a["trust"], b["trust"])
    pd.testing.assert_series_equal(a["suspect"], b["suspect"])
    acc_eval = float(outs["eval"][1].split("accuracy on gold ")[1].split(";")[0])
    acc_use = float(outs["use"][1].split("accuracy on gold ")[1].split(";")[0])
    assert 0.9 < acc_eval < 0.99 and acc_use < 0.995      # self-scored it would be 1.0


def test_one_class_project_is_analysed_without_error():
    from analytics.dataset import from_frame
    from analytics.pipeline import analyze_arrays

    df = pd.DataFrame({"task": [f"t{i // 3}" for i in range(60)], "worker": [f"w{i % 7}" for i in range(60)],
                       "label": "yes"})
    df = df.drop_duplicates(["task", "worker"])
    r = analyze_arrays(from_frame(df))
    assert r.workers["trust"].between(0, 1).all() and not r.workers["suspect"].any()
