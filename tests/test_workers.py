"""Worker reliability on synthetic crowds with known truth, real gold, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import load_dataset

from analytics.aggregate import aggregate
from analytics.dataset import from_frame
from analytics.evidence import SIGNAL_COLUMNS
from analytics.workers import WorkerReliability, ipw_quality, spammer_score

HONEST = [0.85, 0.8, 0.9, 0.75, 0.85, 0.8, 0.7, 0.9]


def simulate(seed=0, T=600, K=3, per=5, gold_share=0.0):
    """Honest workers with set accuracies, a label flipper (z -> z+1), a random and a constant
    spammer, and a worker with only 2 (correct) labels."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, K, T)
    names = [f"h{i}" for i in range(len(HONEST))] + ["flip", "rand", "const"]
    pick = np.array([rng.choice(len(names), per, replace=False) for _ in range(T)])
    tasks = np.repeat(np.arange(T), per)
    who = pick.ravel()
    zt = z[tasks]
    acc = np.array(HONEST + [0, 0, 0])[who]
    wrong = (zt + rng.integers(1, K, len(who))) % K
    y = np.where(rng.random(len(who)) < acc, zt, wrong)
    y = np.where(who == names.index("flip"), (zt + 1) % K, y)
    y = np.where(who == names.index("rand"), rng.integers(0, K, len(who)), y)
    y = np.where(who == names.index("const"), 0, y)
    df = pd.DataFrame({"task": [f"t{t:04d}" for t in tasks], "worker": np.array(names)[who], "label": y.astype(str)})
    # the 2-label worker answers two extra tasks correctly, next to three good honest workers
    extra = pd.DataFrame({"task": np.repeat(["x0", "x1"], 4), "worker": ["two", "h0", "h2", "h7"] * 2, "label": "1"})
    df = pd.concat([df, extra])
    gold = None
    if gold_share:
        g = np.flatnonzero(rng.random(T) < gold_share)
        gold = pd.DataFrame({"task": [f"t{t:04d}" for t in g], "label": z[g].astype(str)})
    return from_frame(df, gold=gold, classes=[str(k) for k in range(K)])


def _scores(d, **kw):
    c = aggregate(d, "ds", use_gold=False)
    r = WorkerReliability(**kw).fit(d, c)
    sc = r.scores_.copy()
    sc.index = d.worker_ids
    sig = r.signals_.copy()
    sig["name"] = d.worker_ids[sig["worker"]]
    return r, sc, sig


@pytest.fixture(scope="module")
def fitted():
    d = simulate()
    return d, *_scores(d, mace=True)


def test_contract(fitted):
    d, r, sc, sig = fitted
    assert list(r.scores_.index) == list(range(d.n_workers))
    assert list(r.signals_.columns) == SIGNAL_COLUMNS
    assert r.shrunk_errors_.shape == (d.n_workers, d.n_classes, d.n_classes)
    assert np.allclose(r.shrunk_errors_.sum(axis=2), 1.0)
    assert set(sig.signal) == {"low_agreement", "near_chance", "class_flip", "spammer", "adversarial"}
    for col in ("loo_agreement", "ds_accuracy", "spammer_score", "ipw_quality", "mace_competence",
                "gold_n", "gold_accuracy", "gold_lo", "gold_hi", "gold_p_below", "adversarial"):
        assert col in sc.columns


