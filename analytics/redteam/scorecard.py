"""Scorecard: how well the analysis catches planted attackers, and what the attack costs.

Protocol of detection-methods.md §6.2 (steps 4-5; Tahmasebian et al., DBSec 2020 for the
downstream accuracy; TDSSA/RCTD for the sybil share). Gold is never shown to the analysis:
the detectors read :meth:`Attacked.blind`; all gold is held out for evaluation.

Worker-level detection, per attack type, planted workers of that type (positives) against
the *honest original* workers (negatives): originals that were not modified and whose gold
accuracy is at least chance + ``honest_margin`` on at least ``min_gold`` gold items (the
workers near or below chance are real spammers already in the data and are left out). When
the data has no gold, every unmodified original worker counts as honest.

* ``roc_auc``, ``pr_auc``: of the score ``1 - trust`` (scikit-learn ``roc_auc_score`` and
  ``average_precision_score``; a missing trust counts as 0.5);
* ``precision``, ``recall``: of ``suspect`` on the same population;
* ``recall_at_1pct_fpr``: the share of planted workers scored strictly above the
  ``fpr_budget`` upper quantile of the honest workers' scores (at most floor(1% x honest)
  honest workers above it);
* ``precision_at_k``: share of planted workers among the k lowest-trust workers, k = the
  number planted (ties at the cut shared pro rata);
* ``planted_labels_caught``: the share of planted labels (post-onset labels for takeovers)
  written by a worker flagged ``suspect``;
* ``attack_success_rate`` (targeted attacks): P(label = c* | i in T) under attack minus the
  same share in the clean analysis; ``attack_success_defended`` after the ban below;
* ``acc_clean``, ``acc_attacked``, ``acc_defended``: accuracy of the aggregated labels on
  gold for the clean copy, the attacked copy, and the attacked copy after removing every
  ``suspect`` worker's labels and re-aggregating with the same model (``use_gold=False``);
* ``collateral``: share of the items outside the attack's targets whose aggregated label
  differs between the clean and the attacked analysis;
* ``detection_delay_labels`` (takeovers): median over victims of (alarm label index of the
  ``drift`` signal - true onset index); a victim without a drift alarm counts its whole
  post-onset history (censored); ``onset_error_labels``: median |estimated onset - true onset|
  over victims with an onset estimate; ``takeover_detected``: share of victims with an alarm;
* ``minority_false_flag_rate`` (fairness, §6.2): among the honest original workers in the top
  decile of minority-opinion rate (share of their labels that differ from the plurality of
  the other workers on the item), the share flagged ``suspect``; compare with
  ``honest_flag_rate``: a detector that punishes dissent flags these far more often;
* ``burst_delay_windows`` (burst bots, A8; pass: at most 1 window): median over bots of
  (end of the window the ``burst`` signal reports - the bot's first label) in units of that
  window's length; a bot without a fired burst signal counts as its whole labelling span in
  windows, or infinity for a single label; ``burst_detected``: share of bots with a fired
  burst signal;
* ``pr_auc_strict``: PR-AUC against the stricter honest set (also balanced accuracy >= 1/K +
  margin, see :func:`honest_originals`), for imbalanced data where a constant answerer
  passes the plain accuracy bar;
* ``caught_by`` (text, not averaged): the verdict ``kind`` of the flagged planted workers with
  counts, e.g. ``spammer:9, burst:2``, to see which detector did the catching;
* ``baseline_pr_auc``, ``baseline_roc_auc``: the same curves for the plain score
  ``1 - agreement with the Dawid-Skene labels`` of the attacked copy (the baseline the
  detectors must beat, issue 4).

Several seeds (:func:`summarize`): mean with a Student-t 95% interval over seeds
(mean +- t_{0.975, n-1} s / sqrt(n)); with few seeds a bootstrap interval would be too narrow.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score

from analytics.aggregate import aggregate
from analytics.dataset import LabelArrays
from analytics.redteam.attacks import ATTACKS, Attacked, inject

METRICS: tuple[str, ...] = (
    "roc_auc", "pr_auc", "precision", "recall", "recall_at_1pct_fpr", "precision_at_k", "planted_labels_caught",
    "attack_success_rate", "attack_success_defended", "acc_clean", "acc_attacked", "acc_defended",
    "collateral", "detection_delay_labels", "onset_error_labels", "takeover_detected", "baseline_pr_auc",
    "baseline_roc_auc", "honest_flag_rate", "pr_auc_strict", "n_planted", "n_honest", "n_honest_strict",
    "minority_false_flag_rate", "burst_delay_windows", "burst_detected",
)


_UNIT = frozenset(METRICS) - {"attack_success_rate", "attack_success_defended", "detection_delay_labels",
                               "onset_error_labels", "n_planted", "n_honest", "n_honest_strict",
                               "burst_delay_windows"}


@dataclass(frozen=True)
class ScoreSettings:
    """Documented thresholds of the scorecard."""

    min_gold: int = 10            #: gold items an original worker needs to be judged honest
    honest_margin: float = 0.2    #: honest = gold accuracy >= 1/K + honest_margin
    fpr_budget: float = 0.01      #: false-flag rate among honest originals for recall_at_1pct_fpr
    missing_trust: float = 0.5    #: trust used where the analysis gives none
    interval: float = 0.95        #: coverage of the interval over seeds


# --------------------------------------------------------------------------- metric helpers

def recall_at_fpr(y_true: np.ndarray, score: np.ndarray, fpr: float) -> float:
    """Recall of positives scored strictly above a threshold that at most floor(fpr x negatives)
    negatives exceed (ties at the threshold count as not flagged)."""
    y = np.asarray(y_true, bool)
    s = np.asarray(score, float)
    neg = np.sort(s[~y])[::-1]
    if not y.any():
        return float("nan")
    if neg.size == 0:
        return 1.0
    allowed = int(np.floor(fpr * neg.size))
    thr = neg[allowed] if allowed < neg.size else -np.inf
    return float(np.mean(s[y] > thr))


def precision_at_k(y_true: np.ndarray, score: np.ndarray, k: int | None = None) -> float:
    """Share of positives among the ``k`` highest scores (k = number of positives by default);
    workers tied at the cut count pro rata, so the result does not depend on row order."""
    y = np.asarray(y_true, bool)
    s = np.asarray(score, float)
    k = int(y.sum()) if k is None else int(k)
    if k <= 0 or s.size == 0:
        return float("nan")
    k = min(k, s.size)
    cut = np.sort(s)[::-1][k - 1]
    above = s > cut
    at = s == cut
    need = k - int(above.sum())
    hits = y[above].sum() + need * (y[at].mean() if at.any() else 0.0)
    return float(hits / k)


def _curves(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    if y.all() or not y.any():
        return float("nan"), float("nan")
    return float(roc_auc_score(y, s)), float(average_precision_score(y, s))


def gold_honest_workers(data: LabelArrays, settings: ScoreSettings = ScoreSettings(),
                        strict: bool = False) -> np.ndarray:
    """Boolean per worker code: gold accuracy >= 1/K + ``honest_margin`` on >= ``min_gold``
    gold items (``strict``: the balanced accuracy too; see :func:`honest_originals`)."""
    gold = data.gold_vector()
    g = gold[data.task]
    has = g >= 0
    W, K = data.n_workers, data.n_classes
    w, y, z = data.worker[has], data.label[has], g[has]
    n_g = np.bincount(w, minlength=W)
    acc = np.bincount(w, weights=(y == z), minlength=W) / np.maximum(n_g, 1)
    bar = 1.0 / K + settings.honest_margin
    good = (n_g >= settings.min_gold) & (acc >= bar)
    if strict:
        n_wc = np.bincount(w * K + z, minlength=W * K).reshape(W, K)
        ok_wc = np.bincount(w * K + z, weights=(y == z), minlength=W * K).reshape(W, K)
        seen = n_wc > 0
        bal = (ok_wc / np.maximum(n_wc, 1)).sum(axis=1) / np.maximum(seen.sum(axis=1), 1)
        good &= bal >= bar
    return good


def _as_dict(ev) -> dict:
    """A signal's evidence as a dict (stored runs hold it as JSON text)."""
    if isinstance(ev, str):
        try:
            ev = json.loads(ev)
        except ValueError:
            return {}
    return ev if isinstance(ev, dict) else {}


