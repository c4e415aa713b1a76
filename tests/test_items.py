"""Item scores: entropy, margin, disagreement, GLAD difficulty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.aggregate import aggregate
from analytics.dataset import from_frame
from analytics.items import item_scores


def _data():
    rows = ([("easy", f"w{i}", "a") for i in range(5)]
            + [("split", "w0", "a"), ("split", "w1", "b"), ("split", "w2", "a"), ("split", "w3", "b")]
            + [("single", "w4", "b")])
    return from_frame(pd.DataFrame(rows, columns=["task", "worker", "label"]))


def test_item_scores_mv():
    d = _data()
    sc = item_scores(d, aggregate(d, "mv"))
    sc.index = d.task_ids
    assert sc.loc["easy", "entropy"] == 0.0 and sc.loc["easy", "margin"] == 1.0
    assert sc.loc["split", "entropy"] == pytest.approx(np.log(2)) and sc.loc["split", "entropy_norm"] == pytest.approx(1.0)
    assert sc.loc["split", "margin"] == pytest.approx(0.0)
    assert sc.loc["split", "disagreement"] == pytest.approx(0.5)
    assert sc.loc["easy", "disagreement"] == 0.0
    assert list(sc.n_labels) == [5, 1, 4]
    assert np.isnan(sc.loc["single", "pair_agreement"])
    assert sc.difficulty.isna().all()


def test_uncertain_items_rank_first_with_ds_and_glad():
    rng = np.random.default_rng(0)
    rows = []
    for t in range(60):
        hard = t < 15
        for w in range(5):
            ok = rng.random() < (0.55 if hard else 0.95)
            rows.append((f"t{t:02d}", f"w{w}", "1" if ok else "0"))
    d = from_frame(pd.DataFrame(rows, columns=["task", "worker", "label"]))
    for method in ("ds", "glad"):
        sc = item_scores(d, aggregate(d, method))
        hard = np.arange(60) < 15
        assert sc.entropy[hard].mean() > sc.entropy[~hard].mean()
        assert sc.margin[hard].mean() < sc.margin[~hard].mean()
        if method == "glad":
            assert np.isfinite(sc.difficulty).all()


def test_one_class_project():
    d = from_frame(pd.DataFrame({"task": ["a", "a"], "worker": ["u", "v"], "label": ["x", "x"]}))
    sc = item_scores(d, aggregate(d, "ds"))
    assert sc.entropy.iloc[0] == 0.0 and sc.margin.iloc[0] == 1.0 and np.isnan(sc.entropy_norm.iloc[0])
