"""The trust verdict: BH adjustment, suspicion from significant signals, low quality as a review
recommendation, crowd-wide signals, evaluation-only gold, item pivotality."""

import numpy as np
import pandas as pd

from analytics.consensus import Consensus
from analytics.dataset import from_frame
from analytics.errors import UserError
from analytics.evidence import make_signals
from analytics.trust import TrustSettings, WorkerVerdict, adjust_signals, item_verdict, one_step_posterior


def test_bh_matches_hand_computation():
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.5), "BH") = 0.04, 0.0533.., 0.0533.., 0.5; per signal
    sig = make_signals([0, 1, 2, 3, 4], "burst", 1.0, np.array([0.01, 0.04, 0.03, 0.5, np.nan]), True, "r", None)
    other = make_signals([0], "drift", 1.0, np.array([0.04]), True, "r", None)
    adj = adjust_signals(pd.concat([sig, other], ignore_index=True))["p_adj"].to_numpy()
    np.testing.assert_allclose(adj[:4], [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])
    assert np.isnan(adj[4]) and adj[5] == 0.04          # another signal is its own family


def _toy(n_workers=40, n_tasks=200, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n_tasks)
    rows = []
    for t in range(n_tasks):
        for w in rng.choice(n_workers, 5, replace=False):
            y = truth[t] if rng.random() < 0.9 else 1 - truth[t]
            rows.append((f"t{t}", f"w{w:02d}", str(y)))
    return from_frame(pd.DataFrame(rows, columns=["task", "worker", "label"])), truth


def test_fdr_keeps_honest_workers_and_flags_strong_signal():
    data, _ = _toy()
    W = data.n_workers
    rng = np.random.default_rng(1)
    p = rng.uniform(size=W)          # null p-values for everyone
    p[3] = 1e-9                      # one worker with overwhelming evidence
    sig = make_signals(np.arange(W), "burst", 1.0, p, p < 0.05, [f"r{w}" for w in range(W)], None)
    scores = pd.DataFrame({"loo_agreement": np.full(W, 0.9), "loo_chance": np.full(W, 0.5), "loo_n": np.full(W, 50)})
    v = WorkerVerdict(TrustSettings()).fit(data, scores, sig)
    assert v.table_.loc[3, "suspect"]
    assert v.table_["suspect"].sum() == 1, "uniform null p-values must not survive BH"
    assert v.table_.loc[3, "trust"] < v.table_["trust"].drop(3).min()
    assert "r3" in v.table_.loc[3, "reasons"]


def test_flipper_and_chance_level_are_suspect_low_quality_is_not():
    data, _ = _toy()
    W = data.n_workers
    scores = pd.DataFrame({"loo_agreement": np.full(W, 0.9), "loo_chance": np.full(W, 0.5),
                           "loo_n": np.full(W, 50), "spammer_score": np.full(W, 0.6), "adversarial": np.zeros(W)})
    scores.loc[5, "adversarial"] = 1
    scores.loc[6, ["loo_agreement", "spammer_score"]] = [0.5, 0.0]   # chance agreement, uninformative
    scores.loc[7, ["loo_agreement", "spammer_score"]] = [0.55, 0.01]  # weak, but better than chance
    sig = pd.concat([
        make_signals([5], "adversarial", 0.8, 1e-6, True, "answers are ... systematically wrong (label flipping)", None),
        make_signals([6, 7], "near_chance", [0.0, 0.16], [1e-5, 0.7], [True, False],
                     ["answers are no better than chance", "fine"], None),
    ], ignore_index=True)
    t = WorkerVerdict().fit(data, scores, sig).table_
    assert t.loc[5, "suspect"] and "flipping" in t.loc[5, "reasons"]
    assert t.loc[6, "suspect"] and "chance" in t.loc[6, "reasons"]
    assert not t.loc[7, "suspect"] and t.loc[7, "low_quality"] and "review" in t.loc[7, "reasons"]
    assert t["suspect"].sum() == 2 and t.loc[t["suspect"], "low_quality"].sum() == 0
    # without the near-chance evidence the chance-level worker is only low quality (no test, no accusation)
    t2 = WorkerVerdict().fit(data, scores, sig[sig.signal != "near_chance"]).table_
    assert not t2.loc[6, "suspect"] and t2.loc[6, "low_quality"]


def test_a_signal_firing_on_the_whole_crowd_accuses_nobody():
    data, _ = _toy()
    W = data.n_workers
    p = np.full(W, 1e-12)                      # co-timing "significant" for everybody
    sig = make_signals(np.arange(W), "cotiming", 5.0, p, True, "co-timed", None)
    scores = pd.DataFrame({"loo_agreement": np.full(W, 0.9), "loo_chance": np.full(W, 0.5), "loo_n": np.full(W, 50)})
    v = WorkerVerdict().fit(data, scores, sig)
    assert v.crowd_wide_ == {"cotiming": 1.0}
    assert not v.table_["suspect"].any() and not v.evidence_suspects().any()
    # the same signal on 2 of 40 workers is evidence
    p2 = np.where(np.arange(W) < 2, 1e-12, 0.5)
    v2 = WorkerVerdict().fit(data, scores, make_signals(np.arange(W), "cotiming", 5.0, p2, p2 < 0.01, "x", None))
    assert v2.crowd_wide_ == {} and v2.table_["suspect"].sum() == 2


