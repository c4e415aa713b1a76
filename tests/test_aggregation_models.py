"""Every numpy aggregation model against crowd-kit 1.4.2 (where crowd-kit has it) or its published definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import load_dataset

from analytics.aggregation import aggregate, run_crowdkit
from analytics.aggregation.bwa import bwa
from analytics.aggregation.cbds import cbds
from analytics.aggregation.ebcc import ebcc
from analytics.aggregation.glad import glad
from analytics.aggregation.ibcc import ibcc
from analytics.dataset import LabelArrays, from_frame


def _load(name):
    df, gold = load_dataset(name)
    return from_frame(df, gold=gold)


def _acc(d, labels):
    g = d.gold_vector()
    return float((labels[g >= 0] == g[g >= 0]).mean())


def _appearance_coded(d: LabelArrays) -> LabelArrays:
    """The same labels re-coded so that codes follow first appearance (crowd-kit's MACE indexes that way)."""
    t = pd.factorize(d.task)[0].astype(np.int32)
    w = pd.factorize(d.worker)[0].astype(np.int32)
    y = pd.factorize(d.label)[0].astype(np.int32)

    def ids(n):
        return np.arange(n).astype(str).astype(object)

    return LabelArrays(task=t, worker=w, label=y, task_ids=ids(t.max() + 1), worker_ids=ids(w.max() + 1),
                       classes=ids(y.max() + 1))


def _sparse_toy(n_tasks=300, n_workers=200, K=3, per=5, seed=3):
    """Many workers with a handful of labels each (the regime where maximum-likelihood DS overfits)."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, K, n_tasks)
    acc = rng.uniform(0.45, 0.9, n_workers)
    rows = []
    for t in range(n_tasks):
        for w in rng.choice(n_workers, per, replace=False):
            y = z[t] if rng.random() < acc[w] else (z[t] + rng.integers(1, K)) % K
            rows.append((f"t{t:03d}", f"w{w:03d}", str(y)))
    gold = pd.DataFrame({"task": [f"t{t:03d}" for t in range(n_tasks)], "label": z.astype(str)})
    return from_frame(pd.DataFrame(rows, columns=["task", "worker", "label"]), gold=gold)


@pytest.mark.parametrize("method,name", [("wawa", "act_CF_amt"), ("zbs", "act_SP_amt"), ("onecoin", "act_CF_amt"),
                                         ("onecoin", "zheng_sentiment"), ("glad", "act_SP_amt"), ("mv", "act_CF_amt")])
def test_numpy_port_reproduces_crowdkit(method, name):
    d = _load(name)
    ours = glad(d, m_step="cg") if method == "glad" else aggregate(d, method, use_gold=False)
    theirs = run_crowdkit(d, method)
    assert (ours.labels == theirs.labels).all()
    np.testing.assert_allclose(ours.probas, theirs.probas, atol=1e-6)
    if ours.skills is not None and method != "mv":
        np.testing.assert_allclose(ours.skills, theirs.skills, atol=1e-3)
    if method == "onecoin":         # crowd-kit keeps only the labels a worker used; the accuracy is the diagonal
        np.testing.assert_allclose(np.diagonal(ours.confusion, axis1=1, axis2=2)[:, 0], ours.skills, atol=1e-9)


def test_mace_reproduces_crowdkit_on_the_same_random_start():
    d = _appearance_coded(_sparse_toy(n_tasks=150, n_workers=40, per=4))
    ours = aggregate(d, "mace")
    theirs = run_crowdkit(d, "mace")
    assert (ours.labels == theirs.labels).all()
    np.testing.assert_allclose(ours.probas, theirs.probas, atol=1e-6)
    np.testing.assert_allclose(ours.skills, theirs.skills, atol=1e-6)
    np.testing.assert_allclose(ours.confusion.sum(axis=2), 1.0)


@pytest.mark.parametrize("name", ["act_SP_amt", "act_CF_amt"])
def test_glad_default_newton_step_agrees_with_crowdkit(name):
    """The default M-step (Newton) lands where crowd-kit's CG step does on these files."""
    d = _load(name)
    a, b = aggregate(d, "glad"), run_crowdkit(d, "glad")
    assert (a.labels == b.labels).mean() >= 0.99
    assert abs(_acc(d, a.labels) - _acc(d, b.labels)) <= 0.005
    assert np.isfinite(a.difficulty).all() and a.skills.shape == (d.n_workers,)


def test_ebcc_with_one_subtype_is_ibcc():
    """With one subtype per class EBCC's variational updates are IBCC's."""
    d = _load("act_CF_amt")
    a = ebcc(d, n_groups=1, empirical_prior=False, alpha=1.0)
    b = ibcc(d)
    np.testing.assert_allclose(a.probas, b.probas, atol=1e-4)     # they stop at slightly different steps
    np.testing.assert_allclose(a.confusion, b.confusion, atol=1e-4)


def test_ibcc_with_a_vanishing_prior_is_dawid_skene():
    d = _load("zheng_sentiment")
    a = ibcc(d, a=1e-3, b=1e-3)
    assert (a.labels == aggregate(d, "ds", use_gold=False).labels).mean() >= 0.99


def test_bwa_follows_the_published_updates():
    d = _sparse_toy(n_tasks=80, n_workers=30, per=4)
    T, W, K = d.n_tasks, d.n_workers, d.n_classes
    n_lab = d.n
    ex = sp.csr_matrix((np.ones(n_lab), (d.task, d.worker)), shape=(T, W))
    n_j = np.asarray(ex.sum(axis=0)).ravel()
    n_i = np.asarray(ex.sum(axis=1)).ravel()
    expect = np.zeros((T, K))
    for k in range(K):                                   # Li, Rubinstein & Cohn (WWW 2019), eqs. for z and v
        x = sp.csr_matrix(((d.label == k).astype(float), (d.task, d.worker)), shape=(T, W))
        z = np.asarray(x.sum(axis=1)).ravel() / n_i
        b_v = 15.0 * (n_i * z * (1 - z)).sum() / n_lab * 4 * (1 - 1 / K)
        for _ in range(500):
            last = z
            resid = ex.multiply(z[:, None]) - x
            v = (15.0 + n_j) / (b_v + np.asarray(resid.multiply(resid).sum(axis=0)).ravel())
            z = (z.mean() + x @ v) / (1.0 + ex @ v)
            if np.allclose(last, z, rtol=1e-3):
                break
        expect[:, k] = z
    expect /= expect.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(bwa(d).probas, expect, atol=1e-9)


def test_cbds_beats_dawid_skene_where_workers_are_sparse():
    d = _sparse_toy()
    c, ds = cbds(d), aggregate(d, "ds", use_gold=False)
    assert _acc(d, c.labels) >= _acc(d, ds.labels) + 0.02
    assert np.allclose(c.probas.sum(axis=1), 1.0) and np.allclose(c.confusion.sum(axis=2), 1.0)
    assert c.confusion.shape == (d.n_workers, d.n_classes, d.n_classes)
    # a warm start from its own fit is already converged
    again = cbds(d, init=c.probas)
    assert again.params["iterations"] <= 10 and (again.labels == c.labels).mean() >= 0.99


@pytest.mark.parametrize("name,floor", [("zheng_product", 0.935), ("zheng_sentiment", 0.958), ("zheng_relevance", 0.615),
                                        ("act_CF_amt", 0.85), ("act_SP_amt", 0.944)])
def test_cbds_keeps_dawid_skenes_published_accuracy(name, floor):
    d = _load(name)
    c = aggregate(d, "cbds", use_gold=False)
    assert _acc(d, c.labels) >= floor
    assert c.params["strength"] == 1.0 and np.isfinite(c.skills[np.bincount(d.worker) > 0]).all()


@pytest.mark.parametrize("method", ["cbds", "ibcc", "ebcc", "bwa", "mace", "glad", "onecoin", "zbs", "wawa"])
def test_every_model_returns_a_valid_consensus_and_warm_starts(method):
    d = _sparse_toy(n_tasks=120, n_workers=40, per=4)
    c = aggregate(d, method)
    assert c.method == method and c.probas.shape == (d.n_tasks, d.n_classes)
    assert np.allclose(c.probas.sum(axis=1), 1.0) and (c.labels == c.probas.argmax(axis=1)).mean() > 0.99
    if c.confusion is not None:
        assert np.allclose(c.confusion.sum(axis=2), 1.0)
    if method in ("cbds", "ibcc", "ebcc", "glad", "mace", "onecoin"):
        warm = aggregate(d.subset(d.worker != 0), method, init=c)
        assert (warm.labels == c.labels).mean() > 0.9
