"""The whole analysis over partitions: the steps of :func:`analytics.pipeline.analyze_arrays`.

=============================  ==================  ===============================================
step                           partitions          what crosses partitions
=============================  ==================  ===============================================
aggregation (EM)               items               per-worker soft counts, every iteration
leave-one-out posteriors       items               nothing (a shuffle takes them to workers)
reliability scores             workers             pooled matrix, agreement-rate prior
agreement                      items               alpha/kappa sums, busiest workers' pairs
behaviour detectors            workers             crowd statistics (quantiles, bin totals, ...)
item speed (median polish)     items and workers   item and worker effects, 4 sweeps
collusion                      items               soft counts, pair sums (shuffled by pair)
verdict                        (client)            per-worker scores and signals
re-scoring without suspects    items, workers      EM again without them, then reliability
item verdicts and outputs      items               counts for the summary; Parquet files
=============================  ==================  ===============================================

The client holds per-worker arrays (W x K x K at most) and the evidence pairs; per-item
results are written by the partitions as Parquet (``labels-*.parquet``, ``items-*.parquet``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.engine import agreement as eagree
from analytics.engine import collusion as ecoll
from analytics.engine import em
from analytics.engine import items as it
from analytics.engine import workers as ew
from analytics.engine.core import Engine, PerPart
from analytics.evidence import empty_signals
from analytics.settings import AnalysisSettings
from analytics.trust import WorkerVerdict, crowd_wide_sentence


@dataclass
class Shell:
    """The worker-level view of the data that the verdict and the result frames read."""

    n_workers: int
    n_classes: int
    n_tasks: int
    n: int
    worker_ids: np.ndarray
    classes: np.ndarray
    n_w: np.ndarray
    has_time: bool = False

    def worker_counts(self) -> np.ndarray:
        return self.n_w


@dataclass
class PartitionedAnalysis:
    """An analysis whose per-item tables are Parquet files in ``item_dir`` (see :mod:`analytics.engine`)."""

    workers: pd.DataFrame
    signals: pd.DataFrame
    confusion: pd.DataFrame
    pairs: pd.DataFrame
    communities: pd.DataFrame
    summary: dict
    settings: AnalysisSettings
    item_dir: Path
    notes: list = field(default_factory=list)

    def item_files(self, kind: str) -> list[Path]:
        return sorted(self.item_dir.glob(f"{kind}-*.parquet"))


def _concat_frames(results: list, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    scores = pd.concat([r[0] for r in results]).sort_index() if results else pd.DataFrame()
    sigs = [r[1] for r in results if len(r[1])]
    signals = pd.concat(sigs, ignore_index=True) if sigs else empty_signals()
    return scores, signals


def _reliability(eng, wparts, shell_cons, reliability, label):
    out = eng.gather(ew.settle(eng, ew.fit_reliability, wparts, shell_cons, reliability, label=label))
    scores, signals = _concat_frames([(o[0], o[1]) for o in out], 0)
    A = np.concatenate([o[2] for o in out], axis=0)
    return scores, signals, A


def _polish(eng, wparts, det, W: int, T: int):
    """The two-way median polish of log durations (:func:`analytics.behaviour.speed.median_polish`):
    item effects on item partitions, worker effects on worker partitions, medians on the client."""
    from analytics.crowdstats import _merge_counts, median_or

    y_parts = eng.gather(eng.map(_durations_items, det.min_duration_s))
    y_all = _merge_counts([y[0] for y in y_parts])          # distinct values and counts: an exact median
    if y_all.size == 0:
        return None
    mu = median_or(y_all, np.nan)
    seen_c = np.concatenate([y[1] for y in y_parts])
    seen_r = np.logical_or.reduce([y[2] for y in y_parts])
    del y_parts, y_all
    a = np.zeros(W)
    b = np.zeros(T)
    for _ in range(det.n_iter):
        a_f = eng.broadcast(a)
        b = np.concatenate(eng.gather(eng.map(_b_step, mu, a_f, det.min_duration_s)))
        shift = np.median(b[seen_c])
        b -= shift
        mu += shift
        b_f = eng.broadcast(b)
        a = np.concatenate(eng.gather(eng.map(_a_step, mu, b_f, det.min_duration_s, parts=wparts)))
        shift = np.median(a[seen_r])
        a -= shift
        mu += shift
    return mu, a, b


def _log_durations(data, min_s):
    d = data.durations()
    if d is None:
        return None, None
    ok = np.isfinite(d) & (d >= 0)
    return np.log(np.maximum(d[ok], min_s)), ok


def _durations_items(part, min_s):
    """The partition's log durations (distinct values, counts) and which tasks and workers have one."""
    y, ok = _log_durations(part.data, min_s)
    d = part.data
    if y is None:
        return (np.zeros(0), np.zeros(0, np.int64)), np.zeros(part.n_tasks, bool), np.zeros(d.n_workers, bool)
    return (np.unique(y, return_counts=True), np.bincount(d.task[ok], minlength=part.n_tasks) > 0,
            np.bincount(d.worker[ok], minlength=d.n_workers) > 0)