def honest_originals(attacked: Attacked, settings: ScoreSettings = ScoreSettings(),
                     strict: bool = False) -> pd.Series:
    """Boolean per key row: an unmodified original worker that gold shows to be honest.

    Honest = accuracy on at least ``min_gold`` gold items >= 1/K + ``honest_margin`` (issue 4).
    ``strict`` also requires the *balanced* accuracy (mean recall over the gold classes the
    worker met) to clear the same bar, which drops label-blind answerers that look accurate on
    imbalanced data (answering the majority class of zheng_product gives ~0.9 accuracy).
    """
    data = attacked.clean
    key = attacked.key
    original = ~key["planted"].to_numpy(bool)
    if not (data.gold_vector() >= 0).any():
        return pd.Series(original, index=key.index)
    good = gold_honest_workers(data, settings, strict)
    good_ids = set(np.asarray(data.worker_ids, dtype=object)[good].astype(str))
    return pd.Series(original & key["worker"].isin(good_ids).to_numpy(), index=key.index)


def _labels_by_task(data: LabelArrays, labels: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(labels), index=pd.Index(np.asarray(data.task_ids).astype(str)))


def _gold_accuracy(data: LabelArrays, labels: pd.Series) -> float:
    if data.gold_task.size == 0:
        return float("nan")
    tids = np.asarray(data.task_ids).astype(str)[data.gold_task]
    return float(np.mean(labels.reindex(tids).to_numpy() == data.gold_label))


