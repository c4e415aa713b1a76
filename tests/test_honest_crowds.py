"""Every alarm against honest crowds of many shapes (analytics.redteam.crowds).

A detector is only as good as its null: on a crowd with no attacker, items served in order,
a team working one queue, a daily rush, time zones, fast professionals, shifts, heavy-tailed
volumes, class imbalance, hard items and small teams, the verdict flags (almost) nobody and
each detector's false-alarm rate stays within its nominal level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.dataset import from_frame
from analytics.pipeline import analyze_arrays
from analytics.redteam.crowds import SHAPES, generate

N_LABELS = 40_000

TIMING = ("burst", "drift", "cotiming", "pattern", "straightline", "fast")


@pytest.fixture(scope="module")
def analysed():
    out = {}
    for i, shape in enumerate(SHAPES):
        labels, gold = generate(shape, n_labels=N_LABELS, seed=100 + i)
        out[shape] = (labels, gold, analyze_arrays(from_frame(labels)))
    return out


def test_generator_makes_honest_crowds_of_the_named_shape():
    labels, gold = generate("inhouse_team", n_labels=6000, seed=1)
    assert labels["worker"].nunique() == 12
    assert not labels.duplicated(["task", "worker"]).any()
    assert (labels.groupby("task")["worker"].nunique() <= 3).all()
    hours = pd.to_datetime(labels["submitted_at"]).dt.hour
    assert hours.between(8, 19).mean() > 0.95                       # office hours
    assert pd.to_datetime(labels["submitted_at"]).dt.dayofweek.max() <= 4     # weekdays
    # items served in order: an item's answers arrive close together
    pool, _ = generate("busy_pool_in_order", n_labels=20000, seed=1)
    spread = pool.groupby("task")["submitted_at"].agg(lambda s: (s.max() - s.min()).total_seconds())
    assert spread.median() < 120
    # every worker is at least 0.25 above chance on every class (gold = truth)
    lab, gold = generate("hard_items", n_labels=20000, seed=2, hard_share=0.0)
    m = lab.merge(gold, on="task", suffixes=("", "_true"))
    per = m.assign(ok=m.label == m.label_true).groupby(["worker", "label_true"])["ok"].agg(["mean", "size"])
    assert per.loc[per["size"] >= 30, "mean"].min() > 0.25 + 0.25 - 0.1    # K=4: chance 0.25, sampling slack
    a, _ = generate("daily_rush", n_labels=5000, seed=3)
    b, _ = generate("daily_rush", n_labels=5000, seed=3)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_honest_crowd_is_left_alone(analysed, shape):
    _, _, res = analysed[shape]
    w = res.workers
    flagged = w.loc[w["suspect"], ["worker", "kind", "reasons"]]
    assert w["suspect"].mean() <= 0.01, flagged.head(10).to_string()
    assert not res.summary["crowd_wide_signals"], res.summary["crowd_wide_note"]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_detector_is_within_its_nominal_level(analysed, shape):
    """The share of honest workers with p < 0.01 is at most about 1% (plus binomial slack), and
    the share the detector itself fires on at most 1%."""
    _, _, res = analysed[shape]
    sig = res.signals
    for name, g in sig.groupby("signal"):
        p = g["p_value"].to_numpy(float)
        p = p[np.isfinite(p)]
        if p.size < 20:
            continue
        slack = 3 * np.sqrt(0.01 * 0.99 / p.size)
        assert np.mean(p < 0.01) <= 0.01 + slack, (name, np.mean(p < 0.01), p.size)
        assert g["fired"].mean() <= 0.01 + slack, (name, g["fired"].mean())


def test_weak_honest_workers_are_low_quality_not_suspect():
    """Accuracies 0.6-0.95 on an 85/15 prior: the weakest are recommended for review, none is accused."""
    labels, _ = generate("mixed_skill", n_labels=60_000, seed=9)
    w = analyze_arrays(from_frame(labels)).workers
    assert w["suspect"].sum() == 0, w.loc[w.suspect, ["worker", "reasons"]].to_string()
    assert w["low_quality"].any()
    lq = w[w["low_quality"]]
    assert lq["reasons"].str.startswith("review recommended").all()
    assert (lq["trust"] <= w.loc[~w["low_quality"], "trust"].median()).all()


def test_timing_attacks_planted_into_an_honest_crowd_are_still_found():
    """Burst bots and a co-timed copy ring planted into a crowd whose items are served in order:
    the crowd's synchrony is in the null, the attackers' is not."""
    labels, gold = generate("busy_pool_in_order", n_labels=60_000, seed=4)
    data = from_frame(labels)
    from analytics.redteam.attacks import inject

    bots = inject(from_frame(labels, gold=gold), "burst", share=0.01, seed=1, answers="constant")
    res = analyze_arrays(bots.blind())
    w = res.workers.set_index("worker")
    planted = bots.key.loc[bots.key.planted, "worker"]
    sig = res.signals[(res.signals.signal == "burst") & res.signals.significant]
    assert set(planted) <= set(sig["worker"]), "every burst bot fires the burst signal"
    assert w.loc[planted, "suspect"].all()
    assert w.drop(index=planted)["suspect"].mean() <= 0.01
    assert data.n_workers == w.shape[0] - len(planted)
