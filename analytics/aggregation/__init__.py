"""Aggregation models behind one interface: coded labels in, :class:`~analytics.consensus.Consensus` out.

One model per module, all vectorised numpy/scipy on integer codes (a task x (worker, label)
sparse matrix or ``bincount`` passes, O(labels * K) per iteration), each checked against
crowd-kit 1.4.2 where crowd-kit has the model (tests/test_aggregation_models.py) and timed
against it on 1M labels (benchmarks/aggregation_speed.py):

=========  =====================================================  ==========================
name       model                                                  module
=========  =====================================================  ==========================
cbds       crowd-prior Bayesian Dawid-Skene (VB)                  :mod:`.cbds`
mv         majority vote                                          :mod:`.votes`
wawa       vote weighted by agreement with the majority           :mod:`.votes`
zbs        Zero-Based Skill                                       :mod:`.votes`
ds         Dawid-Skene (EM, maximum likelihood)                   :mod:`.dawid_skene`
onecoin    one-coin Dawid-Skene                                   :mod:`.dawid_skene`
glad       GLAD, worker ability x item difficulty                 :mod:`.glad`
mace       MACE, competence and spamming                          :mod:`.mace`
ibcc       IBCC, Bayesian Dawid-Skene (VB)                        :mod:`.ibcc`
ebcc       EBCC, worker correlation through task subtypes (VB)    :mod:`.ebcc`
bwa        Bayesian weighted average                              :mod:`.bwa`
kos, mmsr  crowd-kit's own (KOS two-class only; M-MSR memory      :mod:`.crowdkit_models`
           grows with workers^4)
=========  =====================================================  ==========================

Tie rule (all models): the label of a task is the class with the highest posterior; a tie
(within 1e-12) goes to the **lowest class code**, i.e. the first class in
``LabelArrays.classes`` order (numeric order when every label is a number, e.g. ``0`` beats
``1``; otherwise lexicographic). Majority vote scores 0.8966 on ``zheng_product`` (3 labels per
two-class task, so no ties) and 0.932 on ``zheng_sentiment`` (43 tied tasks; ties to the highest
code would give 0.935).

Gold: with ``use_gold=True`` Dawid-Skene clamps the gold tasks' posteriors to the gold answer at
every EM step (crowd-kit's ``DawidSkene.fit(true_labels=...)``); those posteriors then *are* the
gold, so code that scores consensus against gold must use ``use_gold=False``. Other models
ignore gold.

Warm start: ``init=`` an earlier Consensus of the same method starts the iterations from its
posteriors (and parameters, where the model keeps them) instead of from scratch; the what-if
preview (:mod:`analytics.impact`) re-fits a project without some workers that way.

Cost guard: :func:`estimate_cost` (:mod:`.cost`) predicts seconds and bytes; :func:`aggregate`
refuses a model whose estimate exceeds :data:`MAX_SECONDS` / :data:`MAX_BYTES` (override per call)
with a :class:`~analytics.errors.UserError` that states the estimate.
"""

from __future__ import annotations

import numpy as np

from analytics.aggregation.bwa import bwa
from analytics.aggregation.cbds import cbds
from analytics.aggregation.cost import MAX_BYTES, MAX_SECONDS, estimate_cost
from analytics.aggregation.crowdkit_models import crowdkit_errors, run_crowdkit
from analytics.aggregation.dawid_skene import dawid_skene, one_coin
from analytics.aggregation.ebcc import ebcc
from analytics.aggregation.glad import glad
from analytics.aggregation.ibcc import ibcc
from analytics.aggregation.mace import mace
from analytics.aggregation.votes import majority_vote, wawa, zero_based_skill
from analytics.consensus import Consensus
from analytics.dataset import LabelArrays
from analytics.errors import UserError

__all__ = ["MODELS", "MAX_SECONDS", "MAX_BYTES", "aggregate", "estimate_cost", "dawid_skene", "majority_vote",
           "crowdkit_errors", "run_crowdkit"]