def _drift_positions(ev) -> tuple[float, float]:
    """(onset index, alarm index) from a drift signal's evidence dict (NaN where absent)."""
    ev = _as_dict(ev)

    def first(*names):
        for n in names:
            v = ev.get(n)
            if v is not None:
                try:
                    return float(v)
                except (TypeError, ValueError):
                    continue
        return float("nan")

    return first("onset_index", "onset", "onset_label"), first("alarm_index", "alarm", "alarm_label", "detected_index")


# --------------------------------------------------------------------------- score

def score(attacked: Attacked, analysis, clean_analysis, gold: pd.DataFrame | None = None, *,
          settings: ScoreSettings = ScoreSettings(), baseline=None) -> dict[str, dict[str, float]]:
    """Scorecard of one attacked copy: ``{attack type: {metric: value}}`` (module docstring).

    ``analysis`` / ``clean_analysis`` are :class:`analytics.pipeline.Analysis` objects (or any
    object with ``.workers`` (worker, trust, suspect), ``.consensus`` and ``.signals``) of
    ``attacked.blind()`` and ``attacked.blind_clean()``. ``gold`` (task, label) replaces the
    copy's own gold for evaluation. ``baseline`` is a precomputed Dawid-Skene Consensus of
    ``attacked.blind()`` (fitted here when None).
    """
    data = attacked.data
    if gold is not None:
        from analytics.dataset import from_frame
        data = from_frame(attacked.data.to_frame(), gold=gold, classes=list(data.classes))
    key = attacked.key.reset_index(drop=True)
    honest = honest_originals(attacked, settings).to_numpy()
    strict = honest_originals(attacked, settings, strict=True).to_numpy()
    w = analysis.workers.set_index(analysis.workers["worker"].astype(str))
    trust = w["trust"].reindex(key["worker"]).astype(float).fillna(settings.missing_trust).to_numpy()
    suspect = w["suspect"].reindex(key["worker"]).fillna(False).astype(bool).to_numpy()
    kind = (w["kind"].reindex(key["worker"]).fillna("").astype(str).to_numpy() if "kind" in w.columns
            else np.full(len(key), "", dtype=object))
    s = 1.0 - trust

    blind = attacked.blind()
    base = baseline if baseline is not None else aggregate(blind, "ds", use_gold=False)
    agree = np.bincount(blind.worker, weights=(blind.label == base.labels[blind.task]), minlength=blind.n_workers)
    agree /= np.maximum(np.bincount(blind.worker, minlength=blind.n_workers), 1)
    base_s = 1.0 - pd.Series(agree, index=np.asarray(blind.worker_ids).astype(str)).reindex(key["worker"]).to_numpy()

    att_lab = _labels_by_task(data, analysis.consensus.labels)
    clean_lab = _labels_by_task(attacked.clean, clean_analysis.consensus.labels)
    sus_ids = set(key["worker"][suspect])
    row_sus = pd.Series(np.asarray(data.worker_ids).astype(str)).isin(sus_ids).to_numpy()[data.worker]
    kept = blind.subset(~row_sus)
    if kept.n:
        defended = aggregate(kept, analysis.consensus.method, use_gold=False)
        def_lab = _labels_by_task(kept, defended.labels)
    else:
        def_lab = att_lab * np.nan
    acc_clean = _gold_accuracy(data, clean_lab)
    acc_att = _gold_accuracy(data, att_lab)
    acc_def = _gold_accuracy(data, def_lab)

    planted_rows = attacked.planted_label
    minority_flags = _minority_false_flags(blind, key, honest, suspect)
    types = [a for a in ATTACKS if (key["attack"] == a).any()]
    out: dict[str, dict[str, float]] = {}
    for a in types:
        pos = (key["attack"] == a).to_numpy()
        sel = pos | honest
        y = pos[sel]
        roc, pr = _curves(y, s[sel])
        b_roc, b_pr = _curves(y, base_s[sel])
        flagged = suspect[sel]
        tp = int((flagged & y).sum())
        fp = int((flagged & ~y).sum())
        # labels of this type: rows written by the type's workers and marked planted
        a_ids = set(key["worker"][pos])
        a_rows = planted_rows & pd.Series(np.asarray(data.worker_ids).astype(str)).isin(a_ids).to_numpy()[data.worker]
        sel_s = pos | strict
        m = {
            "roc_auc": roc, "pr_auc": pr, "pr_auc_strict": _curves(pos[sel_s], s[sel_s])[1],
            "precision": tp / (tp + fp) if (tp + fp) else float("nan"),
            "recall": tp / int(y.sum()) if y.any() else float("nan"),
            "recall_at_1pct_fpr": recall_at_fpr(y, s[sel], settings.fpr_budget),
            "precision_at_k": precision_at_k(y, s[sel]),
            "planted_labels_caught": float(row_sus[a_rows].mean()) if a_rows.any() else float("nan"),
            "attack_success_rate": float("nan"), "attack_success_defended": float("nan"),
            "acc_clean": acc_clean, "acc_attacked": acc_att, "acc_defended": acc_def,
            "collateral": float("nan"),
            "detection_delay_labels": float("nan"), "onset_error_labels": float("nan"),
            "takeover_detected": float("nan"),
            "baseline_pr_auc": b_pr, "baseline_roc_auc": b_roc,
            "honest_flag_rate": float(suspect[honest].mean()) if honest.any() else float("nan"),
            "n_planted": int(pos.sum()), "n_honest": int(honest.sum()), "n_honest_strict": int(strict.sum()),
            "minority_false_flag_rate": minority_flags,
            "burst_delay_windows": float("nan"), "burst_detected": float("nan"),
        }
        tg = attacked.targets[attacked.targets["attack"] == a] if len(attacked.targets) else attacked.targets
        others = clean_lab.index.difference(pd.Index(attacked.targets["task"].astype(str)))
        m["collateral"] = float(np.mean(att_lab.reindex(others).to_numpy() != clean_lab.reindex(others).to_numpy()))
        if len(tg):
            tids = tg["task"].astype(str).to_numpy()
            cls = pd.Series(np.arange(data.n_classes), index=np.asarray(data.classes).astype(str))
            c = cls.reindex(tg["target_class"].astype(str)).to_numpy()
            before = np.mean(clean_lab.reindex(tids).to_numpy() == c)
            m["attack_success_rate"] = float(np.mean(att_lab.reindex(tids).to_numpy() == c) - before)
            m["attack_success_defended"] = float(np.mean(def_lab.reindex(tids).to_numpy() == c) - before)
        if a == "takeover":
            m.update(_delays(attacked, analysis, key[pos]))
        if a == "burst":
            m.update(_burst_delays(blind, analysis, key["worker"][pos]))
        caught = pd.Series(kind[pos & suspect]).replace("", "other").value_counts()
        m["caught_by"] = ", ".join(f"{k}:{v}" for k, v in caught.items())
        out[a] = m
    return out


