"""One explained verdict per worker and per item.

Combines the reliability scores (:mod:`analytics.workers`), gold evidence, behaviour
(:mod:`analytics.behaviour`) and collusion (:mod:`analytics.collusion`) signals into

- ``trust`` in [0, 1]: quality x (1 - weight x suspicion), where *quality* is the chance-corrected
  reliability of the worker's answers and *suspicion* the strength of the strongest
  significant detector signal (higher trust = more trustworthy);
- ``suspect``: evidence of an attack or of spamming, with the false-discovery rate controlled
  across workers. Every detector signal with a p-value is adjusted by Benjamini & Hochberg
  (1995, JRSS-B 57:289-300) across workers, per signal, at level ``fdr_q``
  (:func:`scipy.stats.false_discovery_control`); a worker is suspect when some weighted,
  non-advisory signal fired (the detector's own effect-size threshold) and its adjusted
  p-value survives. That includes ``near_chance`` (agreement with the consensus not above
  chance, tested), ``adversarial`` (below chance: label flipping), and ``gold_low`` when gold
  is used for scoring (``use_gold``; detection-methods.md §1.5). A signal that fires on more
  than ``crowd_signal_share`` of the tested workers describes the crowd, not attackers: it is
  reported as such (:attr:`WorkerVerdict.crowd_wide_`) and makes nobody suspect on its own;
- ``low_quality``: quality below ``min_quality`` with at least ``min_labels_for_quality``
  labels, or agreement clearly below the other workers' (``low_agreement``): a recommendation
  to review, shown and sortable, never an accusation on its own. A worker whose labels are
  clearly better than chance is never suspect for quality alone;
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
from scipy import stats

from analytics.consensus import Consensus, argmax_lowest
from analytics.dataset import LabelArrays

# Signals whose p-values feed the verdict, with their weight in the suspicion score.
DEFAULT_SIGNAL_WEIGHTS: dict[str, float] = {
    "low_agreement": 1.0,
    "spammer": 1.0,
    "adversarial": 1.0,
    "gold_low": 1.0,
    "near_chance": 1.0,
    "class_flip": 1.0,
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
QUALITY_SIGNALS: tuple[str, ...] = ("low_agreement", "spammer", "adversarial", "gold_low", "near_chance",
                                    "class_flip")

# "low_agreement" (worse than the other workers, not worse than chance) is a review
# recommendation: low quality is not an accusation (issue 11).
DEFAULT_ADVISORY: tuple[str, ...] = ("spammer", "low_agreement", "straightline", "skew", "excess_agreement",
                                     "toloka_fast")


@dataclass
class TrustSettings:
    """Thresholds and weights of the verdict. Every field is editable from the Settings page.

    The defaults are chosen for a false-alarm budget of a few percent of honest workers at
    ``fdr_q`` = 0.01 and were checked with the red-team scorecard (benchmarks/).
    """

    method: str = "cbds"
    """Aggregation model of the delivered labels (see analytics.aggregate.MODELS)."""
    evidence_method: str = "ds"
    """Aggregation model whose fit is the reference of the evidence: worker reliability, behaviour
    and collusion detectors. Dawid-Skene's maximum-likelihood matrices by default, not cbds's: cbds
    shrinks a low-volume account towards the crowd, which is right for the labels but lets a swarm
    of such accounts out-vote the crowd on their items and so hide (planted five-label sybil swarm on
    zheng_relevance: 42% flagged against a ds reference, 14% against cbds). When it equals
    ``method`` the one fit serves both."""
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
    """Chance-corrected quality below which a worker is marked *low quality* (0 = chance,
    1 = perfect): a recommendation to review, not a suspect verdict."""
    min_labels_for_quality: int = 20
    """Labels a worker needs before being marked low quality."""
    crowd_signal_share: float = 0.2
    """A signal that is significant for more than this share of the workers (and for at least
    ``crowd_signal_min_workers``) describes the crowd, not attackers: the run says so
    and the signal makes nobody suspect on its own. Planted attacks of 10% of the accounts
    must stay below it, so it is 0.2 rather than 0.1."""
    crowd_signal_min_workers: int = 5
    """Fewest significant workers before a signal can be called crowd-wide."""
    rule_suspicion: float = 0.9
    """Suspicion given to a worker flagged as a label flipper or by gold (used for scoring)."""
    uncertain_confidence: float = 0.6
    """Items whose aggregated label has a posterior below this are marked uncertain."""
    rescore_min_label_share: float = 0.5
    """Least share of the labels the second scoring pass re-fits the consensus on."""
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
    on all labels. Skipped when the workers to leave out hold more than
    ``rescore_min_label_share`` of the labels (a re-fit on almost nobody describes nothing)."""
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

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every threshold's range; a clear UserError names the setting and its range."""
        from analytics.errors import UserError

        def need(ok: bool, name: str, rng: str) -> None:
            if not ok:
                raise UserError(f"trust setting {name} must be {rng}, got {getattr(self, name)!r}")

        def number(v) -> bool:
            return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and np.isfinite(v)

        for name in ("fdr_q", "crowd_signal_share", "rescore_min_label_share"):
            v = getattr(self, name)
            need(number(v) and 0 < v <= 1, name, "above 0 and at most 1")
        for name in ("suspicion_weight", "flag_strength_floor", "advisory_strength", "item_exposure_threshold",
                     "rule_suspicion", "uncertain_confidence", "min_quality"):
            v = getattr(self, name)
            need(number(v) and 0 <= v <= 1, name, "between 0 and 1")
        for name in ("strong_log10_p", "quality_prior_labels", "negative_kappa_labels"):
            v = getattr(self, name)
            need(number(v) and v > 0, name, "a positive number")
        for name in ("min_labels_for_quality", "min_trusted_labels", "crowd_signal_min_workers"):
            v = getattr(self, name)
            need(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0, name, "a whole number >= 0")
        from analytics.aggregation import MODELS

        for name in ("method", "evidence_method"):
            need(getattr(self, name) in MODELS, name, f"one of {', '.join(MODELS)}")
        for name in ("use_gold", "rescore_without_suspects"):
            need(isinstance(getattr(self, name), bool), name, "true or false")
        bad = sorted(k for k, v in self.signal_weights.items() if not (number(v) and v >= 0))
        if bad:
            raise UserError(f"trust setting signal_weights must be numbers >= 0; check {', '.join(bad)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> TrustSettings:
        if not d:
            return cls()
        d = {k: v for k, v in d.items() if k not in RETIRED}
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            from analytics.errors import UserError

            raise UserError(f"unknown trust setting(s): {', '.join(sorted(unknown))}; "
                            f"known: {', '.join(sorted(known))}")
        out = cls(**{k: v for k, v in d.items() if k not in ("signal_weights", "advisory_signals")})
        if "advisory_signals" in d:
            out.advisory_signals = list(d["advisory_signals"])
        if "signal_weights" in d:
            out.signal_weights = {**DEFAULT_SIGNAL_WEIGHTS, **d["signal_weights"]}
        out.validate()
        return out


# Settings older runs and project files may still carry; they moved (the gold thresholds live
# in analytics.workers.WorkerReliability, which computes the gold evidence) and are ignored here.
RETIRED = frozenset({"gold_floor_margin", "gold_ban_probability"})


def adjust_signals(signals: pd.DataFrame) -> pd.DataFrame:
    """Add ``p_adj`` (Benjamini-Hochberg within each signal across workers) to a signals frame."""
    signals = signals.copy()
    signals["p_adj"] = np.nan
    for _, idx in signals.groupby("signal").groups.items():
        p = signals.loc[idx, "p_value"].to_numpy(float)
        ok = np.isfinite(p)
        if ok.any():
            adj = np.full(p.shape, np.nan)
            adj[ok] = stats.false_discovery_control(np.clip(p[ok], 0.0, 1.0), method="bh")
            signals.loc[idx, "p_adj"] = adj
    return signals


@dataclass
class WorkerVerdict:
    """Fitted worker verdict: ``table_`` (worker code index: quality, suspicion, trust,
    suspect, low_quality, reasons, kind), ``signals_`` (the input signals with ``p_adj``,
    ``significant`` and ``strength``) and ``crowd_wide_`` ({signal: share of tested workers}
    for signals that fired on too much of the crowd to accuse anyone)."""

    settings: TrustSettings = field(default_factory=TrustSettings)

    def fit(self, data: LabelArrays, scores: pd.DataFrame, signals: pd.DataFrame) -> WorkerVerdict:
        s = self.settings
        W, K = data.n_workers, data.n_classes
        n_labels = data.worker_counts() if hasattr(data, "worker_counts") else np.bincount(data.worker, minlength=W)
        quality = _quality(scores, K, W, s.quality_prior_labels, s.negative_kappa_labels, s.use_gold)
        sig = adjust_signals(signals)
        if not s.use_gold:           # gold given for evaluation only never changes a verdict
            sig = sig[sig["signal"] != "gold_low"].reset_index(drop=True)
        weights = sig["signal"].map(s.signal_weights).fillna(0.0).to_numpy()
        p_adj = sig["p_adj"].to_numpy()
        has_p = np.isfinite(p_adj)
        # A signal counts when the detector's own effect-size threshold fired and, where it
        # has a p-value, that p-value survives BH across workers.
        fired = sig["fired"].to_numpy(bool)
        significant = fired & (weights > 0) & (~has_p | (p_adj <= s.fdr_q))
        self.crowd_wide_ = _crowd_wide(sig, significant, s, W)
        strength = np.where(
            has_p,
            np.clip(-np.log10(np.clip(p_adj, 1e-300, 1)) / s.strong_log10_p, 0, 1),
            np.where(fired, 1.0, 0.0),
        ) * weights * significant
        advisory = sig["signal"].isin(set(s.advisory_signals) | set(self.crowd_wide_)).to_numpy()
        strength = np.where(advisory, np.minimum(strength, s.advisory_strength),
                            np.where(significant, np.maximum(strength, s.flag_strength_floor * weights), 0.0))
        sig["significant"] = significant
        sig["strength"] = strength
        suspicion = np.zeros(W)
        if len(sig):
            np.maximum.at(suspicion, sig["worker"].to_numpy(np.int64), strength)
        flagging = significant & ~advisory
        suspect = _flagged(sig, flagging, None, W)
        adversarial = _flagged(sig, flagging, "adversarial", W)
        gold_bad = _flagged(sig, flagging, "gold_low", W)
        low_quality = ((quality < s.min_quality) & (n_labels >= s.min_labels_for_quality)) | _flagged(
            sig, significant, "low_agreement", W)
        low_quality &= ~suspect
        suspicion = np.where(adversarial | gold_bad, np.maximum(suspicion, s.rule_suspicion), suspicion)
        trust = np.clip(quality * (1.0 - s.suspicion_weight * suspicion), 0.0, 1.0)
        reasons = _reasons(sig, W, quality, low_quality, adversarial)
        shown = sig[~sig["signal"].isin(set(self.crowd_wide_))]
        kind = _kinds(shown, W, low_quality, adversarial, s.advisory_signals, suspect)
        self.table_ = pd.DataFrame({
            "n_labels": n_labels, "quality": quality, "suspicion": suspicion, "trust": trust,
            "suspect": suspect, "low_quality": low_quality, "reasons": reasons, "kind": kind,
        })
        self.signals_ = sig
        return self

    def evidence_suspects(self) -> np.ndarray:
        """Boolean per worker: suspect through a behaviour or collusion signal (not through
        agreement with the consensus, gold or low quality alone). These are the workers whose
        labels may have dragged the consensus; poor but independent workers only add noise."""
        sig = self.signals_
        hit = sig["significant"].to_numpy(bool) & ~sig["signal"].isin(
            set(QUALITY_SIGNALS) | set(self.settings.advisory_signals) | set(self.crowd_wide_)).to_numpy()
        out = np.zeros(len(self.table_), bool)
        out[sig.loc[hit, "worker"].to_numpy(np.int64)] = True
        return out & self.table_["suspect"].to_numpy(bool)


def _crowd_wide(sig: pd.DataFrame, significant: np.ndarray, s: TrustSettings, n_workers: int) -> dict[str, float]:
    """Signals significant for more than ``crowd_signal_share`` of all the run's workers (some
    detectors only emit rows for candidates, e.g. community members, so the tested rows are
    not the denominator)."""
    if not len(sig) or n_workers == 0:
        return {}
    hit = sig.loc[significant].groupby("signal")["worker"].nunique()
    share = hit / n_workers
    wide = (share > s.crowd_signal_share) & (hit >= s.crowd_signal_min_workers)
    return {str(k): round(float(v), 4) for k, v in share[wide].items()}


def crowd_wide_sentence(crowd_wide: dict[str, float]) -> str:
    """One plain sentence for the run summary, or '' when no signal describes the crowd."""
    if not crowd_wide:
        return ""
    parts = [f"{name} fired on {share:.0%} of the workers" for name, share in sorted(crowd_wide.items())]
    return ("; ".join(parts) + ": that describes how this crowd works, not attackers, so "
            + ("this signal makes" if len(parts) == 1 else "these signals make") + " nobody suspect on its own.")


def _flagged(sig: pd.DataFrame, mask: np.ndarray, name: str | None, W: int) -> np.ndarray:
    """Workers with a row in ``mask`` (of signal ``name``, or of any signal when None)."""
    out = np.zeros(W, bool)
    if len(sig):
        sel = mask if name is None else mask & (sig["signal"] == name).to_numpy()
        out[sig.loc[sel, "worker"].to_numpy(np.int64)] = True
    return out


def _col(scores: pd.DataFrame, name: str, n: int, default: float) -> np.ndarray:
    if name in scores.columns:
        return scores[name].reindex(range(n)).to_numpy(dtype=float, na_value=default)
    return np.full(n, default)


def _quality(scores: pd.DataFrame, K: int, W: int, prior_labels: float = 5.0,
             negative_labels: float = 100.0, use_gold: bool = False) -> np.ndarray:
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
    - *gold*: (gold accuracy - 1/K) / (1 - 1/K) when there is enough gold and gold is used
      for scoring (``use_gold``); gold given for evaluation only never moves trust.
    Missing components are skipped; a worker with none gets 0.5. A one-class project has no
    chance-corrected scale: every component is undefined there and quality is 0.5.
    """
    if K < 2:
        return np.full(W, 0.5)
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
    g = _col(scores, "gold_accuracy", W, np.nan) if use_gold else np.full(W, np.nan)
    gold = np.clip((g - 1.0 / K) / (1 - 1.0 / K), 0, 1)
    plain = np.clip((agree - 1.0 / K) / (1 - 1.0 / K), 0, 1)
    stack = np.vstack([kappa, informative, plain, gold])
    with np.errstate(invalid="ignore"):
        cnt = np.isfinite(stack).sum(axis=0)
        q = np.where(cnt > 0, np.nansum(stack, axis=0) / np.maximum(cnt, 1), 0.5)
    return np.clip(q, 0.0, 1.0)


def _reasons(sig, W, quality, low_quality, adversarial) -> np.ndarray:
    """One sentence per significant signal (strongest first); low quality as a review note."""
    texts: list[list[str]] = [[] for _ in range(W)]
    fired = sig[sig["significant"]].sort_values("strength", ascending=False)
    for w, reason in zip(fired["worker"].to_numpy(np.int64), fired["reason"].astype(str), strict=True):
        if reason and reason not in texts[w]:
            texts[w].append(reason)
    for w in np.flatnonzero(adversarial):
        if not any("systematic" in t or "flip" in t for t in texts[w]):
            texts[w].insert(0, "answers are informative but systematically wrong (label flipping)")
    for w in np.flatnonzero(low_quality):
        texts[w].insert(0, f"review recommended: answers are weaker than most workers' (quality {quality[w]:.2f} "
                           "on a 0-1 scale); low quality alone is not evidence of an attack")
    return np.array(["; ".join(t) for t in texts], dtype=object)


def _kinds(sig, W, low_quality, adversarial, advisory, suspect) -> np.ndarray:
    """A short kind label per worker for charts: what made them suspect, strongest first.

    Suspect workers: their strongest significant non-advisory signal. Others: "low_quality"
    when marked for review, else the strongest advisory signal (which lowers trust but flags
    nobody on its own).
    """
    kind = np.full(W, "", dtype=object)
    fired = sig[sig["significant"]].sort_values("strength")
    is_adv = fired["signal"].isin(set(advisory)).to_numpy()
    for part in (fired[is_adv], fired[~is_adv]):       # later assignment wins
        kind[part["worker"].to_numpy(np.int64)] = part["signal"].to_numpy()
    kind[low_quality & ~suspect] = "low_quality"
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
    uncertain = consensus.confidence < settings.uncertain_confidence
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
    if consensus.confusion is not None:
        logA = np.log(np.clip(consensus.confusion, 1e-6, 1.0))
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
