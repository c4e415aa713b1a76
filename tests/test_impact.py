"""Impact preview: one-step E-step maths, exactness for MV, re-queue list, gold accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from actions_support import CLASSES, EVIL, FLIPPERS, synthetic_frame

from analytics.aggregate import aggregate
from analytics.consensus import Consensus, argmax_lowest
from analytics.dataset import from_frame
from analytics.errors import UserError
from analytics.impact import preview_ban


@pytest.fixture(scope="module")
def data():
    df, gold = synthetic_frame(seed=5)
    return from_frame(df, gold=gold, classes=CLASSES)


def test_mv_one_step_is_the_exact_refit(data):
    cons = aggregate(data, "mv")
    quick = preview_ban(data, cons, FLIPPERS)
    full = preview_ban(data, cons, FLIPPERS, refit=True)
    assert quick.exact and quick.mode == "one-step"
    np.testing.assert_array_equal(quick.new_labels, full.new_labels)
    np.testing.assert_allclose(quick.new_probas, full.new_probas, atol=1e-12)
    assert quick.changed["task"].tolist() == full.changed["task"].tolist()
    assert len(quick.changed) >= 5


def test_ds_one_step_is_one_e_step_with_other_matrices_fixed(data):
    rng = np.random.default_rng(0)
    W, K = data.n_workers, data.n_classes
    A = rng.dirichlet(np.ones(K) * 2, size=(W, K)) + np.eye(K)[None] * 2
    A /= A.sum(axis=2, keepdims=True)
    prior = np.array([0.5, 0.3, 0.2])

    def e_step(keep):
        lp = np.tile(np.log(prior), (data.n_tasks, 1))
        np.add.at(lp, data.task[keep], np.log(A[data.worker[keep], :, data.label[keep]]))
        p = np.exp(lp - lp.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)

    full = e_step(np.ones(data.n, bool))
    cons = Consensus("ds", full, argmax_lowest(full), prior, confusion=A)
    removed = np.isin(data.worker_ids[data.worker], FLIPPERS)
    prev = preview_ban(data, cons, FLIPPERS, warm=False)
    assert prev.mode == "one-step"
    expect = e_step(~removed)
    np.testing.assert_allclose(prev.new_probas, expect, atol=1e-9)
    untouched = ~np.isin(np.arange(data.n_tasks), data.task[removed])
    assert (prev.tv[untouched] == 0).all()
    assert not prev.exact


def test_removing_planted_flippers_repairs_labels_and_gold(data):
    cons = aggregate(data, "mv")
    prev = preview_ban(data, cons, FLIPPERS, min_trusted_labels=3)
    g = prev.gold
    assert g["n_gold"] == 30 and g["acc_after"] > g["acc_before"]
    truth = dict(zip(*synthetic_frame(seed=5)[1].values.T, strict=True))
    fixed = [t for t, new in zip(prev.changed["task"], prev.changed["new"], strict=True) if truth.get(t) == new]
    broke = [t for t, old in zip(prev.changed["task"], prev.changed["old"], strict=True) if truth.get(t) == old]
    assert len(fixed) > len(broke)
    s = prev.summary()
    assert s["n_labels_removed"] == int(np.isin(data.worker_ids[data.worker], FLIPPERS).sum())
    # Every re-queue suggestion is a touched task left below three trusted labels.
    assert (prev.below_min["n_trusted_left"] < 3).all() and set(prev.requeue) <= set(data.task_ids)


def _trusted_left(data, banned, untrusted):
    """Per touched task, labels left after the ban and those of them not from untrusted workers,
    counted directly from the label rows."""
    frame = data.to_frame()
    touched = frame.loc[frame["worker"].isin(banned), "task"].unique()
    left = frame[frame["task"].isin(touched) & ~frame["worker"].isin(banned)]
    n_left = left.groupby("task").size().reindex(touched, fill_value=0)
    n_trusted = left[~left["worker"].isin(untrusted)].groupby("task").size().reindex(touched, fill_value=0)
    return n_left, n_trusted


def test_untrusted_labels_do_not_count_as_trusted(data):
    cons = aggregate(data, "mv")
    banned, untrusted = FLIPPERS[:1], [EVIL, *FLIPPERS[1:]]
    a = preview_ban(data, cons, banned, min_trusted_labels=4)
    b = preview_ban(data, cons, banned, min_trusted_labels=4, untrusted=untrusted)
    n_left, n_trusted = _trusted_left(data, banned, untrusted)
    # Without untrusted workers every label left is trusted; with them, only the others count.
    assert sorted(a.below_min["task"]) == sorted(n_left.index[n_left < 4])
    assert sorted(b.below_min["task"]) == sorted(n_trusted.index[n_trusted < 4])
    assert (len(a.below_min), len(b.below_min)) == (0, 16)
    got = b.below_min.set_index("task")
    assert (got["n_trusted_left"] == n_trusted[got.index]).all()
    assert (got["n_labels_left"] == n_left[got.index]).all()
    assert (b.changed["n_trusted_left"] <= b.changed["n_labels_left"]).all()


def test_task_labelled_only_by_removed_workers_has_no_label():
    import pandas as pd

    df = pd.DataFrame({"task": ["a", "a", "b", "b", "c"], "worker": ["x", "y", "x", "z", "x"],
                       "label": ["1", "1", "0", "0", "1"]})
    d = from_frame(df)
    prev = preview_ban(d, aggregate(d, "mv"), ["x"])
    row = prev.changed.set_index("task").loc["c"]
    assert row["new"] is None and row["n_labels_left"] == 0
    assert "c" in prev.requeue


def test_bad_selection_is_a_user_error(data):
    cons = aggregate(data, "mv")
    with pytest.raises(UserError, match="no labels here"):
        preview_ban(data, cons, ["ghost"])
    with pytest.raises(UserError, match="at least one"):
        preview_ban(data, cons, [])


@pytest.mark.parametrize("method", ["cbds", "glad"])
def test_warm_preview_reaches_the_refit(data, method):
    """The default preview re-fits iterative models from the current fit; it lands where a cold re-fit does."""
    cons = aggregate(data, method, use_gold=False)
    warm = preview_ban(data, cons, FLIPPERS, use_gold=False)
    cold = preview_ban(data, cons, FLIPPERS, refit=True, use_gold=False)
    assert warm.mode == "warm" and not warm.exact and cold.mode == "refit" and cold.exact
    assert (warm.new_labels == cold.new_labels).mean() >= 0.98      # EM may settle elsewhere on a rare task
    far = np.abs(warm.new_probas - cold.new_probas).max(axis=1) > 0.05
    assert far.mean() <= 0.05      # GLAD stops on its Q rule, not at a tight fixed point
    assert warm.gold["acc_after"] == pytest.approx(cold.gold["acc_after"], abs=0.02)


@pytest.mark.parametrize("method", ["cbds", "ds"])
def test_warm_preview_on_real_data_matches_the_exact_refit(method):
    from conftest import load_dataset

    df, gold = load_dataset("zheng_product")
    d = from_frame(df, gold=gold)
    cons = aggregate(d, method, use_gold=False)
    busiest = np.argsort(np.bincount(d.worker, minlength=d.n_workers))[-3:]
    ids = list(d.worker_ids[busiest])
    warm = preview_ban(d, cons, ids, use_gold=False)
    cold = preview_ban(d, cons, ids, refit=True, use_gold=False)
    assert warm.n_labels_removed > 1000
    same = (warm.new_labels == cold.new_labels).mean()
    assert same >= 0.99          # a different local optimum on a few tasks at most
    assert abs(len(warm.changed) - len(cold.changed)) <= 0.2 * max(len(cold.changed), 1) + 2