def minority_rate(data: LabelArrays) -> np.ndarray:
    """Per worker: share of their labels that differ from the plurality of the other workers'
    labels on the item (ties count as agreeing; items nobody else labelled are skipped)."""
    T, K, W = data.n_tasks, data.n_classes, data.n_workers
    counts = np.zeros((T, K))
    np.add.at(counts, (data.task, data.label), 1.0)
    others = counts[data.task]
    others[np.arange(data.n), data.label] -= 1.0
    has = others.sum(axis=1) > 0
    minority = has & (others[np.arange(data.n), data.label] < others.max(axis=1))
    n = np.bincount(data.worker, weights=has.astype(float), minlength=W)
    k = np.bincount(data.worker, weights=minority.astype(float), minlength=W)
    return np.divide(k, n, out=np.full(W, np.nan), where=n > 0)


def _minority_false_flags(blind: LabelArrays, key: pd.DataFrame, honest: np.ndarray, suspect: np.ndarray) -> float:
    rate = pd.Series(minority_rate(blind), index=np.asarray(blind.worker_ids).astype(str))
    r = rate.reindex(key["worker"].astype(str)).to_numpy()
    ok = honest & np.isfinite(r)
    if not ok.any():
        return float("nan")
    top = ok & (r >= np.quantile(r[ok], 0.9))
    return float(suspect[top].mean())


