"""One explained verdict per worker and per item.

Combines the reliability scores (:mod:`analytics.workers`), gold evidence, behaviour
(:mod:`analytics.behaviour`) and collusion (:mod:`analytics.collusion`) signals into

- ``trust`` in [0, 1]: quality x (1 - weight x suspicion), where *quality* is the chance-corrected
  reliability of the worker's answers and *suspicion* the strength of the strongest
  significant detector signal (higher trust = more trustworthy);
- ``suspect``: false-discovery-rate control across workers. Every detector signal with a
  p-value is adjusted by Benjamini & Hochberg (1995, JRSS-B 57:289-300) across workers,
  per signal, at level ``fdr_q``; a worker is suspect when some weighted, non-advisory signal fired (the
  detector's own effect-size threshold) and its adjusted p-value survives, when
  the adversarial (label-flipper) flag is set, when gold shows accuracy below the floor with
  posterior probability above ``gold_ban_probability`` (detection-methods.md §1.5), or when
  quality is below ``min_quality`` with at least ``min_labels_for_quality`` labels;
- ``reasons``: one plain sentence per fired signal, with its numbers.

Items (detection-methods.md §5): ``suspect`` when the aggregated label is *pivotal* on suspect
workers (it changes when their labels are removed, one E-step with the other workers'
confusion matrices fixed), plus ``exposure`` s_i = sum_w susp_w w_w / sum_w w_w with equal
weights w_w = 1, i.e. the share of the item's answers that come from suspect workers (a
suspect's model weight would hide exactly the workers whose weight the attack inflated),
and the posterior uncertainty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd

from analytics.consensus import Consensus, argmax_lowest
from analytics.dataset import LabelArrays

# Signals whose p-values feed the verdict, with their weight in the suspicion score.
DEFAULT_SIGNAL_WEIGHTS: dict[str, float] = {
    "low_agreement": 1.0,
    "spammer": 1.0,
    "adversarial": 1.0,
    "gold_low": 1.0,
    "burst": 0.9,
    "fast": 0.8,
    "toloka_fast": 0.5,
    "straightline": 0.9,
    "pattern": 0.9,
    "skew": 0.7,
    "drift": 1.0,
    "churn": 0.5,
    "coerror": 1.0,
    "excess_agreement": 0.8,
    "cotiming": 0.8,
    "community": 1.0,
    "tick_count": 0.9,   # multi-select: ticks almost every option / almost none (analytics.answers.ticking)
}


# Signals that measure how well a worker's answers match the consensus or gold (reliability),
# as opposed to how they behave (behaviour, collusion).
QUALITY_SIGNALS: tuple[str, ...] = ("low_agreement", "spammer", "adversarial", "gold_low")

DEFAULT_ADVISORY: tuple[str, ...] = ("spammer", "straightline", "skew", "excess_agreement", "toloka_fast")


@dataclass
class TrustSettings:
    """Thresholds and weights of the verdict. Every field is editable from the Settings page.

    The defaults are chosen for a false-alarm budget of a few percent of honest workers at
    ``fdr_q`` = 0.01 and were checked with the red-team scorecard (benchmarks/).
    """

    method: str = "ds"
    """Aggregation model (see analytics.aggregate.MODELS)."""
    use_gold: bool = False
    """Give gold answers to the aggregation model (gold then cannot score itself)."""
    fdr_q: float = 0.01
    """Benjamini-Hochberg false discovery rate across workers, per signal. 0.01 rather than
    the usual 0.05: on act_SP_amt with planted attackers it halves the honest workers flagged
    (4.1% -> 2.3%) for a few points of recall (red-team scorecard, benchmarks/)."""
    strong_log10_p: float = 6.0
    """-log10 of an adjusted p-value that counts as full-strength evidence (suspicion 1)."""
    quality_prior_labels: float = 5.0
    """Pseudo-labels pulling a worker's kappa with the consensus towards the population median."""
    negative_kappa_labels: float = 100.0
    """Labels at which below-chance agreement counts half against a worker. The negative part
    of kappa is scaled by n / (n + this). Honest but weak workers on hard tasks
    (zheng_relevance) scatter below chance on few labels; class-biased flippers (zheng_product)
    sit below chance on hundreds."""
    suspicion_weight: float = 0.95
    """How far full suspicion pulls trust down: trust = quality x (1 - weight x suspicion).
    Below 1 so that trust still orders suspects by the quality of their answers."""
    min_quality: float = 0.15
    """Chance-corrected quality below which a worker is suspect (0 = chance, 1 = perfect)."""
    min_labels_for_quality: int = 20
    """Labels a worker needs before low quality alone makes them suspect."""
    gold_floor_margin: float = 0.1
    """Gold accuracy floor = 1/K + this margin."""
    gold_ban_probability: float = 0.95
    """Suspect when P(gold accuracy < floor | data) exceeds this (Jeffreys posterior)."""
    min_trusted_labels: int = 3
    """Items with fewer trusted labels than this are suggested for re-queue."""
    item_exposure_threshold: float = 0.5
    """Items with at least this share of their answers from suspect workers, and fewer than
    ``min_trusted_labels`` trusted answers left, are at risk."""
    rescore_without_suspects: bool = True
    """Score every worker a second time against the consensus re-fitted without the workers the
    first pass found suspect through behaviour or collusion evidence, then give the verdict
    again (one round of the elimination-and-refit of Raykar & Yu 2012, JMLR 13:491-518). A
    large attack drags the consensus towards itself, so honest workers look poor against it
    and the attackers look good; the re-fitted reference restores both. Workers suspect for
    poor agreement alone stay in (removing them on zheng_product, three labels per item,
    weakened the reference more than it cleaned it). The reported labels stay the model's fit
    on all labels."""
    signal_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SIGNAL_WEIGHTS))
    """Weight of each detector signal in the suspicion score (0 switches a signal off)."""
    advisory_signals: list[str] = field(default_factory=lambda: list(DEFAULT_ADVISORY))
    """Signals that lower trust and are shown as reasons but do not make a worker suspect on
    their own: threshold rules without a calibrated null (Raykar-Yu score), and patterns with
    known honest explanations (class-biased or straight-lining honest workers on imbalanced
    data, experts who agree with each other; detection-methods.md §2.3-2.4, §3.2)."""
    flag_strength_floor: float = 0.7
    """Least suspicion (times the signal's weight) a significant, non-advisory signal adds. At
    1 every worker with such a signal ranks below unflagged workers of equal quality; lower it
    to let weaker evidence pull trust down less."""
    advisory_strength: float = 0.5
    """Cap on the suspicion an advisory signal alone can add (it has no calibrated null)."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> TrustSettings:
        if not d:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            from analytics.errors import UserError

            raise UserError(f"unknown trust setting(s): {', '.join(sorted(unknown))}")
        out = cls(**{k: v for k, v in d.items() if k not in ("signal_weights", "advisory_signals")})
        if "advisory_signals" in d:
            out.advisory_signals = list(d["advisory_signals"])
        if "signal_weights" in d:
            out.signal_weights = {**DEFAULT_SIGNAL_WEIGHTS, **d["signal_weights"]}
        return out


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN stays NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    pv = p[ok]
    order = np.argsort(pv)
    ranked = pv[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adj = np.empty(m)
    adj[order] = np.clip(ranked, 0, 1)
    out[ok] = adj
    return out


def adjust_signals(signals: pd.DataFrame) -> pd.DataFrame:
    """Add ``p_adj`` (BH within each signal across workers) to a signals frame."""
    signals = signals.copy()
    signals["p_adj"] = np.nan
    for _, idx in signals.groupby("signal").groups.items():
        signals.loc[idx, "p_adj"] = bh_adjust(signals.loc[idx, "p_value"].to_numpy())
    return signals


@dataclass
class WorkerVerdict:
    """Fitted worker verdict: ``table_`` (worker code index: quality, suspicion, trust,
    suspect, reasons, kind) and ``signals_`` (the input signals with ``p_adj`` and
    ``significant``)."""

    settings: TrustSettings = field(default_factory=TrustSettings)

    def fit(self, data: LabelArrays, scores: pd.DataFrame, signals: pd.DataFrame) -> WorkerVerdict:
        s = self.settings
        W, K = data.n_workers, data.n_classes
        n_labels = np.bincount(data.worker, minlength=W)
        quality = _quality(scores, K, W, s.quality_prior_labels, s.negative_kappa_labels)
        sig = adjust_signals(signals)
        weights = sig["signal"].map(s.signal_weights).fillna(0.0).to_numpy()
        p_adj = sig["p_adj"].to_numpy()
        has_p = np.isfinite(p_adj)
        # A signal counts when the detector's own effect-size threshold fired and, where it
        # has a p-value, that p-value survives BH across workers.
        fired = sig["fired"].to_numpy(bool)
        significant = fired & (weights > 0) & (~has_p | (p_adj <= s.fdr_q))
        strength = np.where(
            has_p,
            np.clip(-np.log10(np.clip(p_adj, 1e-300, 1)) / s.strong_log10_p, 0, 1),
            np.where(fired, 1.0, 0.0),
        ) * weights * significant
        advisory = sig["signal"].isin(set(s.advisory_signals)).to_numpy()
        strength = np.where(advisory, np.minimum(strength, s.advisory_strength),
                            np.where(significant, np.maximum(strength, s.flag_strength_floor * weights), 0.0))
        sig["significant"] = significant
        sig["strength"] = strength
        suspicion = np.zeros(W)
        if len(sig):
            np.maximum.at(suspicion, sig["worker"].to_numpy(np.int64), strength)
        # Rule-based gates that do not need a p-value.
        low_quality = (quality < s.min_quality) & (n_labels >= s.min_labels_for_quality)
        adversarial = _col(scores, "adversarial", W, 0.0) > 0.5
        gold_bad = _col(scores, "gold_p_below", W, np.nan) > s.gold_ban_probability
        sig_workers = np.zeros(W, bool)
        flagging = significant & ~advisory
        if len(sig):
            sig_workers[sig.loc[flagging, "worker"].to_numpy(np.int64)] = True
        suspect = sig_workers | low_quality | adversarial | gold_bad
        suspicion = np.where(adversarial | gold_bad, np.maximum(suspicion, 0.9), suspicion)
        trust = np.clip(quality * (1.0 - s.suspicion_weight * suspicion), 0.0, 1.0)
        reasons = _reasons(sig, W, quality, low_quality, adversarial, gold_bad, scores, s)
        kind = _kinds(sig, W, low_quality, adversarial, gold_bad, s.advisory_signals)
        self.table_ = pd.DataFrame({
            "n_labels": n_labels, "quality": quality, "suspicion": suspicion, "trust": trust,
            "suspect": suspect, "reasons": reasons, "kind": kind,
        })
        self.signals_ = sig
        return self


    def evidence_suspects(self) -> np.ndarray:
        """Boolean per worker: suspect through a behaviour or collusion signal (not through
        agreement with the consensus, gold or low quality alone). These are the workers whose
        labels may have dragged the consensus; poor but independent workers only add noise."""
        sig = self.signals_
        hit = sig["significant"].to_numpy(bool) & ~sig["signal"].isin(
            set(QUALITY_SIGNALS) | set(self.settings.advisory_signals)).to_numpy()
        out = np.zeros(len(self.table_), bool)
        out[sig.loc[hit, "worker"].to_numpy(np.int64)] = True
        return out & self.table_["suspect"].to_numpy(bool)


def _col(scores: pd.DataFrame, name: str, n: int, default: float) -> np.ndarray:
    if name in scores.columns:
        return scores[name].reindex(range(n)).to_numpy(dtype=float, na_value=default)
    return np.full(n, default)


def _quality(scores: pd.DataFrame, K: int, W: int, prior_labels: float = 5.0,
             negative_labels: float = 100.0) -> np.ndarray:
    """Chance-corrected reliability in [0, 1]: the mean of the available components.

    - *kappa with the consensus*: (a_w - c_w) / (1 - c_w), Cohen's kappa form, where a_w is
      the leave-one-out agreement and c_w the agreement expected by chance from the worker's
      own label mix (``loo_chance``), so a constant answerer on imbalanced data scores ~0
      rather than the majority share. Below chance it stays negative, scaled by
      n / (n + ``negative_labels``); then shrunk towards the population median by
      n / (n + ``prior_labels``) so that a handful of labels neither condemns nor clears.
    - *informativeness*: sqrt of the Raykar-Yu spammer score (Youden's J for two classes),
      set to 0 for workers flagged adversarial or whose shrunk kappa is below 0 (their
      information points away from the crowd).
    - *agreement*: (a_w - 1/K) / (1 - 1/K), the plain agreement a quality manager knows; it
      keeps a majority-class answerer above a random clicker, though both are flagged.
    - *gold*: (gold accuracy - 1/K) / (1 - 1/K) when there is enough gold.
    Missing components are skipped; a worker with none gets 0.5.
    """
    agree = _col(scores, "loo_agreement", W, np.nan)
    chance = _col(scores, "loo_chance", W, np.nan)
    n = _col(scores, "loo_n", W, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.where(1 - chance > 1e-9, (agree - chance) / (1 - chance), np.nan)
    kappa = np.clip(kappa, -1, 1)
    ok = np.isfinite(kappa)
    median = float(np.median(kappa[ok & (n >= 10)])) if (ok & (n >= 10)).any() else 0.5
    # below-chance agreement counts against a worker only with enough labels behind it
    kappa = np.where(kappa < 0, kappa * n / (n + negative_labels), kappa)
    kappa = np.where(ok, (n * kappa + prior_labels * median) / (n + prior_labels), np.nan)
    informative = np.sqrt(np.clip(_col(scores, "spammer_score", W, np.nan), 0, 1))
    # information that points away from the crowd (below-chance agreement) is not informative
    wrong_way = (_col(scores, "adversarial", W, 0.0) > 0.5) | (kappa < 0)
    informative = np.where(wrong_way, 0.0, informative)
    g = _col(scores, "gold_accuracy", W, np.nan)
    gold = np.clip((g - 1.0 / K) / (1 - 1.0 / K), 0, 1)
    plain = np.clip((agree - 1.0 / K) / (1 - 1.0 / K), 0, 1)
    stack = np.vstack([kappa, informative, plain, gold])
    with np.errstate(invalid="ignore"):
        cnt = np.isfinite(stack).sum(axis=0)
        q = np.where(cnt > 0, np.nansum(stack, axis=0) / np.maximum(cnt, 1), 0.5)
    return np.clip(q, 0.0, 1.0)


def _reasons(sig, W, quality, low_quality, adversarial, gold_bad, scores, s) -> np.ndarray:
    texts: list[list[str]] = [[] for _ in range(W)]
    fired = sig[sig["significant"]].sort_values("strength", ascending=False)
    for w, reason in zip(fired["worker"].to_numpy(np.int64), fired["reason"].astype(str), strict=True):
        if reason and reason not in texts[w]:
            texts[w].append(reason)
    for w in np.flatnonzero(adversarial):
        if not any("systematic" in t or "flip" in t for t in texts[w]):
            texts[w].insert(0, "answers are informative but systematically wrong (label flipping)")
    for w in np.flatnonzero(gold_bad):
        if not any("gold" in t for t in texts[w]):
            texts[w].append("gold accuracy is below the floor with high posterior probability")
    for w in np.flatnonzero(low_quality):
        if not texts[w]:
            texts[w].append(f"answers are barely better than chance (quality {quality[w]:.2f} on a 0-1 scale)")
    return np.array(["; ".join(t) for t in texts], dtype=object)


def _kinds(sig, W, low_quality, adversarial, gold_bad, advisory=()) -> np.ndarray:
    """A short kind label per worker for charts: what made them suspect, strongest first.

    The strongest significant non-advisory signal; else low quality or low gold accuracy; else
    the strongest advisory signal (which lowers trust but flags nobody on its own).
    """
    kind = np.full(W, "", dtype=object)
    fired = sig[sig["significant"]].sort_values("strength")
    is_adv = fired["signal"].isin(set(advisory)).to_numpy()
    for part in (fired[is_adv], fired[~is_adv]):       # later assignment wins
        kind[part["worker"].to_numpy(np.int64)] = part["signal"].to_numpy()
    weak = np.isin(kind, list(advisory)) | (kind == "")
    kind[low_quality & weak] = "low_quality"
    kind[gold_bad & weak & ~low_quality] = "gold_low"
    kind[adversarial] = "adversarial"
    return kind


def item_verdict(data: LabelArrays, consensus: Consensus, worker_suspect: np.ndarray,
                 settings: TrustSettings) -> pd.DataFrame:
    """Per-task verdict: pivotal on suspects, exposure to suspects, trusted label count.

    The pivotal test removes the suspects' labels and recomputes the posterior with one
    E-step (other workers' confusion matrices fixed; vote shares for models without them),
    as in detection-methods.md §5.
    """
    T = data.n_tasks
    susp_label = worker_suspect[data.worker]
    n_susp = np.bincount(data.task, weights=susp_label.astype(float), minlength=T)
    n_labels = np.bincount(data.task, minlength=T)
    n_trusted = np.bincount(data.task, weights=(~susp_label).astype(float), minlength=T).astype(int)
    exposure = np.divide(n_susp, n_labels, out=np.zeros(T), where=n_labels > 0)
    keep = ~susp_label
    post = one_step_posterior(data, consensus, keep)
    new_label = argmax_lowest(post)
    affected = np.bincount(data.task, weights=susp_label.astype(float), minlength=T) > 0
    has_other = n_trusted > 0
    pivotal = affected & has_other & (new_label != consensus.labels)
    no_trusted = affected & ~has_other
    uncertain = consensus.confidence < 0.6
    thin = (exposure >= settings.item_exposure_threshold) & (n_trusted < settings.min_trusted_labels)
    suspect = pivotal | no_trusted | thin
    reasons = _item_reasons(data.classes, consensus, new_label, pivotal, no_trusted, exposure, n_trusted, uncertain,
                            settings)
    return pd.DataFrame({
        "n_labels": n_labels, "n_trusted_labels": n_trusted, "exposure": exposure,
        "pivotal": pivotal, "label_without_suspects": new_label, "suspect": suspect, "reasons": reasons,
    })


def _item_reasons(classes, consensus: Consensus, new_label, pivotal, no_trusted, exposure, n_trusted, uncertain,
                  settings: TrustSettings) -> np.ndarray:
    """One sentence per fired item signal, joined by '; ' (built column-wise, not per task)."""
    T = pivotal.shape[0]
    parts = pd.DataFrame(index=range(T))
    cur = pd.Series(classes[consensus.labels].astype(str))
    alt = pd.Series(classes[new_label].astype(str))
    parts["pivotal"] = np.where(pivotal, "label " + cur + " depends on suspect workers (would be " + alt
                                + " without them)", "")
    exposed = (exposure >= settings.item_exposure_threshold) & (n_trusted < settings.min_trusted_labels) \
        & ~pivotal & ~no_trusted
    parts["exposure"] = np.where(no_trusted, "every answer comes from suspect workers",
                                 np.where(exposed, pd.Series(np.round(exposure * 100).astype(int)).astype(str)
                                          + "% of the answers come from suspect workers and fewer than "
                                          + str(settings.min_trusted_labels) + " trusted answers remain", ""))
    parts["uncertain"] = np.where(uncertain, "uncertain: the chosen label has probability "
                                  + pd.Series(consensus.confidence).map("{:.2f}".format), "")
    out = parts["pivotal"].astype(str)
    for col in ("exposure", "uncertain"):
        nxt = parts[col].astype(str)
        out = pd.Series(np.where((out != "") & (nxt != ""), out + "; " + nxt, out + nxt))
    return out.to_numpy(dtype=object)


def one_step_posterior(data: LabelArrays, consensus: Consensus, keep: np.ndarray) -> np.ndarray:
    """Task posteriors from the labels in ``keep`` with the fitted worker model held fixed.

    With confusion matrices this is one Dawid-Skene E-step; otherwise vote shares. Tasks
    left with no label keep the fitted posterior.
    """
    T, K = data.n_tasks, data.n_classes
    t, w, y = data.task[keep], data.worker[keep], data.label[keep]
    if consensus.errors is not None:
        logA = np.log(np.clip(consensus.errors, 1e-6, 1.0))
        logpost = np.tile(np.log(np.clip(consensus.priors, 1e-12, 1.0)), (T, 1))
        np.add.at(logpost, t, logA[w, :, y])
        logpost -= logpost.max(axis=1, keepdims=True)
        post = np.exp(logpost)
        post /= post.sum(axis=1, keepdims=True)
    else:
        counts = np.zeros((T, K))
        np.add.at(counts, (t, y), 1.0)
        tot = counts.sum(axis=1, keepdims=True)
        post = np.divide(counts, tot, out=np.zeros_like(counts), where=tot > 0)
    empty = np.bincount(t, minlength=T) == 0
    post[empty] = consensus.probas[empty]
    return post