def _b_step(part, mu, a, min_s):
    from analytics.behaviour.context import grouped_median

    y, ok = _log_durations(part.data, min_s)
    if y is None:
        return np.zeros(part.n_tasks)
    return np.nan_to_num(grouped_median(y - mu - a[part.data.worker[ok]], part.data.task[ok], part.n_tasks))


def _a_step(wp, mu, b, min_s):
    from analytics.behaviour.context import grouped_median

    y, ok = _log_durations(wp.data, min_s)
    W = wp.data.n_workers
    if y is None:
        return np.zeros(W)
    return np.nan_to_num(grouped_median(y - mu - b[wp.task_global[wp.data.task[ok]]], wp.data.worker[ok], W))


def _keep(part, drop):
    return ~drop[part.data.worker]


def _defended_q(part, q, refit_q, keep_part):
    covered = np.bincount(part.data.task[keep_part], minlength=part.n_tasks) > 0
    return np.where(covered[:, None], refit_q, q)


def _has_durations(part) -> bool:
    d = part.data.durations()
    return d is not None and bool(np.isfinite(d).any())


def analyze_partitioned(eng: Engine, settings: AnalysisSettings, out_dir: Path, progress=None
                        ) -> PartitionedAnalysis:
    """Run the analysis on the engine's layout; per-item tables go to ``out_dir``."""
    progress = progress or (lambda f, m: None)
    ts = settings.trust
    L = eng.layout
    W, K, T = L.n_workers, L.n_classes, L.n_tasks
    timings: dict[str, float] = {}
    notes: list[str] = []

    def step(name, frac):
        progress(frac, name)
        timings[name] = time.perf_counter()
        eng.progress = lambda f, m: progress(frac, f"{name}: {m}")

    parts = eng.open_parts()
    step("aggregating labels", 0.05)
    cons = em.fit(eng, ts.method, use_gold=ts.use_gold)
    # the evidence's reference: the same fit, or a second model's (TrustSettings.evidence_method)
    ref = cons if ts.evidence_method == ts.method else em.fit(eng, ts.evidence_method, use_gold=ts.use_gold)
    notes.extend(dict.fromkeys(c.note for c in (cons, ref) if c.note))
    base = eng.reduce(eng.map(it.basic_sums))
    n_w = base["n_w"]
    worker_ids = L.worker_ids()
    shell = Shell(W, K, T, L.n, worker_ids, np.asarray(L.classes, dtype=object), n_w, has_time=L.t_span is not None)
    shell_cons = ref.shell()

    step("scoring workers", 0.25)
    res = eng.map(it.label_columns, PerPart(ref.q), ref, None)
    cols = eng.item(res, 0)
    soft = eng.reduce(eng.item(res, 1))["soft"]
    wb = ew.bounds(n_w)
    wparts = ew.shuffle(eng, cols, wb, worker_ids)
    eng.release(res, cols)
    reliability = dataclasses.replace(settings.reliability)
    if reliability.mace:
        notes.append("MACE competence is not computed by the partitioned engine (mace_competence is empty)")
    rel_scores, rel_signals, rel_A = _reliability(eng, wparts, shell_cons, reliability, "scoring workers")

    step("agreement statistics", 0.4)
    agree = eagree.summary(eng, n_w)
    pair_kappa = eagree.pair_kappa(eng, n_w)

    step("behaviour detectors", 0.55)
    beh = settings.behaviour
    polish = None
    if "fast" in beh.enabled and any(eng.gather(eng.map(_has_durations))):
        polish = _polish(eng, wparts, beh.fast, W, T)
    out = ew.behaviour(eng, wparts, shell_cons, beh, soft, eng.broadcast(polish) if polish is not None else None)
    beh_scores, beh_signals = _concat_frames([o for o in out if o[1] is not None], W)
    beh_scores = beh_scores.reindex(range(W))

    step("collusion detectors", 0.7)
    coll = ecoll.fit(eng, parts, ref.q, ref, settings.collusion, progress=lambda f, m: progress(0.7, m))

    step("trust verdicts", 0.85)

    def verdict_from(rel_scores, rel_signals):
        scores = pd.concat([rel_scores.reindex(range(W)), beh_scores, coll.scores_], axis=1)
        scores = scores.loc[:, ~scores.columns.duplicated()]
        signals = pd.concat([s for s in (rel_signals, beh_signals, coll.signals_) if len(s)]
                            or [empty_signals()], ignore_index=True)
        return scores, WorkerVerdict(ts).fit(shell, scores, signals)

    scores, verdict = verdict_from(rel_scores, rel_signals)
    rescore = {"done": False, "left_out_workers": 0, "left_out_label_share": 0.0}
    if ts.rescore_without_suspects:
        step("re-scoring without suspects", 0.9)
        drop = verdict.evidence_suspects()
        share = float(n_w[drop].sum() / max(L.n, 1)) if drop.any() else 0.0
        rescore.update(left_out_workers=int(drop.sum()), left_out_label_share=round(share, 4))
        if share <= 1.0 - ts.rescore_min_label_share:
            keep_all = bool((n_w[drop] == 0).all())
            if drop.any() and not keep_all and share < 1.0:
                drop_f = eng.broadcast(drop)
                keeps = eng.map(_keep, drop_f)
                masked = eng.map(it.rows, PerPart(keeps))
                refit = em.fit(eng, ref.method, parts=masked, use_gold=ts.use_gold)
                q_def = [eng.client.submit(_defended_q, p, q, rq, kp, pure=False)
                         for p, q, rq, kp in zip(parts, ref.q, refit.q, keeps, strict=True)]
                errors = None
                if refit.errors is not None:
                    errors = refit.errors.copy()
                    errors[drop] = 1.0 / K
                defended = em.PartConsensus(ref.method, refit.priors, errors, refit.skills, q_def)
                res = eng.map(it.label_columns, PerPart(q_def), defended, drop_f)
                cols2 = eng.item(res, 0)
                wparts2 = ew.shuffle(eng, cols2, wb, worker_ids, base=wparts)
                rel_scores, rel_signals, rel_A = _reliability(eng, wparts2, defended.shell(), reliability,
                                                              "re-scoring without suspects")
                scores, verdict = verdict_from(rel_scores, rel_signals)
                rescore["done"] = True
                eng.release(masked, refit.q, q_def, res, cols2, wparts2, keeps)
        else:
            rescore["skipped"] = (f"the workers suspected through behaviour or collusion hold {share:.0%} of the "
                                  f"labels; a consensus re-fitted on the rest would describe almost nobody")
    eng.release(wparts)
    if ref is not cons:
        eng.release(ref.q)

    step("assembling results", 0.95)
    suspect = verdict.table_["suspect"].to_numpy(bool)
    out_dir.mkdir(parents=True, exist_ok=True)
    sums = eng.reduce(eng.map(it.item_results, PerPart(cons.q), cons, eng.broadcast(suspect), ts, str(out_dir),
                              str(L.path / "task_ids.parquet"), ts.use_gold))
    result = _assemble(shell, cons, settings, scores, verdict, rel_A, agree, pair_kappa, coll, sums, out_dir)
    if ts.use_gold and L.n_gold:
        if cons.method == "ds":
            result.summary.update(_held_out_gold(eng, cons.method))
        else:   # models that ignore gold: the held-out fits are the fit itself
            result.summary["gold_accuracy_kind"] = ("held out: each half of the gold scored by a model fitted "
                                                    "with the other half")
    result.summary["timings_s"] = _durations(timings)
    result.summary["rescore"] = rescore
    result.summary["evidence_method"] = ref.method
    result.summary["engine"] = {"kind": "dask", "item_partitions": len(L.parts), "worker_partitions": len(wb) - 1,
                                "workers": len(eng.client.scheduler_info().get("workers", {})), "notes": notes}
    result.notes = notes
    progress(1.0, "done")
    return result