def _burst_delays(blind: LabelArrays, analysis, bots: pd.Series) -> dict[str, float]:
    times = blind.timestamps()
    if times is None or not len(bots):
        return {}
    ids = np.asarray(blind.worker_ids).astype(str)
    code = pd.Series(np.arange(ids.size), index=ids)
    sig = analysis.signals
    burst = sig[(sig["signal"] == "burst") & sig["fired"].astype(bool)] if len(sig) else sig
    ev = {str(r.worker): r.evidence for r in burst.itertuples()} if len(burst) else {}
    delays, hits = [], []
    for b in bots.astype(str):
        t = times[blind.worker == code[b]]
        t = np.sort(t[np.isfinite(t)])
        e = _as_dict(ev.get(b))
        if e and t.size and e.get("window_end") and e.get("window_seconds"):
            end = pd.Timestamp(e["window_end"]).timestamp()
            delays.append(max(end - t[0], 0.0) / float(e["window_seconds"]))
            hits.append(True)
        else:
            span = (t[-1] - t[0]) / 60.0 if t.size > 1 else float("inf")      # in 1-minute windows
            delays.append(span)
            hits.append(False)
    return {"burst_delay_windows": float(np.median(delays)) if delays else float("nan"),
            "burst_detected": float(np.mean(hits)) if hits else float("nan")}


def _delays(attacked: Attacked, analysis, victims: pd.DataFrame) -> dict[str, float]:
    sig = analysis.signals
    drift = sig[sig["signal"] == "drift"] if len(sig) else sig
    by_w = {str(r.worker): r for r in drift.itertuples()} if len(drift) else {}
    delays, errs, hits = [], [], []
    for v in victims.itertuples():
        onset = v.takeover_onset_index
        r = by_w.get(str(v.worker))
        est, alarm = _drift_positions(r.evidence) if r is not None else (np.nan, np.nan)
        fired = bool(r.fired) if r is not None else False
        if np.isfinite(est):
            errs.append(abs(est - onset))
        if fired and np.isfinite(alarm):
            delays.append(max(alarm - onset, 0.0))
            hits.append(True)
        else:
            delays.append(float(v.n_attack_labels))
            hits.append(False)
    return {"detection_delay_labels": float(np.median(delays)) if delays else float("nan"),
            "onset_error_labels": float(np.median(errs)) if errs else float("nan"),
            "takeover_detected": float(np.mean(hits)) if hits else float("nan")}


# --------------------------------------------------------------------------- several seeds

Analyze = Callable[[LabelArrays], object]


def pipeline_analyzer(settings=None, method: str | None = None) -> Analyze:
    """The real analysis (:func:`analytics.pipeline.analyze_arrays`) as a one-argument callable."""
    from analytics.pipeline import analyze_arrays

    def run(d: LabelArrays):
        return analyze_arrays(d, settings, method)
    return run


