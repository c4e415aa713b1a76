"""Per-item (task) scores: how uncertain the aggregated label is (detection-methods.md §5).

:func:`item_scores` returns one row per task code with

``n_labels``        labels the task received;
``entropy``         posterior entropy H_i = -sum_k p_ik ln p_ik (nats; 0 = certain, ln K = uniform);
``entropy_norm``    H_i / ln K in [0, 1] (NaN when K = 1);
``margin``          p_(1) - p_(2), the gap between the two most probable classes (1 when K = 1);
``disagreement``    raw disagreement 1 - max_k n_ik / n_i (share of labels that differ from the plurality);
``pair_agreement``  share of agreeing label pairs (NaN with fewer than two labels);
``difficulty``      GLAD difficulty exp(-beta_i) (Whitehill et al., NIPS 2009) when the consensus came
                    from GLAD, else NaN.

All vectorised over tasks; the posterior is the consensus model's ``probas``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.agreement import task_agreement
from analytics.consensus import Consensus
from analytics.dataset import LabelArrays


def item_scores(data: LabelArrays, consensus: Consensus) -> pd.DataFrame:
    """Uncertainty scores per task (index = task code); see the module docstring."""
    p = np.asarray(consensus.probas, float)
    T, K = p.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=1)
    ent = np.maximum(ent, 0.0)
    if K >= 2:
        top2 = -np.partition(-p, 1, axis=1)[:, :2]
        margin = top2[:, 0] - top2[:, 1]
        ent_norm = ent / np.log(K)
    else:
        margin = np.ones(T)
        ent_norm = np.full(T, np.nan)
    ta = task_agreement(data)
    diff = (np.asarray(consensus.difficulty, float) if consensus.difficulty is not None
            else np.full(T, np.nan))
    return pd.DataFrame({
        "n_labels": ta["n_labels"].to_numpy(),
        "entropy": ent, "entropy_norm": ent_norm, "margin": margin,
        "disagreement": 1.0 - ta["majority_share"].to_numpy(),
        "pair_agreement": ta["pair_agreement"].to_numpy(),
        "difficulty": diff,
    }, index=pd.RangeIndex(T, name="task"))