def test_gold_for_evaluation_never_changes_the_verdict():
    data, _ = _toy()
    W = data.n_workers
    scores = pd.DataFrame({"loo_agreement": np.full(W, 0.9), "loo_chance": np.full(W, 0.5), "loo_n": np.full(W, 50),
                           "gold_accuracy": np.linspace(0.3, 1.0, W)})
    gold = make_signals([0], "gold_low", 0.7, 1e-8, True, "correct on 3 of 10 gold items", None)
    plain = WorkerVerdict(TrustSettings()).fit(data, scores.drop(columns="gold_accuracy"), make_signals(
        [], "x", [], [], [], [], [])).table_
    evaluated = WorkerVerdict(TrustSettings()).fit(data, scores, gold).table_
    pd.testing.assert_frame_equal(plain[["trust", "suspect"]], evaluated[["trust", "suspect"]])
    used = WorkerVerdict(TrustSettings(use_gold=True)).fit(data, scores, gold).table_
    assert used.loc[0, "suspect"] and used.loc[0, "trust"] < plain.loc[0, "trust"]


def test_settings_are_validated_at_the_boundary():
    import pytest

    for bad in ({"fdr_q": 5}, {"fdr_q": 0}, {"min_quality": -0.1}, {"min_labels_for_quality": 2.5},
                {"use_gold": "yes"}, {"signal_weights": {"burst": -1}}, {"no_such": 1}):
        with pytest.raises(UserError):
            TrustSettings.from_dict(bad)
    assert TrustSettings.from_dict({"gold_floor_margin": 0.2}).fdr_q == 0.01    # retired, ignored


def test_item_pivotal_on_suspects():
    # Task a: two suspects say 1, one honest says 0 -> MV label 1 is pivotal on suspects.
    df = pd.DataFrame({"task": ["a", "a", "a", "b", "b", "b"], "worker": ["s1", "s2", "h", "h", "h2", "s1"],
                       "label": ["1", "1", "0", "0", "0", "1"]})
    data = from_frame(df)
    probas = np.array([[1 / 3, 2 / 3], [2 / 3, 1 / 3]])
    cons = Consensus("mv", probas, np.array([1, 0], np.int32), np.array([0.5, 0.5]))
    suspect = np.array([False, False, True, True])  # worker order: h, h2, s1, s2
    assert list(data.worker_ids) == ["h", "h2", "s1", "s2"]
    iv = item_verdict(data, cons, suspect, TrustSettings())
    assert abs(iv.loc[0, "exposure"] - 2 / 3) < 1e-12
    assert iv.loc[0, "pivotal"] and iv.loc[0, "suspect"]
    assert not iv.loc[1, "pivotal"]
    assert iv.loc[0, "n_trusted_labels"] == 1
    post = one_step_posterior(data, cons, ~suspect[data.worker])
    np.testing.assert_allclose(post, [[1, 0], [1, 0]])


def test_quality_is_chance_corrected_for_constant_answerers():
    """On imbalanced data a constant majority answerer agrees often but carries no information."""
    from analytics.trust import _quality

    scores = pd.DataFrame({
        "loo_agreement": [0.93, 0.90, 0.50], "loo_chance": [0.77, 0.90, 0.50], "loo_n": [200, 200, 200],
        "spammer_score": [0.5, 0.0, 0.0],
    })
    q = _quality(scores, K=2, W=3)
    # honest > constant majority answerer > random clicker; the constant one is well below honest.
    assert q[0] > 0.7 and q[1] < 0.35 and q[2] < 0.05 and q[1] > q[2]


def test_below_chance_agreement_ranks_under_a_label_blind_answerer():
    """A class-biased flipper on imbalanced data (zheng_product: answers '0' on the rare positives,
    '1' on a tenth of the negatives) agrees with the crowd less than its own label mix predicts.
    Its Raykar-Yu score |J| is as large as a weak honest worker's, but the information points
    the wrong way: it must rank below a label-blind answerer, not above."""
    from analytics.trust import _quality

    scores = pd.DataFrame({
        "loo_agreement": [0.78, 0.91, 0.93], "loo_chance": [0.80, 0.91, 0.80], "loo_n": [250, 250, 250],
        "spammer_score": [0.10, 0.01, 0.40],
    })
    q = _quality(scores, K=2, W=3)
    flipper, blind, honest = q
    assert flipper < blind - 0.1 and blind < honest     # the clipped form left them 0.02 apart
    assert 0.0 <= flipper


def test_a_few_labels_below_chance_do_not_condemn_a_weak_worker():
    """On a hard four-class task (zheng_relevance) honest but weak workers scatter just below
    chance on a few dozen labels; they must not fall under a constant answerer."""
    from analytics.trust import _quality

    scores = pd.DataFrame({
        "loo_agreement": [0.28, 0.30, 0.60, 0.62, 0.58], "loo_chance": [0.35, 0.30, 0.30, 0.30, 0.30],
        "loo_n": [30, 30, 200, 200, 200], "spammer_score": [0.05, 0.0, 0.4, 0.4, 0.4],
    })
    q = _quality(scores, K=4, W=5)
    weak, constant = q[0], q[1]
    assert weak > constant       # counted at full strength, kappa -0.11 on 30 labels put it under


def test_kind_names_what_made_the_worker_suspect():
    """An advisory signal (no calibrated null) never names the kind of a worker flagged for
    low quality, and a flagging signal wins over a stronger advisory one."""
    from analytics.trust import _kinds

    sig = pd.DataFrame({"worker": [0, 1, 1], "signal": ["spammer", "spammer", "burst"],
                        "strength": [0.5, 0.5, 0.45], "significant": [True, True, True]})
    kind = _kinds(sig, 3, np.array([True, False, False]), np.zeros(3, bool), advisory=("spammer",),
                  suspect=np.array([False, True, False]))
    assert kind.tolist() == ["low_quality", "burst", ""]
