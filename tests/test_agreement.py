"""Agreement statistics: alpha equal to crowd-kit's, Fleiss' and Cohen's kappa and the pooled
kappa on published examples, sparse worker pairs, bootstrap intervals, degenerate inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import load_dataset

from analytics import agreement as ag
from analytics.aggregate import aggregate
from analytics.dataset import from_frame

# Fleiss (1971) / Wikipedia "Fleiss' kappa" worked example: 10 subjects, 14 raters, 5 categories.
WIKI = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                 [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])


def _from_table(tab):
    rows = []
    for i, r in enumerate(tab):
        labels = np.repeat(np.arange(1, len(r) + 1), r)
        rows += [(f"s{i}", f"r{j}", str(k)) for j, k in enumerate(labels)]
    return from_frame(pd.DataFrame(rows, columns=["task", "worker", "label"]))


def test_fleiss_kappa_literature_example():
    d = _from_table(WIKI)
    assert ag.fleiss_kappa(d) == pytest.approx(0.210, abs=5e-4)
    s = ag.agreement_summary(d, n_boot=50)
    assert s.kappa_kind == "fleiss" and s.kappa == pytest.approx(0.2099, abs=1e-4)
    assert s.kappa_ci[0] <= s.kappa <= s.kappa_ci[1]


def _toy(seed=0, n_tasks=80, K=3, acc=None):
    rng = np.random.default_rng(seed)
    acc = acc or [0.9, 0.85, 0.8, 0.75, 0.5, 0.4]
    z = rng.integers(0, K, n_tasks)
    rows = []
    for t in range(n_tasks):
        for w in rng.choice(len(acc), rng.integers(2, 5), replace=False):
            y = z[t] if rng.random() < acc[w] else rng.integers(0, K)
            rows.append((f"t{t:03d}", f"w{w}", str(y)))
    return from_frame(pd.DataFrame(rows, columns=["task", "worker", "label"]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alpha_equals_crowdkit_on_synthetic(seed):
    d = _toy(seed)
    assert ag.krippendorff_alpha(d) == pytest.approx(ag.krippendorff_alpha_crowdkit(d), abs=1e-9)


@pytest.mark.parametrize("name", ["act_CF_amt", "zheng_sentiment"])
def test_alpha_equals_crowdkit_on_real_data(name):
    df, gold = load_dataset(name)
    d = from_frame(df, gold=gold)
    assert ag.krippendorff_alpha(d) == pytest.approx(ag.krippendorff_alpha_crowdkit(d), abs=1e-9)


def test_unequal_label_counts_use_pairwise_cohen_and_match_direct_computation():
    d = _toy(3)
    assert ag.fleiss_kappa(d) is None
    s = ag.agreement_summary(d, n_boot=100, seed=1)
    assert s.kappa_kind == "pairwise_cohen"
    assert s.alpha_ci[0] <= s.alpha <= s.alpha_ci[1]
    # the pair table against a direct sklearn computation
    from sklearn.metrics import cohen_kappa_score
    pk = ag.worker_pair_kappa(d, min_shared=1)
    frame = pd.DataFrame({"t": d.task, "w": d.worker, "y": d.label})
    for r in pk.head(6).itertuples():
        m = frame[frame.w == r.worker_a].merge(frame[frame.w == r.worker_b], on="t")
        assert r.n_shared == len(m)
        assert r.kappa == pytest.approx(cohen_kappa_score(m.y_x, m.y_y), abs=1e-9, nan_ok=True)
    # pooled kappa from sklearn's per-pair kappas: Cohen's chance agreement pe = (po - k) / (1 - k),
    # taken over different tasks pe' = (n pe - po) / (n - 1), pooled over pairs (De Vries et al. 2008)
    num = den = 0.0
    for r in pk[pk.n_shared >= ag.MIN_SHARED].itertuples():
        m = frame[frame.w == r.worker_a].merge(frame[frame.w == r.worker_b], on="t")
        n, po, k = len(m), float((m.y_x == m.y_y).mean()), cohen_kappa_score(m.y_x, m.y_y)
        pe = (po - k) / (1 - k)
        pe_diff = (n * pe - po) / (n - 1)
        num += n * (po - pe_diff)
        den += n * (1 - pe_diff)
    assert s.kappa == pytest.approx(num / den, abs=1e-9)
    assert s.kappa_ci[0] <= s.kappa <= s.kappa_ci[1]
    # bootstrap is seeded
    assert ag.agreement_summary(d, n_boot=100, seed=1) == s


# Published 2 x 2 tables of two raters (rows: rater A yes/no, columns: rater B yes/no), with
# their observed agreement p_o, Cohen's chance agreement p_e and kappa: the 50 grant proposals
# of the Wikipedia article "Cohen's kappa" (kappa 0.40) and its two 100-item tables with the
# same p_o = 0.60 but kappa 0.1304 and 0.2593 ("Same percentages but different numbers").
COHEN_TABLES = [((20, 5, 10, 15), 0.70, 0.50, 0.4000),
                ((45, 15, 25, 15), 0.60, 0.54, 0.1304),
                ((25, 35, 5, 35), 0.60, 0.46, 0.2593)]


def _two_rater_tables(copies: int = 1):
    """One pair of workers per table (a0/b0, a1/b1, ...), each table on its own items,
    every cell repeated ``copies`` times."""
    rows = []
    for p, (cells, *_) in enumerate(COHEN_TABLES):
        pairs = [("yes", "yes"), ("yes", "no"), ("no", "yes"), ("no", "no")]
        labels = [pair for pair, n in zip(pairs, cells, strict=True) for _ in range(n * copies)]
        for i, (la, lb) in enumerate(labels):
            rows += [(f"p{p}i{i:05d}", f"a{p}", la), (f"p{p}i{i:05d}", f"b{p}", lb)]
    return from_frame(pd.DataFrame(rows, columns=["task", "worker", "label"]))


def test_cohen_kappa_reproduces_published_tables():
    d = _two_rater_tables()
    pk = ag.worker_pair_kappa(d, n_boot=0)
    ids = d.worker_ids.astype(str)
    assert len(pk) == len(COHEN_TABLES)                 # raters of different tables share no item
    for p, (cells, po, _pe, kappa) in enumerate(COHEN_TABLES):
        r = pk[(ids[pk.worker_a] == f"a{p}") & (ids[pk.worker_b] == f"b{p}")].iloc[0]
        assert (r.n_shared, r.agreement) == (sum(cells), pytest.approx(po))
        assert r.kappa == pytest.approx(kappa, abs=5e-5)


def test_pooled_kappa_against_published_tables():
    """Pooled over the three published pairs as De Vries et al. (2008) pool Cohen's kappa,
    (sum n p_o - sum n p_e) / (sum n - sum n p_e), the published p_o and p_e give exactly
    (155 - 125) / (250 - 125) = 0.24. :func:`pairwise_kappa` takes each pair's chance agreement
    over different items, p_e' = (n p_e - p_o) / (n - 1): 0.2425 on these tables, and 0.24 in
    the limit of large tables (each cell repeated 40 times)."""
    def pooled(copies: int, corrected: bool = True) -> float:
        num = den = 0.0
        for cells, po, pe, _ in COHEN_TABLES:
            n = sum(cells) * copies
            pe_used = (n * pe - po) / (n - 1) if corrected else pe
            num += n * (po - pe_used)
            den += n * (1 - pe_used)
        return num / den

    assert pooled(1, corrected=False) == pytest.approx(0.24, abs=1e-12)
    assert ag.pairwise_kappa(_two_rater_tables()) == pytest.approx(pooled(1), abs=1e-9)
    assert pooled(1) == pytest.approx(0.2425, abs=1e-4)
    big = ag.pairwise_kappa(_two_rater_tables(copies=40))
    assert big == pytest.approx(pooled(40), abs=1e-9) and big == pytest.approx(0.24, abs=1e-4)


def test_worker_pairs_are_bounded_by_top_n():
    d = _toy(4)
    pk = ag.worker_pair_kappa(d, top_n=3, min_shared=1)
    assert len(pk) <= 3
    vol = np.bincount(d.worker)
    top = set(np.argsort(-vol, kind="stable")[:3])
    assert set(pk.worker_a) | set(pk.worker_b) <= top
    assert (pk.worker_a < pk.worker_b).all()
    # per-pair bootstrap interval over the pair's shared tasks, seeded
    full = ag.worker_pair_kappa(d, min_shared=5, n_boot=100, seed=3)
    ok = full.kappa.notna() & full.kappa_lo.notna()
    assert ok.any()
    assert ((full.kappa_lo[ok] <= full.kappa[ok] + 1e-12) & (full.kappa[ok] <= full.kappa_hi[ok] + 1e-12)).all()
    pd.testing.assert_frame_equal(full, ag.worker_pair_kappa(d, min_shared=5, n_boot=100, seed=3))


def test_task_agreement_and_by_label():
    d = _from_table([[3, 0], [2, 1], [1, 0]])
    ta = ag.task_agreement(d)
    assert list(ta.n_labels) == [3, 3, 1]
    assert ta.pair_agreement.iloc[0] == 1.0 and ta.pair_agreement.iloc[1] == pytest.approx(1 / 3)
    assert np.isnan(ta.pair_agreement.iloc[2])
    assert ta.entropy.iloc[0] == 0.0 and ta.entropy.iloc[1] == pytest.approx(-(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)))
    by = ag.agreement_by_label(d, aggregate(d, "mv"))
    assert list(by.n_tasks) == [3, 0]
    # specific agreement of class 1: (3*2 + 2*1 + 0) / (3*2 + 2*2 + 0) = 0.8
    assert by.specific_agreement.iloc[0] == pytest.approx(0.8)


def test_degenerate_inputs():
    one_label = from_frame(pd.DataFrame({"task": ["a", "b"], "worker": ["u", "v"], "label": ["x", "y"]}))
    assert np.isnan(ag.krippendorff_alpha(one_label))             # no task has two labels
    s = ag.agreement_summary(one_label)
    assert np.isnan(s.alpha) and np.isnan(s.alpha_ci[0])
    same = from_frame(pd.DataFrame({"task": ["a", "a", "b", "b"], "worker": ["u", "v", "u", "v"], "label": ["x"] * 4}))
    assert ag.krippendorff_alpha(same) == 1.0
    assert np.isnan(ag.fleiss_kappa(same))
    one_worker = from_frame(pd.DataFrame({"task": ["a", "b"], "worker": ["u", "u"], "label": ["x", "y"]}))
    assert len(ag.worker_pair_kappa(one_worker)) == 0
    assert np.isnan(ag.agreement_summary(one_worker).kappa)