def test_scores_order_workers_as_planted(fitted):
    d, r, sc, sig = fitted
    honest = [f"h{i}" for i in range(len(HONEST))]
    for col in ("loo_agreement", "ds_accuracy", "mace_competence"):
        assert sc.loc[honest, col].min() > sc.loc[["rand", "const", "flip"], col].max(), col
    # expected-cost quality separates bias from error: the flipper's labels are recoverable
    assert sc.loc[honest, "ipw_quality"].min() > sc.loc[["rand", "const"], "ipw_quality"].max()
    assert sc.loc["flip", "ipw_quality"] > 0.4
    # agreement and DS accuracy rank honest workers by their true accuracy
    true = pd.Series(HONEST, index=honest)
    assert sc.loc[honest, "ds_accuracy"].corr(true, method="spearman") > 0.8
    # spammer score: spammers near 0, honest clearly informative, the flipper informative too
    assert sc.loc[["rand", "const"], "spammer_score"].max() < 0.05
    assert sc.loc[honest, "spammer_score"].min() > 0.2
    assert sc.loc["flip", "spammer_score"] > 0.4
    assert sc.loc[["rand", "const"], "ipw_quality"].max() < 0.05
    assert ((sc.loo_lo <= sc.loo_agreement) & (sc.loo_agreement <= sc.loo_hi)).all()
    assert sc.loc["two", "loo_hi"] - sc.loc["two", "loo_lo"] > 0.5          # 2 labels: a wide interval


def test_flipper_is_adversarial_and_only_it(fitted):
    d, r, sc, sig = fitted
    assert sc.loc["flip", "adversarial"] == 1.0
    assert sc.drop(index="flip")["adversarial"].sum() == 0
    adv = sig[sig.signal == "adversarial"].set_index("name")
    assert adv.loc["flip", "fired"] and adv.loc["flip", "p_value"] < 1e-10
    assert "systematically wrong" in adv.loc["flip", "reason"]
    # plain agreement-with-consensus... the flipper is found by low agreement too, spammers by the spammer rule
    low = sig[sig.signal == "low_agreement"].set_index("name")
    assert low.loc[["flip", "rand", "const"], "p_value"].max() < 1e-3
    assert low.loc[[f"h{i}" for i in range(len(HONEST))], "p_value"].min() > 0.01
    spam = sig[sig.signal == "spammer"].set_index("name")
    assert set(spam.index[spam.fired]) == {"rand", "const"}


def test_two_label_worker_does_not_look_perfect(fitted):
    d, r, sc, sig = fitted
    assert sc.loc["two", "loo_agreement"] == 1.0            # raw agreement is perfect ...
    assert sc.loc["two", "ds_accuracy"] < 0.9               # ... the shrunk estimate is not
    assert sc.loc["two", "spammer_score"] < 0.9
    assert "two" not in set(sig.name)                        # too few labels to be tested
    assert sc.loc["two", "adversarial"] == 0.0
    # shrunk rows sit near the pooled matrix; without shrinkage every row is an extreme one-hot
    w = list(d.worker_ids).index("two")
    assert np.abs(r.shrunk_errors_[w] - r.pooled_errors_).max() < 0.35
    r0 = WorkerReliability(shrinkage=1e-6).fit(d, aggregate(d, "ds", use_gold=False))
    assert (r0.shrunk_errors_[w].max(axis=1) > 0.99).all()


def test_gold_accuracy_with_jeffreys_interval():
    d = simulate(seed=3, gold_share=0.1)
    _, sc, sig = _scores(d)
    assert (sc.gold_n > 0).all() or sc.loc["two", "gold_n"] == 0
    g = sc.loc[sc.gold_n >= 5]
    assert ((g.gold_lo <= g.gold_accuracy) & (g.gold_accuracy <= g.gold_hi)).all()
    assert sc.loc["flip", "gold_p_below"] > 0.99 and sc.loc["h2", "gold_p_below"] < 0.01
    gl = sig[sig.signal == "gold_low"].set_index("name")
    assert gl.loc["flip", "fired"] and gl.loc["flip", "p_value"] < 1e-6
    assert not gl.loc["h2", "fired"]
    # exact Jeffreys numbers for one worker
    from scipy import stats
    n, s = int(sc.loc["h0", "gold_n"]), int(sc.loc["h0", "gold_correct"])
    assert sc.loc["h0", "gold_accuracy"] == pytest.approx((s + 0.5) / (n + 1))
    assert sc.loc["h0", "gold_p_below"] == pytest.approx(stats.beta.cdf(1 / 3 + 0.1, s + 0.5, n - s + 0.5))