#: Model names for the UI picker, in display order.
MODELS: dict[str, str] = {
    "cbds": "Crowd-prior Bayesian Dawid-Skene: each worker's confusion matrix, shrunk towards the crowd's "
            "by how few labels they gave. Default; most accurate on average.",
    "ds": "Dawid-Skene: one confusion matrix per worker (EM, maximum likelihood).",
    "mv": "Majority vote: every label counts once.",
    "wawa": "Wawa: majority vote weighted by each worker's agreement with the majority.",
    "zbs": "Zero-Based Skill: weighted majority vote with skills learned by gradient steps.",
    "onecoin": "One-coin Dawid-Skene: one accuracy per worker, errors spread evenly.",
    "glad": "GLAD: worker ability and item difficulty.",
    "mace": "MACE: each worker either knows the answer or spams from their own distribution.",
    "ibcc": "IBCC: Bayesian Dawid-Skene; a prior keeps workers with few labels from extreme matrices.",
    "ebcc": "EBCC: Bayesian Dawid-Skene with task subtypes that model correlated worker errors.",
    "bwa": "BWA: Bayesian weighted average of one-vs-rest votes with a precision per worker.",
    "kos": "KOS: Karger-Oh-Shah message passing (two-class projects only).",
    "mmsr": "M-MSR: matrix completion of worker skills (memory grows with workers^4).",
}


def _check_method(method: str) -> str:
    m = str(method).lower()
    if m not in MODELS:
        raise UserError(f"unknown aggregation method {method!r}; choose one of {', '.join(MODELS)}")
    return m


def _check_codes(data: LabelArrays) -> None:
    """Refuse arrays whose codes fall outside their id tables (e.g. missing labels coded -1)."""
    for name, codes, size in (("label", data.label, data.n_classes), ("task", data.task, data.n_tasks),
                              ("worker", data.worker, data.n_workers)):
        if len(codes) and (int(codes.min()) < 0 or int(codes.max()) >= size):
            raise UserError(f"some {name} values are missing or outside the project's {name} list; "
                            "drop or fix those rows and analyse again")


def _fmt_bytes(b: float) -> str:
    return f"{b / 2**30:.1f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB"


def _guard(data: LabelArrays, method: str, n_iter: int, max_seconds: float | None, max_bytes: float | None) -> None:
    lim_s = MAX_SECONDS if max_seconds is None else max_seconds
    lim_b = MAX_BYTES if max_bytes is None else max_bytes
    secs, nbytes = estimate_cost(data, method, n_iter=n_iter)
    if secs > lim_s or nbytes > lim_b:
        if data.n_classes > max(30, data.n / 5):
            raise UserError(
                f"{method} would need about {_fmt_bytes(nbytes)}: the project has {data.n_classes:,} distinct labels "
                f"in {data.n:,} answers, so its label column is free text or an id, not a set of classes; load the "
                "file again choosing the answer column")
        other = "'mv' (majority vote)" if method in ("ds", "cbds") else "'ds' (Dawid-Skene)"
        raise UserError(
            f"{method} would take about {secs:.0f} s and {_fmt_bytes(nbytes)} on {data.n:,} labels "
            f"from {data.n_workers:,} workers (limits {lim_s:.0f} s, {_fmt_bytes(lim_b)}); "
            f"use method {other}, or raise the limit if you can wait"
        )


def _single_class(data: LabelArrays, method: str) -> Consensus:
    """One class: every model can only say that class (GLAD divides by K - 1)."""
    from analytics.consensus import argmax_lowest

    ones = np.ones((data.n_tasks, 1))
    skills = np.where(np.bincount(data.worker, minlength=data.n_workers) > 0, 1.0, np.nan)
    errors = np.ones((data.n_workers, 1, 1)) if method not in ("mv", "wawa", "zbs", "glad", "bwa", "kos", "mmsr") else None
    return Consensus(method, ones, argmax_lowest(ones), np.ones(1), confusion=errors, skills=skills,
                     difficulty=np.ones(data.n_tasks) if method == "glad" else None)