def evaluate(data: LabelArrays, attack: str, *, share: float, seeds, analyze: Analyze | None = None,
             score_settings: ScoreSettings = ScoreSettings(), progress: Callable[[float, str], None] | None = None,
             **params) -> pd.DataFrame:
    """Inject ``attack`` (or every attack, separately, for ``'all'``) with each seed, analyse the
    clean and attacked copies, and return one row per (seed, attack type) with :data:`METRICS`.

    ``seeds`` is an int (seeds 0..n-1) or a list. The clean analysis is reused across seeds and
    attacks whenever the clean copy is identical (real timestamps, or none synthesised).
    """
    analyze = analyze or pipeline_analyzer()
    seeds = list(range(int(seeds))) if np.isscalar(seeds) else list(seeds)
    attacks = list(ATTACKS) if attack == "all" else [attack]
    clean_cache: dict[str, object] = {}
    rows = []
    total = len(attacks) * len(seeds)
    done = 0
    for sd in seeds:                       # seeds outside: one clean analysis per seed at most
        for a in attacks:
            if progress:
                progress(done / total, f"{a}, seed {sd}: injecting and analysing")
            att = inject(data, a, share=share, seed=sd, **(params if attack != "all" else {}))
            fp = att.clean.fingerprint()
            if fp not in clean_cache:
                clean_cache = {fp: analyze(att.blind_clean())}      # keep one: memory stays flat
            res = score(att, analyze(att.blind()), clean_cache[fp], settings=score_settings)
            for typ, m in res.items():
                rows.append({"attack": typ, "injected": a, "seed": sd, "share": share, **m})
            done += 1
    if progress:
        progress(1.0, "done")
    return pd.DataFrame(rows)


def summarize(rows: pd.DataFrame, by: tuple[str, ...] = ("attack",), interval: float = 0.95) -> pd.DataFrame:
    """Mean and Student-t interval over seeds: columns ``<metric>``, ``<metric>_lo``, ``<metric>_hi``, ``n_seeds``."""
    out = []
    mets = [m for m in METRICS if m in rows.columns]
    for keys, g in rows.groupby(list(by), sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        r = dict(zip(by, keys, strict=True))
        r["n_seeds"] = int(g["seed"].nunique()) if "seed" in g else len(g)
        for m in mets:
            v = g[m].to_numpy(float)
            v = v[np.isfinite(v)]
            mean = float(v.mean()) if v.size else float("nan")
            if v.size >= 2:
                half = stats.t.ppf(0.5 + interval / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
            else:
                half = float("nan")
            lo, hi = mean - half, mean + half
            if m in _UNIT:                      # proportions: keep the interval inside [0, 1]
                lo, hi = max(lo, 0.0), min(hi, 1.0)
            r[m], r[f"{m}_lo"], r[f"{m}_hi"] = mean, lo, hi
        out.append(r)
    return pd.DataFrame(out)


def format_table(summary: pd.DataFrame, metrics=("pr_auc", "baseline_pr_auc", "roc_auc", "precision", "recall",
                                                   "recall_at_1pct_fpr", "precision_at_k", "planted_labels_caught",
                                                   "attack_success_rate",
                                                   "acc_clean", "acc_attacked", "acc_defended",
                                                   "detection_delay_labels", "burst_delay_windows",
                                                   "honest_flag_rate", "minority_false_flag_rate")) -> pd.DataFrame:
    """Printable table: one row per attack, each cell 'mean [lo, hi]'."""
    def cell(r, m):
        v, lo, hi = r.get(m), r.get(f"{m}_lo"), r.get(f"{m}_hi")
        if v is None or not np.isfinite(v):
            return "–"
        fmt = "{:.0f}" if m == "detection_delay_labels" else "{:.3f}"
        if lo is not None and np.isfinite(lo):
            return f"{fmt.format(v)} [{fmt.format(lo)}, {fmt.format(hi)}]"
        return fmt.format(v)

    tab = pd.DataFrame({"attack": summary["attack"]})
    for m in metrics:
        if m in summary.columns:
            tab[m] = [cell(r, m) for r in summary.to_dict("records")]
    return tab