def _held_out_gold(eng, method: str) -> dict:
    """Gold accuracy by 2-fold cross-fitting (as :func:`analytics.pipeline._gold_accuracy` with gold used)."""
    correct = total = 0
    for fold in (0, 1):
        held = eng.map(_held, fold)
        parts = eng.map(_without_gold, PerPart(held))
        c = em.fit(eng, method, parts=parts, use_gold=True)
        s = eng.reduce(eng.map(_score_held, PerPart(c.q), PerPart(held)))
        correct += s["correct"]
        total += s["n"]
        eng.release(held, parts, c.q)
    return {"gold_accuracy": correct / total if total else None,
            "gold_accuracy_kind": "held out: each half of the gold scored by a model fitted with the other half"}


def _held(part, fold):
    gt = part.data.gold_task
    return gt[(gt + part.task_lo) % 2 == fold], part.data.gold_label[(gt + part.task_lo) % 2 == fold]


def _without_gold(part, held):
    d = part.data
    gt = d.gold_task
    out = ~np.isin(gt, held[0])
    return dataclasses.replace(part, data=dataclasses.replace(d, gold_task=gt[out], gold_label=d.gold_label[out]),
                               _M=None)


def _score_held(part, q, held):
    from analytics.consensus import argmax_lowest

    lab = argmax_lowest(q)
    return {"correct": int((lab[held[0]] == held[1]).sum()), "n": int(held[0].size)}