def _warm(init: Consensus | None, method: str, data: LabelArrays) -> Consensus | None:
    if init is None:
        return None
    if init.method != method or init.probas.shape != (data.n_tasks, data.n_classes):
        raise UserError(f"a warm start needs an earlier {method} fit of the same tasks and classes")
    return init


def aggregate(
    data: LabelArrays,
    method: str = "cbds",
    *,
    use_gold: bool = True,
    n_iter: int = 100,
    tol: float = 1e-5,
    seed: int = 0,
    max_seconds: float | None = None,
    max_bytes: float | None = None,
    init: Consensus | None = None,
) -> Consensus:
    """Fit aggregation model ``method`` (a key of :data:`MODELS`) and return its Consensus.

    ``probas`` is (n_tasks, K) in code order, ``labels`` the argmax with ties to the lowest
    class code, ``confusion`` (W, K, K) with A_w[c, k] = P(y = k | z = c) for models with
    confusion matrices (cbds, ds, onecoin, mace, ibcc, ebcc), ``skills`` the model's scalar worker
    skill (confusion models: diagonal mass sum_c prior_c A_w[c, c]; mv/wawa: agreement with the
    aggregate; zbs: its skill; glad: ability alpha; mace: competence; bwa: relative precision),
    ``difficulty`` exp(-beta_i) for GLAD. Tasks without any label get the class prior; workers
    without labels get NaN skill. ``init`` warm-starts from an earlier fit of the same method.

    Raises UserError for an unknown method, KOS on a non-binary project, or a model whose
    :func:`estimate_cost` exceeds ``max_seconds``/``max_bytes`` (defaults :data:`MAX_SECONDS`,
    :data:`MAX_BYTES`).
    """
    method = _check_method(method)
    if data.n == 0:
        raise UserError("no labels to aggregate: the project (or the labels left after exclusions) is empty")
    if n_iter < 1:
        raise UserError(f"n_iter must be at least 1, got {n_iter}")
    _check_codes(data)
    _guard(data, method, n_iter, max_seconds, max_bytes)
    K = data.n_classes
    if K == 1 and method != "mv":
        return _single_class(data, method)
    if method == "kos" and K != 2:
        raise UserError(f"KOS works on two-class projects only; this one has {K} classes: use method 'ds'")
    warm = _warm(init, method, data)
    p0 = None if warm is None else warm.probas
    params = None if warm is None else (warm.params or None)
    if method == "mv":
        return majority_vote(data)
    if method == "wawa":
        return wawa(data)
    if method == "zbs":
        return zero_based_skill(data, n_iter=n_iter)
    if method == "ds":
        gold = data.gold_vector() if use_gold else None
        return dawid_skene(data, n_iter=n_iter, tol=tol, gold=gold, init=p0)
    if method == "onecoin":
        return one_coin(data, n_iter=n_iter, tol=tol, init=p0)
    if method == "glad":
        return glad(data, n_iter=n_iter, tol=tol, init=params if params and "alpha" in params else None)
    if method == "mace":
        return mace(data, random_state=seed, init=params if params and "spamming" in params else None)
    if method == "cbds":
        strength = params.get("strength") if params else None
        return cbds(data, init=p0, **({"strength": strength} if strength is not None else {}))
    if method == "ibcc":
        return ibcc(data, init=p0)
    if method == "ebcc":
        return ebcc(data, init=params if params and "subtypes" in params else None)
    if method == "bwa":
        return bwa(data)
    try:
        return run_crowdkit(data, method, n_iter=n_iter, tol=tol, seed=seed)
    except (ValueError, KeyError, IndexError, ZeroDivisionError, np.linalg.LinAlgError) as err:
        # crowd-kit models can fail on degenerate projects (e.g. M-MSR with two workers)
        raise UserError(f"crowd-kit's {method} model failed on this project ({type(err).__name__}: "
                        f"{str(err).splitlines()[0] if str(err) else 'no message'}); use method 'ds'") from err
