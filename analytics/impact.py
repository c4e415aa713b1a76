"""Blast radius of a ban: which aggregated labels change if a set of workers is removed.

Method (detection-methods.md §5, "Blast radius of a worker set S"). Let ``p_i`` be the
current posterior of task ``i`` and ``W_i`` its workers.

*Warm re-fit* (default for the iterative models: cbds, ds, onecoin, glad, mace, ibcc, ebcc):
re-run the model on the data without ``S``, starting its iterations from the current fit's
posteriors (and parameters) instead of from scratch. Removing a few workers moves the fixed
point a little, so a handful of EM steps reach it: under a second on 1M labels
(benchmarks/results/aggregation_speed.md) where a cold re-fit takes several. It is the model's
own answer without ``S`` up to where EM stops (the cold re-fit can land in another local
optimum on rare tasks); ``refit=True`` gives the exact export-time answer. Wawa, ZBS and BWA
are cheap enough that the preview simply re-fits them exactly; for majority vote the one-step
preview below is exact.

*One-step preview* (``warm=False``, and KOS/M-MSR): keep every other worker's parameters
fixed and redo one E-step without the labels of ``S``. For a model with confusion matrices (Dawid & Skene
1979, "Maximum likelihood estimation of observer error-rates using the EM algorithm",
JRSS C 28(1)) the posterior is ``p_i ∝ π · Π_{w∈W_i} A_w[:, y_wi]``, so removing ``S``
divides out their factors::

    p'_i ∝ p_i / Π_{w∈W_i∩S} A_w[:, y_wi]

which costs O(|labels of S| · K) and leaves tasks that ``S`` never labelled exactly as
they are. For vote models (majority vote, and the weighted votes of Wawa / ZBS) the
task's (weighted) votes of ``S`` are subtracted; this is *exact* for majority vote. For
other models (GLAD, MACE, KOS, ...) the vote shift is only indicative: use ``refit=True``.

*Re-fit* (``refit=True``): run :func:`analytics.aggregate.aggregate` with the same method
on the data without ``S`` and compare; this is what the export will produce after the ban.

Reported, following §5: the changed labels ``Δ(S) = {i : argmax p_i ≠ argmax p'_i}``
with the old and new confidence, the total-variation shift ``TV_i = ½ Σ_k |p_ik − p'_ik|``,
the tasks the ban leaves with fewer than ``min_trusted_labels`` trusted labels (the
suggested re-queue list), and the accuracy change on gold. A task whose labels all came
from ``S`` has no label afterwards (``new`` is None).

Gold accuracy is measured on the crowd's labels, not on a posterior clamped to gold (a
model fitted with gold reproduces it trivially): for each gold task the posterior is
recomputed from its workers' labels alone (``π · Π A_w`` with the fitted matrices, or the
vote shares), with and without ``S``; a gold task left without labels counts as wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.consensus import Consensus, argmax_lowest
from analytics.dataset import LabelArrays
from analytics.errors import UserError

#: models whose probabilities are (weighted) vote shares with ``Consensus.skills`` as weights
WEIGHTED_VOTE_MODELS = ("wawa", "zbs")
#: the model for which the one-step preview is the exact re-fit
EXACT_MODELS = ("mv",)
#: models the preview re-fits from the current fit (warm start, see the module docstring)
WARM_MODELS = ("cbds", "ds", "onecoin", "glad", "mace", "ibcc", "ebcc")
#: models whose exact re-fit is as fast as a preview (majority vote: the one-step preview is exact)
CHEAP_MODELS = ("wawa", "zbs", "bwa")
_LOG_FLOOR = 1e-300     # keeps log(p) finite for posteriors that underflowed to 0
_A_FLOOR = 1e-6         # confusion-matrix floor, as in consensus.leave_one_out_posteriors


@dataclass
class ImpactPreview:
    """What banning ``workers`` would do.

    workers : the worker ids removed
    method : the consensus model
    mode : ``'warm'`` (re-fit from the current fit), ``'one-step'`` or ``'refit'``
    exact : True when the numbers are what a cold re-fit gives (``refit``, or a cheap vote model)
    n_labels_removed, n_tasks_touched : labels of the removed workers and the tasks they labelled
    changed : DataFrame, one row per task whose label changes: ``task, old, new, old_conf,
        new_conf, tv, n_labels_left, n_trusted_left`` (``new`` None when no label is left)
    tv : (n_tasks,) total-variation shift of every task's posterior (0 for untouched tasks)
    below_min : DataFrame of touched tasks left with fewer than ``min_trusted_labels``
        trusted labels: ``task, label, n_labels_left, n_trusted_left``
    gold : dict ``n_gold, acc_before, acc_after, delta, n_gold_changed`` or None without gold
    new_labels : (n_tasks,) label codes after the ban (-1 where no label is left)
    new_probas : (n_tasks, K) posteriors after the ban
    """

    workers: list[str]
    method: str
    mode: str
    exact: bool
    min_trusted_labels: int
    n_labels_removed: int
    n_tasks_touched: int
    changed: pd.DataFrame
    tv: np.ndarray
    below_min: pd.DataFrame
    gold: dict | None
    new_labels: np.ndarray
    new_probas: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def requeue(self) -> list[str]:
        """Suggested re-queue list: the tasks left below the minimum of trusted labels."""
        return self.below_min["task"].astype(str).tolist()

    def summary(self) -> dict:
        """Headline numbers, JSON-friendly (what the CLI prints and the audit entry keeps)."""
        touched = self.tv[self.tv > 0]
        out = {
            "workers": list(self.workers), "method": self.method, "mode": self.mode, "exact": self.exact,
            "n_labels_removed": self.n_labels_removed, "n_tasks_touched": self.n_tasks_touched,
            "n_labels_changed": int(len(self.changed)),
            "n_left_without_labels": int(self.changed["new"].isna().sum()) if len(self.changed) else 0,
            "mean_tv_touched": float(touched.mean()) if touched.size else 0.0,
            "max_tv": float(self.tv.max()) if self.tv.size else 0.0,
            "min_trusted_labels": self.min_trusted_labels,
            "n_below_min": int(len(self.below_min)),
            "gold": self.gold,
        }
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def worker_codes(data: LabelArrays, workers) -> np.ndarray:
    """Codes of ``workers`` given as ids (str) or codes (int); unknown ids raise UserError."""
    workers = list(workers)
    if not workers:
        return np.empty(0, np.int32)
    if all(isinstance(w, (int, np.integer)) and not isinstance(w, bool) for w in workers):
        codes = np.asarray(workers, dtype=np.int64)
        if ((codes < 0) | (codes >= data.n_workers)).any():
            raise UserError(f"worker codes must be between 0 and {data.n_workers - 1}")
        return np.unique(codes).astype(np.int32)
    ids = np.asarray([str(w) for w in workers], dtype=object)
    pos = np.searchsorted(data.worker_ids, ids)
    pos_c = np.clip(pos, 0, max(data.n_workers - 1, 0))
    ok = (pos < data.n_workers) & (data.worker_ids[pos_c] == ids) if data.n_workers else np.zeros(len(ids), bool)
    if not ok.all():
        bad = ids[~ok]
        raise UserError(f"{len(bad)} worker id(s) have no labels here: {', '.join(map(repr, bad[:5]))}"
                        f"{' ...' if len(bad) > 5 else ''}; check the spelling or whether they are already banned")
    return np.unique(pos).astype(np.int32)


def _gold_codes(data: LabelArrays, gold) -> np.ndarray:
    """Gold label code per task (-1 none) from None (the data's gold), an array, a frame or a dict."""
    if gold is None:
        return data.gold_vector()
    if isinstance(gold, np.ndarray) and gold.shape == (data.n_tasks,):
        return gold.astype(np.int32)
    if isinstance(gold, pd.DataFrame):
        gold = dict(zip(gold["task"].astype(str), gold["label"].astype(str), strict=True))
    g = np.full(data.n_tasks, -1, np.int32)
    if gold:
        tasks = np.asarray(list(gold.keys()), dtype=object)
        labels = pd.Categorical([str(v) for v in gold.values()], categories=list(data.classes)).codes
        pos = np.searchsorted(data.task_ids, tasks)
        pos_c = np.clip(pos, 0, max(data.n_tasks - 1, 0))
        ok = (pos < data.n_tasks) & (data.task_ids[pos_c] == tasks) & (labels >= 0)
        g[pos[ok]] = labels[ok]
    return g


def _label_weights(data: LabelArrays, consensus: Consensus) -> np.ndarray | None:
    if consensus.method in WEIGHTED_VOTE_MODELS and consensus.skills is not None:
        s = np.nan_to_num(np.asarray(consensus.skills, dtype=float), nan=0.0)
        return s[data.worker]
    return None


def _crowd_scores(data: LabelArrays, consensus: Consensus, rows: np.ndarray, tasks: np.ndarray) -> np.ndarray:
    """Log-posterior (model with matrices) or vote totals from label ``rows``, for ``tasks``.

    Returns (len(tasks), K); ``tasks`` must be sorted unique task codes covering ``rows``.
    """
    K = data.n_classes
    idx = np.searchsorted(tasks, data.task[rows])
    if consensus.confusion is not None:
        logA = np.log(np.clip(consensus.confusion, _A_FLOOR, 1.0))
        out = np.tile(np.log(np.clip(consensus.priors, _LOG_FLOOR, 1.0)), (len(tasks), 1))
        np.add.at(out, idx, logA[data.worker[rows], :, data.label[rows]])
        return out
    w = _label_weights(data, consensus)
    out = np.zeros((len(tasks), K))
    np.add.at(out, (idx, data.label[rows]), 1.0 if w is None else w[rows])
    return out


def _normalise(scores: np.ndarray, log: bool) -> np.ndarray:
    if log:
        scores = scores - scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
    else:
        p = np.clip(scores, 0.0, None)
    tot = p.sum(axis=1, keepdims=True)
    return np.divide(p, tot, out=np.zeros_like(p), where=tot > 0)


def preview_ban(data: LabelArrays, consensus: Consensus, workers, min_trusted_labels: int = 2, gold=None,
                refit: bool = False, untrusted=None, warm: bool = True, **aggregate_kwargs) -> ImpactPreview:
    """Preview the effect of removing ``workers`` (ids or codes) from ``data``.

    ``consensus`` is the current aggregate of ``data``. ``untrusted`` lists further workers
    (e.g. current suspects) whose labels still count but not as *trusted* labels.
    ``refit=True`` re-runs the aggregation model from scratch without the workers; otherwise
    iterative models are re-fitted from the current fit (``warm``, the default) or, with
    ``warm=False``, previewed by one E-step. Extra keyword arguments go to
    :func:`analytics.aggregation.aggregate`.
    """
    if min_trusted_labels < 0:
        raise UserError(f"min_trusted_labels must be 0 or more, got {min_trusted_labels}")
    codes = worker_codes(data, workers)
    if codes.size == 0:
        raise UserError("choose at least one worker to preview")
    K = data.n_classes
    removed = np.isin(data.worker, codes)
    kept = ~removed
    touched = np.unique(data.task[removed])
    n_left = np.bincount(data.task[kept], minlength=data.n_tasks)
    trusted_mask = kept & ~np.isin(data.worker, worker_codes(data, untrusted or []))
    n_trusted = np.bincount(data.task[trusted_mask], minlength=data.n_tasks)

    old_p = np.asarray(consensus.probas, dtype=float)
    old_labels = np.asarray(consensus.labels, dtype=np.int32)
    new_p = old_p.copy()
    notes: list[str] = []
    method = consensus.method
    if refit or method in CHEAP_MODELS or (warm and method in WARM_MODELS):
        from analytics.aggregate import aggregate

        if not kept.any():
            raise UserError("banning these workers would leave no labels at all")
        warm_start = not refit and method in WARM_MODELS
        new = aggregate(data.subset(kept), method, **({"init": consensus} if warm_start else {}), **aggregate_kwargs)
        after_consensus = new
        new_p = np.asarray(new.probas, dtype=float)
        mode, exact = ("warm", False) if warm_start else ("refit", True)
        if warm_start:
            notes.append("re-fitted from the current model (warm start); the exact re-fit confirms it")
    else:
        after_consensus = consensus
        mode = "one-step"
        exact = method in EXACT_MODELS
        if touched.size:
            if consensus.confusion is not None:
                rows = np.flatnonzero(removed)
                s_scores = _crowd_scores(data, consensus, rows, touched) - np.log(
                    np.clip(consensus.priors, _LOG_FLOOR, 1.0))[None, :]
                logp = np.log(np.clip(old_p[touched], _LOG_FLOOR, 1.0)) - s_scores
                new_p[touched] = _normalise(logp, log=True)
            else:
                rows_all = np.flatnonzero(np.isin(data.task, touched) & kept)
                votes = _crowd_scores(data, consensus, rows_all, touched) if rows_all.size else np.zeros((len(touched), K))
                new_p[touched] = _normalise(votes, log=False)
                if not exact and method not in WEIGHTED_VOTE_MODELS:
                    notes.append(f"{method} has no one-step form here; the preview uses the remaining "
                                 "votes: run it with refit for the model's own answer")
    new_labels = argmax_lowest(new_p)
    new_labels[n_left == 0] = -1
    tv = 0.5 * np.abs(new_p - old_p).sum(axis=1)
    if mode == "one-step":
        untouched = np.ones(data.n_tasks, bool)
        untouched[touched] = False
        tv[untouched] = 0.0
        new_labels[untouched] = old_labels[untouched]

    def conf(p, lab):
        c = p[np.arange(p.shape[0]), np.clip(lab, 0, K - 1)]
        return np.where(lab >= 0, c, np.nan)

    ch = np.flatnonzero(new_labels != old_labels)
    cls = np.asarray(data.classes, dtype=object)
    new_lab_ch = new_labels[ch]
    changed = pd.DataFrame({
        "task": data.task_ids[ch],
        "old": cls[old_labels[ch]],
        "new": np.where(new_lab_ch >= 0, cls[np.clip(new_lab_ch, 0, K - 1)], None),
        "old_conf": conf(old_p, old_labels)[ch],
        "new_conf": conf(new_p, new_labels)[ch],
        "tv": tv[ch],
        "n_labels_left": n_left[ch],
        "n_trusted_left": n_trusted[ch],
    })
    low = touched[n_trusted[touched] < min_trusted_labels]
    below = pd.DataFrame({
        "task": data.task_ids[low],
        "label": np.where(new_labels[low] >= 0, cls[np.clip(new_labels[low], 0, K - 1)], None),
        "n_labels_left": n_left[low],
        "n_trusted_left": n_trusted[low],
    })
    return ImpactPreview(
        workers=[str(w) for w in data.worker_ids[codes]], method=consensus.method, mode=mode, exact=exact,
        min_trusted_labels=int(min_trusted_labels), n_labels_removed=int(removed.sum()),
        n_tasks_touched=int(touched.size), changed=changed, tv=tv, below_min=below,
        gold=_gold_change(data, consensus, after_consensus, removed, _gold_codes(data, gold)),
        new_labels=new_labels, new_probas=new_p, notes=notes,
    )


def _gold_change(data: LabelArrays, consensus: Consensus, after: Consensus, removed: np.ndarray,
                 g: np.ndarray) -> dict | None:
    """Accuracy on gold of the crowd posterior (not clamped to gold), with and without the removed labels.

    ``after`` is the model used without them: the same one (one-step) or the re-fit.
    """
    gold_tasks = np.flatnonzero(g >= 0)
    if gold_tasks.size == 0:
        return None
    on_gold = np.isin(data.task, gold_tasks)

    def labels(rows, model):
        lab = np.full(gold_tasks.size, -1, np.int32)
        if rows.size:
            sc = _crowd_scores(data, model, rows, gold_tasks)
            has = np.bincount(np.searchsorted(gold_tasks, data.task[rows]), minlength=gold_tasks.size) > 0
            lab[has] = argmax_lowest(_normalise(sc, log=model.confusion is not None))[has]
        return lab

    before = labels(np.flatnonzero(on_gold), consensus)
    after = labels(np.flatnonzero(on_gold & ~removed), after)
    truth = g[gold_tasks]
    acc_b, acc_a = float((before == truth).mean()), float((after == truth).mean())
    return {"n_gold": int(gold_tasks.size), "acc_before": acc_b, "acc_after": acc_a, "delta": acc_a - acc_b,
            "n_gold_changed": int((before != after).sum())}


def current_state(con, project_id: int):
    """(data, consensus, untrusted ids, settings) of a project as the export sees it now.

    ``data`` excludes banned workers; ``consensus`` is the project's model with its
    settings; ``untrusted`` are the latest run's suspects that are not marked trusted.
    Multi-label and item-specific projects are coded as :mod:`analytics.answers` codes them.
    """
    return current_state_encoded(con, project_id)[:4]


def current_state_encoded(con, project_id: int):
    """:func:`current_state` and the :class:`~analytics.answers.Encoding` of the project's answers."""
    from analytics import actions, answers
    from analytics.aggregate import aggregate
    from analytics.pipeline import latest_run, project_settings

    settings = project_settings(con, project_id).trust
    data, enc = answers.load(con, project_id, exclude_workers=actions.banned_workers(con, project_id))
    consensus = aggregate(data, enc.method(settings.method), use_gold=settings.use_gold)
    run = latest_run(con, project_id)
    untrusted: list[str] = []
    if run is not None:
        susp = {r[0] for r in con.execute("SELECT worker FROM run_workers WHERE run_id = ? AND suspect", [run]).fetchall()}
        untrusted = sorted((susp - set(actions.trusted_workers(con, project_id))) & set(data.worker_ids))
    return data, consensus, untrusted, settings, enc


def preview_workspace(con, project_id: int, workers, refit: bool = False,
                      min_trusted_labels: int | None = None) -> ImpactPreview:
    """:func:`preview_ban` on a workspace project, with its current bans, model and settings."""
    return preview_state(current_state(con, project_id), workers, refit=refit, min_trusted_labels=min_trusted_labels)


def preview_state(state, workers, refit: bool = False, min_trusted_labels: int | None = None) -> ImpactPreview:
    """:func:`preview_ban` on a project's :func:`current_state` (fitted once, reused for every
    selection): the current suspects other than ``workers`` count as untrusted, and the
    project's settings give the minimum of trusted labels and the model's use of gold."""
    data, consensus, untrusted, settings = state
    n_min = settings.min_trusted_labels if min_trusted_labels is None else int(min_trusted_labels)
    chosen = {str(w) for w in workers}
    extra = {"use_gold": settings.use_gold}
    return preview_ban(data, consensus, list(workers), min_trusted_labels=n_min, refit=refit,
                       untrusted=[u for u in untrusted if u not in chosen], **extra)