def _durations(marks: dict) -> dict:
    names = list(marks)
    end = time.perf_counter()
    return {n: round((marks[names[i + 1]] if i + 1 < len(names) else end) - marks[n], 3) for i, n in enumerate(names)}


def _assemble(shell, cons, settings, scores, verdict, rel_A, agree, pair_kappa, coll, sums, out_dir
              ) -> PartitionedAnalysis:
    """The worker-level frames and the run summary (as :func:`analytics.pipeline._assemble`)."""
    from analytics.pipeline import _agreement_summary, _communities, _pairs

    wid, cls, K, W = shell.worker_ids, shell.classes, shell.n_classes, shell.n_workers
    table = verdict.table_
    workers = pd.DataFrame({
        "worker": wid, "n_labels": table["n_labels"].to_numpy(), "trust": table["trust"].round(4).to_numpy(),
        "suspect": table["suspect"].to_numpy(bool), "reasons": table["reasons"].to_numpy(),
        "kind": table["kind"].to_numpy(), "low_quality": table["low_quality"].to_numpy(bool),
        "quality": table["quality"].round(4).to_numpy(), "suspicion": table["suspicion"].round(4).to_numpy(),
    })
    comp = scores.reindex(range(W)).drop(columns=[c for c in workers.columns if c in scores.columns], errors="ignore")
    comp = comp.select_dtypes(include=["number", "bool"]).astype(float)
    workers = pd.concat([workers, comp.reset_index(drop=True)], axis=1)
    sig = verdict.signals_.copy()
    sig["worker"] = wid[sig["worker"].to_numpy(np.int64)]
    A = rel_A if rel_A is not None else cons.errors
    if A is not None:
        w_idx, c_idx, k_idx = np.meshgrid(np.arange(W), np.arange(K), np.arange(K), indexing="ij")
        confusion = pd.DataFrame({"worker": wid[w_idx.ravel()], "true_label": cls[c_idx.ravel()],
                                  "label": cls[k_idx.ravel()], "p": A.ravel()})
    else:
        confusion = pd.DataFrame(columns=["worker", "true_label", "label", "p"])
    pairs = _pairs(shell, pair_kappa, getattr(coll, "pairs_", None))
    communities = _communities(shell, getattr(coll, "communities_", None))
    n_gold = sums["gold_n"]
    summary = {
        "n_labels": shell.n, "n_workers": W, "n_tasks": shell.n_tasks, "n_classes": K,
        "classes": [str(c) for c in cls], "method": cons.method, "has_time": _has_time(settings, shell),
        "n_gold": int(n_gold),
        "gold_accuracy": (sums["gold_correct"] / n_gold) if n_gold else None,
        "gold_accuracy_kind": ("evaluation: gold not used by the model or the verdict" if n_gold else None),
        "mean_confidence": sums["confidence"] / max(shell.n_tasks, 1),
        "n_suspect_workers": int(workers["suspect"].sum()), "n_suspect_items": int(sums["n_suspect_items"]),
        "suspects_by_kind": workers.loc[workers["suspect"], "kind"].replace("", "other").value_counts().to_dict(),
        "n_low_quality_workers": int(workers["low_quality"].sum()),
        "crowd_wide_signals": verdict.crowd_wide_, "crowd_wide_note": crowd_wide_sentence(verdict.crowd_wide_),
        "settings": settings.to_dict(),
    }
    summary.update(_agreement_summary(agree))
    return PartitionedAnalysis(workers=workers, signals=sig, confusion=confusion, pairs=pairs,
                               communities=communities, summary=summary, settings=settings, item_dir=out_dir)


def _has_time(settings, shell) -> bool:
    return bool(shell.has_time)
