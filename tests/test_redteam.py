"""Red team: the injector (determinism, untouched input, answer key), the scorecard's metrics
against hand-computed values, the workspace copy and the CLI.

The scorecard tests use a stand-in analysis (agreement with Dawid-Skene labels, suspect
below chance + 0.15) so they exercise the red-team code, not the detectors. The CLI test runs
the product's own analysis (``analytics.pipeline.analyze_arrays`` with the project's saved
settings), as ``python -m analytics redteam`` does for a user.
"""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from auth_support import add_accounts, me
from sklearn.metrics import average_precision_score, roc_auc_score

from analytics.aggregate import aggregate
from analytics.dataset import from_frame, load_project
from analytics.evidence import empty_signals
from analytics.redteam import ATTACKS, inject
from analytics.redteam import scorecard as sc
from analytics.redteam.attacks import new_worker_ids
from analytics.redteam.grid import parse_grid, sweep
from analytics.redteam.workspace import inject_project, load_key


def make_base(n_workers=40, n_tasks=300, per_task=5, acc=0.85, seed=0, times=False, K=2):
    """Honest crowd with gold on every task; ids like MTurk's."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, n_tasks)
    ids = new_worker_ids(np.array(["A1B2C3D4E5F6G7"]), n_workers, rng)
    rows = []
    for t in range(n_tasks):
        ws = rng.choice(n_workers, per_task, replace=False)
        for w in ws:
            lab = truth[t] if rng.random() < acc else (truth[t] + rng.integers(1, K)) % K
            rows.append((f"t{t:04d}", ids[w], str(lab)))
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    if times:
        df["submitted_at"] = 1.7e9 + rng.uniform(0, 86400 * 5, len(df))
        df["duration_s"] = rng.lognormal(3, 0.5, len(df))
    gold = pd.DataFrame({"task": [f"t{t:04d}" for t in range(n_tasks)], "label": truth.astype(str)})
    return from_frame(df, gold=gold)


def standin(d):
    """DS agreement as trust; suspect when agreement < 1/K + 0.15."""
    c = aggregate(d, "ds", use_gold=False)
    n = np.maximum(np.bincount(d.worker, minlength=d.n_workers), 1)
    agree = np.bincount(d.worker, weights=(d.label == c.labels[d.task]), minlength=d.n_workers) / n
    w = pd.DataFrame({"worker": d.worker_ids.astype(str), "trust": agree,
                      "suspect": agree < 1.0 / d.n_classes + 0.15, "reasons": ""})
    return SimpleNamespace(workers=w, consensus=c, signals=empty_signals())


@pytest.fixture(scope="module")
def base():
    return make_base()


def _arrays_equal(a, b):
    return a.fingerprint() == b.fingerprint()


# --------------------------------------------------------------------------- injector

@pytest.mark.parametrize("attack", [*ATTACKS, "all"])
def test_deterministic_and_input_untouched(base, attack):
    before = base.fingerprint()
    a1 = inject(base, attack, share=0.15, seed=3)
    a2 = inject(base, attack, share=0.15, seed=3)
    a3 = inject(base, attack, share=0.15, seed=4)
    assert base.fingerprint() == before
    assert _arrays_equal(a1.data, a2.data)
    pd.testing.assert_frame_equal(a1.key, a2.key)
    assert not _arrays_equal(a1.data, a3.data)
    # key consistent with the data: planted labels are exactly the attackers' labels
    key = a1.key.set_index("worker")
    wid = a1.data.worker_ids.astype(str)[a1.data.worker]
    counted = pd.Series(a1.planted_label).groupby(wid).sum()
    assert int(a1.planted_label.sum()) == int(key["n_attack_labels"].sum())
    assert (counted.reindex(key.index).fillna(0).astype(int) == key["n_attack_labels"]).all()
    assert key["planted"].sum() >= 1
    # gold and task set preserved; the blind copy has no gold
    assert set(a1.data.task_ids) == set(base.task_ids)
    assert a1.data.gold_task.size == base.gold_task.size
    assert a1.blind().gold_task.size == 0


def test_planted_ids_look_real(base):
    att = inject(base, "random", share=0.5, seed=1)
    planted = att.key.loc[att.key["planted"], "worker"]
    real = pd.Series(base.worker_ids.astype(str))
    assert planted.str.len().between(real.str.len().min(), real.str.len().max()).all()
    assert planted.str.match(r"^A[0-9A-Z]+$").all() and real.str.match(r"^A[0-9A-Z]+$").all()
    assert not set(planted) & set(real)
    # codes interleave: planted workers are not all sorted after (or before) the originals
    codes = np.flatnonzero(att.key["planted"].to_numpy())
    assert codes.min() < att.key.shape[0] - len(codes) and codes.max() >= len(codes)


def test_new_ids_use_the_real_alphabet():
    rng = np.random.default_rng(0)
    hexes = np.array([f"{x:08x}" for x in rng.integers(0, 2**32, 50)])
    new = new_worker_ids(hexes, 30, rng)
    assert all(len(x) == 8 and set(x) <= set("0123456789abcdef") for x in new)
    assert not set(new) & set(hexes) and len(set(new)) == 30
    short = new_worker_ids(np.array([f"w{i}" for i in range(1, 767)]), 20, rng)
    assert all(x.startswith("w") and not x.startswith("w0") for x in short)


def test_volumes_drawn_from_real_distribution(base):
    att = inject(base, "random", share=1.0, seed=2)
    real = np.bincount(base.worker)
    vols = att.key.loc[att.key["planted"], "n_labels"].to_numpy()
    assert set(vols) <= set(real[real >= 10])


def test_attack_behaviours_match_key(base):
    K = base.n_classes
    ref = base.gold_vector()
    # constant: one label per attacker
    att = inject(base, "constant", share=0.1, seed=0)
    d, pl = att.data, att.planted_label
    assert all(len(set(d.label[pl & (d.worker == w)])) == 1 for w in np.unique(d.worker[pl]))
    # ABAB pattern in time order
    att = inject(base, "constant", share=0.1, seed=0, pattern="ABAB")
    d = att.data
    for w in np.unique(d.worker[att.planted_label]):
        rows = np.flatnonzero(d.worker == w)
        rows = rows[np.argsort(d.submitted_at[rows], kind="stable")]
        assert (d.label[rows] == np.arange(rows.size) % 2).all()
    # disguised: target items answered with the target class, honest share ~ gamma elsewhere
    att = inject(base, "disguised", share=0.2, seed=0, gamma=0.5, target_share=0.1)
    d = att.data
    c = int(np.flatnonzero(d.classes == att.targets["target_class"].iloc[0])[0])
    tmask = np.isin(d.task_ids[d.task], att.targets["task"].to_numpy())
    assert (ref[d.task[tmask & att.planted_label]] != c).all()      # only items that are not c*
    assert (d.label[tmask & att.planted_label] == c).all()
    for r in att.key[att.key["planted"]].itertuples():
        assert set(r.targets) <= set(att.targets["task"])
    # sybils: low volume, one answer
    att = inject(base, "sybils", share=0.2, seed=0, labels_per_sybil=4)
    sy = att.key[att.key["planted"]]
    assert (sy["n_labels"] == 4).all()
    assert len(set(att.data.label[att.planted_label])) == 1
    # colluders: followers copy the leader on most shared items
    att = inject(base, "colluders", share=0.25, seed=0, group_size=5, noise=0.1)
    assert (att.key.loc[att.key["planted"], "group"] >= 0).all()
    assert att.key.loc[att.key["planted"]].groupby("group").size().min() >= 2
    # campaign: seeks out items of one class, answers another there, honest elsewhere
    b3 = make_base(K=3, n_workers=40, n_tasks=600, seed=3)
    ref3 = b3.gold_vector()
    att = inject(b3, "campaign", share=0.2, seed=0, seek_share=0.5)
    d, pl = att.data, att.planted_label
    dst = int(np.flatnonzero(d.classes == att.targets["target_class"].iloc[0])[0])
    src = int(np.argsort(-np.bincount(ref3, minlength=3), kind="stable")[0])   # the most common class
    on = pl & (ref3[d.task] == src)
    off = pl & (ref3[d.task] != src)
    assert 0.35 < on.sum() / pl.sum() < 0.65                       # sought out: far above the class share
    assert (d.label[on] == dst).mean() > 0.8
    assert (d.label[off] == ref3[d.task[off]]).mean() > 0.75        # a good honest worker elsewhere
    assert set(att.targets["task"]) == set(d.task_ids[d.task[on]])
    # flipper (binary, sens=0): never answers the positive class on positive items
    att = inject(base, "flipper", share=0.2, seed=0)
    d = att.data
    pos = d.planted_label if hasattr(d, "planted_label") else att.planted_label
    assert not (d.label[pos] == K - 1)[ref[d.task[pos]] == K - 1].any()


def test_takeover_changes_only_the_second_half(base):
    att = inject(base, "takeover", share=0.1, seed=5)
    vic = att.key[att.key["planted"]]
    assert vic["modified_original"].all() and len(vic) >= 1
    assert att.data.n == base.n
    d, clean = att.data, att.clean
    t = d.timestamps()
    for r in vic.itertuples():
        w = int(np.flatnonzero(d.worker_ids == r.worker)[0])
        rows = np.flatnonzero(d.worker == w)
        rows = rows[np.lexsort((rows, t[rows]))]
        k = r.takeover_onset_index
        assert k == rows.size // 2
        assert not att.planted_label[rows[:k]].any() and att.planted_label[rows[k:]].all()
        assert (d.label[rows[:k]] == clean.label[rows[:k]]).all()            # same row order as clean
        assert r.takeover_onset_time == pytest.approx(t[rows[k]])


def test_timestamps_synthesised_without_overlap_and_blended_with_times():
    base = make_base(n_workers=20, n_tasks=100)
    att = inject(base, "burst", share=0.1, seed=0, rate_factor=10)
    assert att.synthetic_time and att.data.has_time and not base.has_time
    d = att.data
    t = d.timestamps()
    # honest workers: no two labels at the same second (sessions never overlap)
    for w in range(d.n_workers):
        tw = np.sort(t[(d.worker == w) & ~att.planted_label])
        if tw.size > 1:
            assert np.diff(tw).min() > 0
    honest_gap = np.median(np.diff(np.sort(t[(d.worker == d.worker[~att.planted_label][0]) & ~att.planted_label])))
    bot = d.worker[att.planted_label][0]
    bot_gap = np.median(np.diff(np.sort(t[d.worker == bot])))
    assert bot_gap < honest_gap / 3
    # real timeline kept for originals, planted times inside its range
    timed = make_base(n_workers=20, n_tasks=100, times=True)
    att = inject(timed, "random", share=0.2, seed=0)
    assert not att.synthetic_time
    t0 = timed.timestamps()
    ta = att.data.timestamps()
    assert ta[att.planted_label].min() >= t0.min() and ta[att.planted_label].max() <= t0.max() + 1
    np.testing.assert_allclose(np.sort(ta[~att.planted_label]), np.sort(t0))


def test_user_errors(base):
    from analytics.errors import UserError
    with pytest.raises(UserError, match="unknown attack"):
        inject(base, "nope", share=0.1, seed=0)
    with pytest.raises(UserError, match="no parameter 'gama'"):
        inject(base, "disguised", share=0.1, seed=0, gama=0.5)
    with pytest.raises(UserError, match="share"):
        inject(base, "random", share=0.0, seed=0)


# --------------------------------------------------------------------------- scorecard

def test_recall_at_fpr_hand_example():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], bool)
    s = np.array([0.9, 0.5, 0.2, 0.6, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    # 10 negatives: 1% allows 0 above the threshold -> threshold 0.6 -> only 0.9 caught
    assert sc.recall_at_fpr(y, s, 0.01) == pytest.approx(1 / 3)
    # 10% allows 1 negative above -> threshold 0.3 -> 0.9 and 0.5 caught
    assert sc.recall_at_fpr(y, s, 0.10) == pytest.approx(2 / 3)


def test_precision_at_k_hand_example():
    y = np.array([1, 1, 0, 0, 0], bool)
    assert sc.precision_at_k(y, np.array([0.9, 0.2, 0.8, 0.1, 0.0])) == pytest.approx(0.5)   # top 2: 0.9 (+), 0.8 (-)
    assert sc.precision_at_k(y, np.array([0.9, 0.5, 0.5, 0.1, 0.0])) == pytest.approx(0.75)  # tie at the cut: half
    assert sc.precision_at_k(y, np.array([0.9, 0.8, 0.5, 0.1, 0.0])) == pytest.approx(1.0)


def test_score_matches_hand_computed_example():
    """Tiny case: 3 honest originals, 2 planted; trust and suspect given by hand."""
    base = make_base(n_workers=6, n_tasks=60, per_task=3, acc=0.95, seed=1)
    att = inject(base, "random", share=0.34, seed=0)          # 2 planted
    key = att.key
    honest = sc.honest_originals(att).to_numpy()
    assert honest.sum() >= 3
    trust = np.where(key["planted"], [0.2, 0.7] * (len(key) // 2) + [0.2] * (len(key) % 2), 0.0)
    h_idx = np.flatnonzero(honest)
    p_idx = np.flatnonzero(key["planted"])
    trust[p_idx] = [0.2, 0.7]
    trust[h_idx] = np.linspace(0.9, 0.6, h_idx.size)           # one honest (0.6) below a planted (0.7)
    suspect = np.zeros(len(key), bool)
    suspect[p_idx[0]] = True
    suspect[h_idx[-1]] = True
    workers = pd.DataFrame({"worker": key["worker"], "trust": trust, "suspect": suspect})
    blind = att.blind()
    an = SimpleNamespace(workers=workers, consensus=aggregate(blind, "ds", use_gold=False), signals=empty_signals())
    clean = SimpleNamespace(consensus=aggregate(att.blind_clean(), "ds", use_gold=False))
    res = sc.score(att, an, clean)["random"]
    sel = honest | key["planted"].to_numpy()
    y = key["planted"].to_numpy()[sel]
    s = 1 - trust[sel]
    # hand: positives 0.8, 0.3; negatives 0.1 .. 0.4 spread -> pairs ordered correctly
    neg = s[~y]
    pairs = [(p > n) + 0.5 * (p == n) for p in s[y] for n in neg]
    assert res["roc_auc"] == pytest.approx(np.mean(pairs))
    assert res["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    assert res["pr_auc"] == pytest.approx(average_precision_score(y, s))
    assert res["precision"] == pytest.approx(0.5) and res["recall"] == pytest.approx(0.5)
    assert res["precision_at_k"] == pytest.approx(0.5)                # top-2: 0.8 (+), then 0.4 (honest) > 0.3 (+)
    assert res["collateral"] == pytest.approx(np.mean(an.consensus.labels != clean.consensus.labels))
    assert res["n_planted"] == 2 and res["n_honest"] == int(honest.sum())
    pl = att.planted_label
    wid = att.data.worker_ids.astype(str)[att.data.worker]
    caught = np.isin(wid[pl], key["worker"][suspect]).mean()
    assert res["planted_labels_caught"] == pytest.approx(caught)
    g = att.data.gold_vector()
    assert res["acc_attacked"] == pytest.approx((an.consensus.labels == g).mean())
    assert res["acc_clean"] == pytest.approx((clean.consensus.labels == g).mean())


def test_strict_honest_drops_label_blind_workers_on_imbalanced_gold():
    rng = np.random.default_rng(0)
    truth = (rng.random(200) < 0.15).astype(int)            # 85% class 0
    rows = []
    for w in range(12):
        for t in rng.choice(200, 60, replace=False):
            lab = 0 if w == 0 else (truth[t] if rng.random() < 0.9 else 1 - truth[t])
            rows.append((f"t{t:03d}", f"A{w:02d}XYZ", str(lab)))
    base = from_frame(pd.DataFrame(rows, columns=["task", "worker", "label"]),
                      gold=pd.DataFrame({"task": [f"t{t:03d}" for t in range(200)], "label": truth.astype(str)}))
    att = inject(base, "random", share=0.1, seed=0)
    plain = sc.honest_originals(att).to_numpy()
    strict = sc.honest_originals(att, strict=True).to_numpy()
    blind_w = (att.key["worker"] == "A00XYZ").to_numpy()
    assert plain[blind_w].all() and not strict[blind_w].any()     # 85% accurate by answering '0' only
    assert strict.sum() == plain.sum() - 1


def test_evaluate_finds_random_spammers_and_targets(base):
    rows = sc.evaluate(base, "random", share=0.2, seeds=2, analyze=standin)
    s = sc.summarize(rows)
    r = s.iloc[0]
    assert r["pr_auc"] > 0.95 and r["baseline_pr_auc"] > 0.95 and r["n_seeds"] == 2
    assert r["acc_clean"] >= r["acc_attacked"] - 0.02
    assert r["pr_auc_lo"] <= r["pr_auc"] <= r["pr_auc_hi"]
    # crowding disguised attackers hold the majority of every target: majority vote flips them all
    def mv(d):
        out = standin(d)
        out.consensus = aggregate(d, "mv")
        return out
    rows = sc.evaluate(base, "disguised", share=0.2, seeds=[0], analyze=mv, gamma=0.5, crowd=True,
                       target_share=0.05)
    assert rows["attack_success_rate"].iloc[0] > 0.9
    # Dawid-Skene resists part of it (detection-methods.md §4.3): lower success than MV
    rows_ds = sc.evaluate(base, "disguised", share=0.2, seeds=[0], analyze=standin, gamma=0.5, crowd=True,
                          target_share=0.05)
    assert rows_ds["attack_success_rate"].iloc[0] < rows["attack_success_rate"].iloc[0]


def test_detection_delay_from_drift_evidence(base):
    att = inject(base, "takeover", share=0.1, seed=0)
    an = standin(att.blind())
    vic = att.key[att.key["planted"]]
    sig = pd.DataFrame({"worker": vic["worker"], "signal": "drift", "score": 1.0, "p_value": 0.001, "fired": True,
                        "reason": "", "evidence": [{"onset_index": int(k) + 4, "alarm_index": int(k) + 10}
                                                   for k in vic["takeover_onset_index"]]})
    an.signals = sig
    res = sc.score(att, an, standin(att.blind_clean()))["takeover"]
    assert res["detection_delay_labels"] == 10 and res["onset_error_labels"] == 4 and res["takeover_detected"] == 1


def test_burst_delay_in_windows_from_burst_evidence():
    base = make_base(times=True)
    att = inject(base, "burst", share=0.1, seed=0)
    blind = att.blind()
    an = standin(blind)
    bots = att.key[att.key["planted"]]["worker"].tolist()
    t = blind.timestamps()
    ids = np.asarray(blind.worker_ids).astype(str)
    first = {b: float(np.nanmin(t[blind.worker == np.flatnonzero(ids == b)[0]])) for b in bots}
    caught = bots[:-1]                       # the last bot has no burst signal
    iso = lambda x: pd.Timestamp(x, unit="s", tz="UTC").isoformat()  # noqa: E731
    an.signals = pd.DataFrame({
        "worker": caught, "signal": "burst", "score": 5.0, "p_value": 1e-6, "fired": True, "reason": "",
        "evidence": [{"window_seconds": 300.0, "window_start": iso(first[b]), "window_end": iso(first[b] + 150.0 * (i + 1))}
                     for i, b in enumerate(caught)]})
    res = sc.score(att, an, standin(att.blind_clean()))["burst"]
    delays = [0.5 * (i + 1) for i in range(len(caught))]
    last = bots[-1]
    lt = np.sort(t[blind.worker == np.flatnonzero(ids == last)[0]])
    delays.append((lt[-1] - lt[0]) / 60.0)
    assert res["burst_delay_windows"] == pytest.approx(float(np.median(delays)), rel=1e-6)
    assert res["burst_detected"] == pytest.approx((len(bots) - 1) / len(bots))


def test_minority_rate_and_fairness_flags():
    d = from_frame(pd.DataFrame({
        "task": ["a", "a", "a", "b", "b", "b", "c"],
        "worker": ["x", "y", "z", "x", "y", "z", "x"],
        "label": ["1", "1", "0", "0", "0", "1", "1"],
    }))
    rate = dict(zip(d.worker_ids.astype(str), sc.minority_rate(d), strict=True))
    # x: agrees on a and b, c has no other label; y: agrees twice; z: minority on both
    assert rate == {"x": 0.0, "y": 0.0, "z": 1.0}
    key = pd.DataFrame({"worker": ["x", "y", "z"]})
    honest = np.array([True, True, True])
    assert sc._minority_false_flags(d, key, honest, np.array([False, False, True])) == 1.0
    assert sc._minority_false_flags(d, key, honest, np.array([True, False, False])) == 0.0


def test_grid_sweeps_share(base):
    summ, rows = sweep(base, "random", "share", [0.1, 0.3], seeds=1, analyze=standin)
    assert list(summ["share"]) == [0.1, 0.3]
    assert summ.loc[summ["share"] == 0.3, "n_planted"].iloc[0] > summ.loc[summ["share"] == 0.1, "n_planted"].iloc[0]
    assert parse_grid("gamma=0,0.3,0.7") == ("gamma", [0, 0.3, 0.7])
    from app.charts import accuracy_figure, detection_figure, success_figure
    assert len(accuracy_figure(summ).data) == 3
    assert success_figure(summ) is not None and len(detection_figure(summ).data) == 2


# --------------------------------------------------------------------------- workspace and CLI

def _fill_workspace(ws, data, name="proj"):
    df = data.to_frame()
    pid = ws.project_id(name, create=True)
    ws.con.execute("INSERT INTO ingests (project_id, file_name, size_bytes, sha256, format, rows_read, rows_loaded,"
                   " rows_quarantined, rows_duplicate, actor) VALUES (?, 'x.csv', 1, 'abc', 'csv', ?, ?, 0, 0, 't')",
                   [pid, len(df), len(df)])
    df.insert(0, "source_row", np.arange(1, len(df) + 1))
    ws.con.register("_df", df)
    ws.con.execute("INSERT INTO annotations (project_id, ingest_id, source_row, task, worker, label)"
                   " SELECT ?, 1, source_row, task, worker, label FROM _df", [pid])
    ws.con.unregister("_df")
    g = pd.DataFrame({"task": data.task_ids[data.gold_task], "label": data.classes[data.gold_label]})
    ws.con.register("_g", g)
    ws.con.execute("INSERT INTO gold SELECT ?, task, label, 'gold.csv', 1 FROM _g", [pid])
    ws.con.unregister("_g")
    return pid


def _rows_hash(ws, pid):
    h = hashlib.sha256()
    for tbl, order in (("annotations", "source_row"), ("gold", "task")):
        for row in ws.con.execute(f"SELECT * FROM {tbl} WHERE project_id = ? ORDER BY {order}", [pid]).fetchall():
            h.update(repr(row).encode())
    h.update(repr(ws.con.execute("SELECT * FROM projects WHERE project_id = ?", [pid]).fetchall()).encode())
    return h.hexdigest()


def test_inject_project_copies_and_leaves_original_untouched(workspace, base, users):
    pid = _fill_workspace(workspace, base)
    before = _rows_hash(workspace, pid)
    name = inject_project(workspace, "proj", "disguised", 0.1, 7, gamma=0.5, actor=users["analyst"])
    assert name == "proj~rt-disguised-s7"
    assert _rows_hash(workspace, pid) == before
    new_pid, parent = workspace.con.execute("SELECT project_id, parent_project_id FROM projects WHERE name = ?",
                                            [name]).fetchall()[0]
    assert parent == pid
    copy = load_project(workspace.con.cursor(), new_pid)
    att = inject(load_project(workspace.con.cursor(), pid), "disguised", share=0.1, seed=7, gamma=0.5)
    assert copy.n == att.data.n and set(copy.worker_ids) == set(att.data.worker_ids)
    assert copy.gold_task.size == base.gold_task.size
    np.testing.assert_allclose(np.sort(copy.submitted_at), np.sort(att.data.submitted_at), atol=1e-3)
    key = load_key(workspace, name)
    assert key["attack"] == "disguised" and key["n_planted"] == int(att.key["planted"].sum())
    assert {r["worker"] for r in key["key"]} == set(att.key.loc[att.key["planted"], "worker"])
    assert inject_project(workspace, "proj", "disguised", 0.1, 7, gamma=0.5, actor=users["analyst"]) == name + "-2"
    acts = workspace.con.execute("SELECT count(*) FROM actions WHERE action = 'redteam'").fetchall()[0][0]
    assert acts == 2


def test_cli_scores_the_real_analysis(tmp_path, monkeypatch, capsys):
    """`analytics redteam` scores the product's analysis with the project's saved settings:
    every analysed copy goes through analytics.pipeline.analyze_arrays, and planted random
    spammers are found by it."""
    from analytics import pipeline
    from analytics.cli import main
    from analytics.store import open_workspace
    from analytics.trust import TrustSettings

    ws = open_workspace(tmp_path / "ws")
    add_accounts(ws)
    _fill_workspace(ws, make_base(n_workers=25, n_tasks=150, seed=4))
    pipeline.save_project_settings(ws, "proj", TrustSettings(method="mv"), me("admin"))
    ws.close()
    calls = []
    real = pipeline.analyze_arrays

    def spy(data, settings=None, method=None, progress=None):
        calls.append((data.n, settings.method if settings else None, method))
        return real(data, settings, method, progress)

    monkeypatch.setattr(pipeline, "analyze_arrays", spy)
    out = tmp_path / "out"
    rc = main(["redteam", "--workspace", str(tmp_path / "ws"), "--project", "proj", "--attack", "random",
               "--share", "0.2", "--seeds", "2", "--out", str(out), "--grid", "share=0.1,0.2"])
    assert rc == 0
    # every copy, clean (750 labels) and attacked (one per seed and share), went through the
    # product's analysis with the saved settings' model
    assert {c[1] for c in calls} == {"mv"} and 750 in {c[0] for c in calls}
    assert sum(c[0] > 750 for c in calls) == 2 * 2
    doc = json.loads((out / "scorecard.json").read_text())
    res = doc["attacks"]["random"]
    assert res["pr_auc"] > 0.9 and res["honest_flag_rate"] <= 0.1
    assert len(doc["ci95"]["random"]["pr_auc"]) == 2
    tab = pd.read_csv(out / "scorecard.csv")
    assert {"attack", "pr_auc", "pr_auc_lo", "recall_at_1pct_fpr", "acc_defended"} <= set(tab.columns)
    grid = pd.read_csv(out / "grid.csv")
    assert sorted(grid["share"]) == [0.1, 0.2]
    assert "pr_auc" in capsys.readouterr().out
    rc = main(["redteam", "--workspace", str(tmp_path / "ws"), "--project", "proj", "--attack", "random",
               "--out", str(out), "--param", "gama=1"])
    assert rc == 2