def test_not_enough_gold_is_said_not_scored():
    d = simulate(seed=4, gold_share=0.004)                 # ~2 gold tasks
    _, sc, sig = _scores(d, gold_min_items=5)
    assert sc.gold_accuracy.isna().all() and sc.gold_p_below.isna().all()
    gl = sig[sig.signal == "gold_low"]
    assert len(gl) and (~gl.fired).all() and gl.reason.str.startswith("not enough gold evidence").all()


def test_matrix_scores_known_values():
    eye = np.eye(3)[None]
    flip = np.roll(np.eye(3), 1, axis=1)[None]
    rank1 = np.tile([[0.5, 0.3, 0.2]], (3, 1))[None]
    A = np.concatenate([eye, flip, rank1])
    assert spammer_score(A) == pytest.approx([1.0, 1.0, 0.0])
    b = np.array([[[0.9, 0.1], [0.2, 0.8]]])
    assert spammer_score(b)[0] == pytest.approx((0.9 + 0.8 - 1) ** 2)
    q = ipw_quality(A, np.array([0.5, 0.3, 0.2]))
    assert q == pytest.approx([1.0, 1.0, 0.0])               # bias is recoverable, spam is not


def test_real_gold_accuracy_tracks_model_accuracy():
    df, gold = load_dataset("act_CF_amt")
    d = from_frame(df, gold=gold)
    r = WorkerReliability().fit(d, aggregate(d, "ds", use_gold=False))
    sc = r.scores_
    ok = sc.gold_n >= 20
    assert ok.sum() > 20
    assert sc.loc[ok, "ds_accuracy"].corr(sc.loc[ok, "gold_accuracy"], method="spearman") > 0.5
    assert sc.loc[ok, "loo_agreement"].corr(sc.loc[ok, "gold_accuracy"], method="spearman") > 0.5


@pytest.mark.parametrize("case", ["one_worker", "single_labels", "one_class", "all_gold", "with_empty_worker"])
def test_bad_input_gives_defined_result(case):
    if case == "one_worker":
        df = pd.DataFrame({"task": list("abcd"), "worker": "w", "label": list("xyxy")})
    elif case == "single_labels":
        df = pd.DataFrame({"task": list("abcd"), "worker": list("uvuv"), "label": list("xyxy")})
    elif case == "one_class":
        df = pd.DataFrame({"task": list("aabb"), "worker": list("uvuv"), "label": "x"})
    else:
        df = pd.DataFrame({"task": list("aabbcc"), "worker": list("uvuvuv"), "label": list("xxyyxy")})
    gold = pd.DataFrame({"task": list("abc"), "label": list("xyx")}) if case == "all_gold" else None
    d = from_frame(df, gold=gold)
    if case == "with_empty_worker":
        d = d.subset(d.worker != 0)
    c = aggregate(d, "ds")
    r = WorkerReliability(mace=case == "one_worker").fit(d, c)
    assert len(r.scores_) == d.n_workers
    assert list(r.signals_.columns) == SIGNAL_COLUMNS
    sc = r.scores_
    if case in ("one_worker", "single_labels"):
        assert sc.loo_n.eq(0).all() and sc.loo_agreement.isna().all()
        assert len(r.signals_[r.signals_.signal != "gold_low"]) == 0
    if case == "one_class":
        assert sc.loo_agreement.eq(1.0).all() and sc.spammer_score.isna().all()
    if case == "all_gold":
        assert sc.gold_n.eq(3).all() and sc.gold_accuracy.isna().all()   # 3 < gold_min_items
    if case == "with_empty_worker":
        assert sc.loc[0, "n_labels"] == 0 and np.isnan(sc.loc[0, "ds_accuracy"])
