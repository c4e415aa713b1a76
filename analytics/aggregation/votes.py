"""Vote models: majority vote, Wawa and Zero-Based Skill, on integer codes.

* **Majority vote** – P(z_i = k) = share of task i's labels equal to k.
* **Wawa** ("worker agreement with aggregate", crowd-kit ``Wawa``) – weight each worker by
  their agreement with the majority vote, then take the weighted vote shares.
* **Zero-Based Skill** (crowd-kit ``ZeroBasedSkill``) – start every skill at 1/K + 1e-5 and
  repeat ``n_iter`` times: weighted majority vote with the skills, then move each skill a
  step ``lr`` towards the worker's agreement with that vote (``lr`` starts at 1 and halves
  every 20 iterations); the answer is the weighted vote with the final skills.

Same arithmetic as crowd-kit 1.4.2 (duplicated (task, worker, label) rows count twice in a
vote and once in an agreement, as in its ``get_accuracy``), vectorised with ``bincount``:
one iteration costs O(labels). Ties go to the lowest class code, which is also what
crowd-kit's ``idxmax`` does on integer-coded labels.
"""

from __future__ import annotations

import numpy as np

from analytics.aggregation.coded import agreement_with, fill_empty, unique_rows, vote_counts, vote_shares
from analytics.consensus import Consensus, argmax_lowest
from analytics.dataset import LabelArrays


def _weighted_vote(data: LabelArrays, skills: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probas, labels) of the vote weighted by ``skills[worker]``; ties to the lowest code.

    A task whose workers all weigh 0 gets no label (-1), as crowd-kit's NaN row.
    """
    shares = vote_shares(vote_counts(data, np.nan_to_num(skills, nan=0.0)[data.worker]))
    labels = argmax_lowest(shares)
    labels[shares.sum(axis=1) <= 0] = -1
    return shares, labels


def _priors(probas: np.ndarray) -> np.ndarray:
    has = probas.sum(axis=1) > 0
    K = probas.shape[1]
    return probas[has].mean(axis=0) if has.any() else np.full(K, 1.0 / K)


def majority_vote(data: LabelArrays) -> Consensus:
    """Majority vote; skills are each worker's agreement with the aggregate (crowd-kit MajorityVote.skills_)."""
    counts = vote_counts(data)
    probas = vote_shares(counts)
    priors = counts.sum(axis=0) / max(counts.sum(), 1.0)
    probas = fill_empty(probas, priors)
    labels = argmax_lowest(probas)
    return Consensus("mv", probas, labels, priors, skills=agreement_with(data, labels, unique_rows(data)))


def wawa(data: LabelArrays) -> Consensus:
    """Wawa: the vote weighted by each worker's agreement with the plain majority vote."""
    uniq = unique_rows(data)
    mv_labels = argmax_lowest(vote_shares(vote_counts(data)))
    skills = agreement_with(data, mv_labels, uniq)
    probas, _ = _weighted_vote(data, skills)
    priors = _priors(probas)
    probas = fill_empty(probas, priors)
    return Consensus("wawa", probas, argmax_lowest(probas), priors, skills=skills)


def zero_based_skill(data: LabelArrays, n_iter: int = 100, lr_init: float = 1.0, lr_steps_to_reduce: int = 20,
                     lr_reduce_factor: float = 0.5, eps: float = 1e-5) -> Consensus:
    """Zero-Based Skill (crowd-kit ``ZeroBasedSkill``): skills learned by damped steps towards agreement."""
    uniq = unique_rows(data)
    n_w = np.bincount(data.worker, minlength=data.n_workers)
    k_used = len(np.unique(data.label))
    skills = np.where(n_w > 0, 1.0 / k_used + eps, np.nan)
    lr = lr_init
    for it in range(1, n_iter + 1):
        if it % lr_steps_to_reduce == 0:
            lr *= lr_reduce_factor
        _, labels = _weighted_vote(data, skills)
        agree = agreement_with(data, labels, uniq & (labels[data.task] >= 0))
        skills = skills + lr * (agree - skills)
    probas, _ = _weighted_vote(data, skills)
    priors = _priors(probas)
    probas = fill_empty(probas, priors)
    return Consensus("zbs", probas, argmax_lowest(probas), priors, skills=skills)
