"""Per-worker reliability scores, model-based and gold-based (detection-methods.md §1).

:class:`WorkerReliability` follows the detector contract of :mod:`analytics.evidence`:
``fit(data, consensus)`` sets ``scores_`` (one row per worker code) and ``signals_``
(``low_agreement``, ``spammer``, ``adversarial``, ``gold_low``), plus ``shrunk_errors_``.

Scores (columns of ``scores_``)
-------------------------------
``n_labels``          labels the worker gave.
``loo_n``             labels on tasks that somebody else also labelled (the ones that can be checked).
``loo_agreement``     share of those labels equal to the leave-this-worker-out consensus label
                      (argmax of :func:`analytics.consensus.leave_one_out_posteriors`, ties to the lowest code).
``loo_lo``, ``loo_hi``  Jeffreys interval (level ``gold_ci``) of that agreement rate.
``loo_chance``        the agreement the worker would reach by chance given their own label mix:
                      sum_k P_w(y = k) * P(consensus = k on the worker's tasks).
``ds_accuracy``       D_w = sum_c pi_c A~_w[c, c] from the shrunk confusion matrix A~_w (§1.6).
``spammer_score``     Raykar & Yu (JMLR 13, 2012) S_w = 1/(K(K-1)) sum_{c<c'} sum_k (A~_w[c,k] - A~_w[c',k])^2:
                      0 for a spammer (rank-one matrix), 1 for a deterministic (possibly permuted) worker.
``ipw_quality``       Ipeirotis, Provost & Wang (HCOMP 2010) Q_w = 1 - ExpCost_w / Cost(pi), 0/1 loss, clipped to [0, 1].
                      Cost(p) = sum_k sum_l p_k p_l c_kl = 1 - sum_k p_k^2 (the *soft* cost), and the normaliser is
                      the same soft cost of the prior, Cost(pi), so a worker whose every soft label equals pi
                      scores exactly 0 (Get-Another-Label divides by the min-cost decision on pi instead).
``mace_competence``   MACE (Hovy et al., NAACL 2013) P(not spamming), crowd-kit ``MACE.spamming_[:, 1]``; NaN
                      when MACE did not run (see ``mace``).
``gold_n``, ``gold_correct``  gold items answered and answered correctly.
``gold_accuracy``     Jeffreys posterior mean (s + 1/2) / (n + 1); NaN with fewer than ``gold_min_items``.
``gold_lo``, ``gold_hi``  equal-tailed ``gold_ci`` Jeffreys interval, Beta(s + 1/2, n - s + 1/2) quantiles
                      (0 / 1 at the ends when s = 0 / s = n, Brown, Cai & DasGupta 2001).
``gold_p_below``      P(accuracy < 1/K + ``gold_floor_margin`` | gold), the Beta posterior (§1.5).
``adversarial``       1.0 for an informative but systematically wrong worker (label flipper), else 0.0.

Shrinkage (§1.6): soft counts N_w[c, k] = sum_i p~_ic [y_wi = k] use the *leave-this-worker-out*
posteriors p~ (so a worker's own vote does not confirm itself on 3-label tasks) and only tasks
somebody else labelled; each row is shrunk towards the pooled matrix A_bar with a Dirichlet
prior of strength ``shrinkage`` (lambda): A~_w[c, .] = (N_w[c, .] + lambda A_bar[c, .]) / (N_wc + lambda).
A worker with 2 labels therefore looks like the average worker, not like a perfect one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analytics.consensus import Consensus, argmax_lowest, leave_one_out_posteriors
from analytics.crowdstats import Crowd, identity
from analytics.dataset import LabelArrays
from analytics.evidence import empty_signals, make_signals


def shrunk_confusion(data: LabelArrays, post: np.ndarray, weight: np.ndarray, lam: float,
                     crowd: Crowd | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft counts N (W, K, K), pooled matrix A_bar (K, K) and shrunk matrices A~ (W, K, K).

    ``post`` is the (n_labels, K) posterior used as the soft truth of each label's task and
    ``weight`` (n_labels,) a 0/1 mask of labels that count; the pooled matrix is the crowd's
    (``crowd``, :mod:`analytics.crowdstats`) when the workers are partitioned.
    """
    W, K = data.n_workers, data.n_classes
    N = np.zeros((W * K, K))
    key = data.worker.astype(np.int64) * K + data.label
    for c in range(K):          # loop over classes only
        N[:, c] = np.bincount(key, weights=post[:, c] * weight, minlength=W * K)
    N = N.reshape(W, K, K).transpose(0, 2, 1)               # N[w, c_true, k_obs]
    pooled = (crowd or Crowd()).stat("reliability.pooled", identity, (N.sum(axis=0),), "sum")
    rs = pooled.sum(axis=1, keepdims=True)
    A_bar = np.divide(pooled, rs, out=np.full((K, K), 1.0 / K), where=rs > 0)
    Nc = N.sum(axis=2, keepdims=True)
    A = (N + lam * A_bar[None]) / np.maximum(Nc + lam, 1e-12)
    return N, A_bar, A


def spammer_score(A: np.ndarray) -> np.ndarray:
    """Raykar & Yu spammer score per worker from matrices A (W, K, K) with rows = true class.

    Uses sum_{c<c'} ||A_c - A_c'||^2 = K sum_c ||A_c||^2 - ||sum_c A_c||^2; NaN when K < 2.
    """
    W, K, _ = A.shape
    if K < 2:
        return np.full(W, np.nan)
    tot = K * (A * A).sum(axis=(1, 2)) - (A.sum(axis=1) ** 2).sum(axis=1)
    return np.clip(tot / (K * (K - 1)), 0.0, 1.0)


def ipw_quality(A: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Ipeirotis-Provost-Wang expected-cost quality with 0/1 loss and the soft-cost normaliser."""
    W, K, _ = A.shape
    pri = np.clip(np.asarray(priors, float), 0, None)
    pri = pri / pri.sum() if pri.sum() > 0 else np.full(K, 1.0 / K)
    cost_pi = 1.0 - (pri ** 2).sum()
    if K < 2 or cost_pi <= 0:
        return np.full(W, np.nan)
    joint = pri[None, :, None] * A                           # (W, c, l) = pi_c A[c, l]
    P_l = joint.sum(axis=1)                                  # (W, l)
    # sum_l P(l) * (1 - sum_c s_l(c)^2) = sum_l P(l) - sum_l sum_c joint^2 / P(l)
    sq = np.divide((joint ** 2).sum(axis=1), P_l, out=np.zeros_like(P_l), where=P_l > 0)
    exp_cost = P_l.sum(axis=1) - sq.sum(axis=1)
    return np.clip(1.0 - exp_cost / cost_pi, 0.0, 1.0)


def _betabinom_fit(k: np.ndarray, n: np.ndarray, min_n) -> tuple[float, float, float]:
    """Robust moment fit of the between-worker Beta(a, b) of agreement rates (§1.6):
    centre = median rate, between-worker variance = (1.4826 MAD)^2 minus the mean binomial
    variance, over workers with at least ``min_n`` checkable labels. Returns (m, a, b)."""
    ok = n >= max(int(min_n), 1)
    if ok.sum() < 3:
        ok = n > 0
    if not ok.any():
        return float("nan"), float("nan"), float("nan")
    r = k[ok] / n[ok]
    m = float(np.clip(np.median(r), 1e-3, 1 - 1e-3))
    mad = 1.4826 * float(np.median(np.abs(r - np.median(r))))
    v = mad * mad - float(np.mean(m * (1 - m) / n[ok]))
    v = max(v, 1e-4)                                         # at least a sd of 1 point
    s = float(np.clip(m * (1 - m) / v - 1.0, 2.0, 1e6))
    return m, m * s, (1 - m) * s


@dataclass
class WorkerReliability:
    """Model- and gold-based reliability of every worker (see the module docstring for formulas).

    Signals (one row per tested worker, analytics.evidence contract):

    - ``low_agreement``: one-sided beta-binomial test of the worker's agreement count with the
      leave-one-out consensus against the population's between-worker distribution of rates
      (robust moment fit, so honest variation between workers is part of the null);
      score = the worker's agreement rate. Tested with at least ``min_labels`` checkable labels.
    - ``near_chance``: answers no better than chance. One-sided exact binomial test of the
      agreement count with the leave-one-out consensus against the boundary of "better than
      chance", H0: agreement >= c_w + ``chance_margin`` (1 - c_w), c_w the agreement expected
      by chance from the worker's own label mix (``loo_chance``, so a constant answerer on
      imbalanced data is at chance, not at the majority share); fired when p < ``near_chance_p``
      and the observed kappa is below the margin, *unless* the agreement is significantly above
      chance (``better_than_chance_p``): a worker whose answers are clearly better than chance,
      however weak, is never accused for quality alone (p is then 1).
    - ``class_flip``: one class systematically relabelled as another (a label flipper, or a
      targeted campaign that seeks out items of class c and answers c'). For every ordered
      pair (c, c') the worker's answers on items whose leave-one-out consensus is c give
      x_c (answered c) and x_c' (answered c'); under "the worker answers c on c-items at least
      as often as c'" (true of every worker better than chance on class c), x_c' given
      x_c + x_c' = m is at most Binomial(m, 1/2), so p = P(Bin(m, 1/2) >= x_c'), Bonferroni over
      the K(K - 1) pairs. Fired when p < ``class_flip_p``, the worker answers c' on at least
      ``class_flip_margin`` more of the c-items than c, and at least twice the crowd's own
      c -> c' rate plus ``class_flip_margin`` (a confusion the whole crowd shares, such as two
      neighbouring relevance grades, is not an attack).
    - ``spammer``: Raykar-Yu score below ``spammer_max_score`` with at least ``min_labels`` labels;
      no p-value (a threshold rule).
    - ``adversarial``: exact one-sided binomial test that the worker agrees with the consensus
      *less* than chance given their own label mix (``loo_chance``); fired (and the
      ``adversarial`` flag set) when additionally S_w >= ``adversarial_min_spammer_score`` and
      D_w < ``adversarial_max_diagonal`` x 1/K, with p below ``adversarial_p``.
    - ``gold_low``: exact binomial test of gold accuracy against the floor 1/K + ``gold_floor_margin``;
      fired when the Jeffreys posterior P(accuracy < floor) exceeds ``gold_ban_probability``.
      Workers with 1..``gold_min_items``-1 gold answers get a row saying "not enough gold
      evidence" (no p-value, not fired).
    """

    shrinkage: float = 10.0
    """lambda: pseudo-labels per true class pulling each confusion row towards the pooled matrix."""
    min_labels: int = 10
    """Checkable labels a worker needs before the agreement, spammer and adversarial signals are tested."""
    low_agreement_p: float = 0.01
    """``fired`` threshold of the low-agreement p-value (the verdict uses BH-adjusted p-values)."""
    chance_margin: float = 0.2
    """Kappa with the consensus that counts as "better than chance" (the null boundary of
    ``near_chance``). A worker 0.25 above chance on every class has kappa 0.33 or more; a
    weaker one is protected by ``better_than_chance_p`` once their labels show it."""
    better_than_chance_p: float = 0.01
    """A worker whose agreement is above chance at this level (exact binomial against c_w) is
    clearly better than chance and never ``near_chance``, however weak: with enough labels even a
    60%-accurate worker on an 85/15 task (kappa about 0.1) is."""
    near_chance_p: float = 0.01
    """``fired`` threshold of the near-chance p-value (the verdict uses BH-adjusted p-values)."""
    class_flip_p: float = 0.001
    """``fired`` threshold of the class-flip p-value (the verdict uses BH-adjusted p-values)."""
    class_flip_margin: float = 0.3
    """Effect size of a class flip: the share of c-items answered c' exceeds the share answered
    c by at least this, and exceeds twice the crowd's c -> c' rate by at least this."""
    class_flip_max_classes: int = 20
    """Projects with more classes skip the class-flip test (K(K - 1) pairs per worker)."""
    spammer_max_score: float = 0.05
    """Raykar-Yu score below which a worker is called a spammer (honest 85%-accurate ~0.6, random ~0.05)."""
    adversarial_min_spammer_score: float = 0.1
    """Minimum Raykar-Yu score (informativeness) of an adversarial worker."""
    adversarial_max_diagonal: float = 1.0
    """Adversarial when D_w is below this multiple of chance 1/K (systematically wrong)."""
    adversarial_p: float = 0.01
    """Maximum p-value of the below-chance agreement test for the adversarial flag."""
    gold_min_items: int = 5
    """Gold answers needed before gold accuracy is reported (else "not enough evidence")."""
    gold_floor_margin: float = 0.1
    """Gold accuracy floor = 1/K + this margin (same default as TrustSettings)."""
    gold_ban_probability: float = 0.95
    """``gold_low`` fires when P(accuracy < floor | gold) exceeds this."""
    gold_ci: float = 0.95
    """Level of the Jeffreys interval on gold accuracy."""
    mace: bool | None = False
    """Run crowd-kit MACE for ``mace_competence``: True, False (default: it costs about 1 s per
    restart even on small projects, ~12 s per 500k labels per 10 restarts), or None = only
    when the project has at most ``mace_max_labels`` labels. Reused for free when the
    consensus itself is MACE."""
    mace_max_labels: int = 30_000
    """Size limit for running MACE automatically."""
    mace_restarts: int = 2
    """MACE random restarts (crowd-kit's default is 10)."""
    seed: int = 0
    """Seed of MACE."""

    def fit(self, data: LabelArrays, consensus: Consensus, exclude: np.ndarray | None = None,
            inputs: dict | None = None, crowd: Crowd | None = None) -> WorkerReliability:
        """Score every worker against ``consensus``; ``exclude`` (boolean per worker) leaves
        those workers' votes out of the reference everyone is compared with.

        The partitioned engine (:mod:`analytics.engine`) fits one partition of workers at a time:
        ``inputs`` then gives each label's leave-one-out posterior (``loo``) and whether somebody
        else labelled its task (``checkable``), computed on partitions of items, and ``crowd``
        the crowd-level statistics (:mod:`analytics.crowdstats`)."""
        W, K, T = data.n_workers, data.n_classes, data.n_tasks
        crowd = crowd or Crowd()
        n_labels = np.bincount(data.worker, minlength=W).astype(np.int64)
        if inputs is not None:
            checkable, loo = inputs["checkable"], inputs["loo"]
        else:
            # labels on tasks someone else labelled
            per_task = np.bincount(data.task, minlength=T)
            own_on_task = _own_counts(data)
            checkable = (per_task[data.task] - own_on_task) > 0
            loo = leave_one_out_posteriors(data, consensus, exclude)
        wt = checkable.astype(float)

        loo_label = argmax_lowest(loo)
        hit = (loo_label == data.label) & checkable
        loo_n = np.bincount(data.worker, weights=wt, minlength=W)
        loo_k = np.bincount(data.worker, weights=hit.astype(float), minlength=W)
        with np.errstate(invalid="ignore", divide="ignore"):
            loo_agree = np.where(loo_n > 0, loo_k / loo_n, np.nan)
        # chance agreement given the worker's own label mix and the consensus mix on their tasks
        q = np.zeros((W, K))
        r = np.zeros((W, K))
        for k in range(K):
            q[:, k] = np.bincount(data.worker, weights=wt * (data.label == k), minlength=W)
            r[:, k] = np.bincount(data.worker, weights=wt * (loo_label == k), minlength=W)
        with np.errstate(invalid="ignore", divide="ignore"):
            chance = np.where(loo_n > 0, (q * r).sum(axis=1) / (loo_n ** 2), np.nan)

        N, A_bar, A = shrunk_confusion(data, loo, wt, self.shrinkage, crowd)
        priors = np.asarray(consensus.priors, float)
        D = np.einsum("c,wcc->w", priors, A)
        S = spammer_score(A)
        Q = ipw_quality(A, priors)

        mace = self._mace(data, consensus) if inputs is None else np.full(W, np.nan)
        gold = self._gold(data)

        adv_p = stats.binom.cdf(loo_k, np.maximum(loo_n, 1).astype(np.int64), np.clip(np.nan_to_num(chance), 0, 1))
        adv_p = np.where(loo_n > 0, adv_p, np.nan)
        tested = loo_n >= self.min_labels
        adversarial = (tested & (K >= 2) & (S >= self.adversarial_min_spammer_score)
                       & (D < self.adversarial_max_diagonal / max(K, 1)) & (adv_p < self.adversarial_p))

        has = loo_n > 0
        loo_lo, loo_hi = _jeffreys(loo_k, loo_n, self.gold_ci)
        loo_lo, loo_hi = np.where(has, loo_lo, np.nan), np.where(has, loo_hi, np.nan)
        scores = pd.DataFrame({
            "n_labels": n_labels, "loo_n": loo_n.astype(np.int64), "loo_agreement": loo_agree,
            "loo_lo": loo_lo, "loo_hi": loo_hi,
            "loo_chance": chance, "ds_accuracy": np.where(n_labels > 0, D, np.nan),
            "spammer_score": np.where(n_labels > 0, S, np.nan), "ipw_quality": np.where(n_labels > 0, Q, np.nan),
            "mace_competence": mace,
            **gold,
            "adversarial": adversarial.astype(float),
        }, index=pd.RangeIndex(W, name="worker"))
        self.scores_ = scores
        self.shrunk_errors_ = A
        self.pooled_errors_ = A_bar
        self.soft_counts_ = N
        self.signals_ = self._signals(data, scores, loo_k, tested, adv_p, crowd)
        flips = self._class_flips(data, loo_label, checkable, tested, crowd)
        if len(flips):
            self.signals_ = pd.concat([self.signals_, flips], ignore_index=True)
        return self

    # ------------------------------------------------------------------ parts

    def _mace(self, data: LabelArrays, consensus: Consensus) -> np.ndarray:
        W = data.n_workers
        if consensus.method == "mace" and consensus.skills is not None:
            return np.asarray(consensus.skills, float)
        run = self.mace if self.mace is not None else data.n <= self.mace_max_labels
        if not run or data.n_classes < 2:
            return np.full(W, np.nan)
        from crowdkit.aggregation import MACE

        df = pd.DataFrame({"task": data.task.astype(np.int64), "worker": data.worker.astype(np.int64),
                           "label": data.label.astype(np.int64)})
        m = MACE(n_restarts=max(int(self.mace_restarts), 1), random_state=self.seed).fit(df)
        names = np.asarray(pd.factorize(df["worker"])[1], dtype=np.int64)
        out = np.full(W, np.nan)
        out[names] = m.spamming_[:, 1]
        return out

    def _gold(self, data: LabelArrays) -> dict[str, np.ndarray]:
        W, K = data.n_workers, data.n_classes
        g = data.gold_vector()
        on_gold = g[data.task] >= 0
        n = np.bincount(data.worker, weights=on_gold.astype(float), minlength=W)
        s = np.bincount(data.worker, weights=(on_gold & (data.label == g[data.task])).astype(float), minlength=W)
        a, b = s + 0.5, n - s + 0.5
        floor = min(1.0 / max(K, 1) + self.gold_floor_margin, 1.0)
        enough = n >= self.gold_min_items

        def masked(x):
            return np.where(enough, x, np.nan)

        g_lo, g_hi = _jeffreys(s, n, self.gold_ci)
        return {
            "gold_n": n.astype(np.int64), "gold_correct": s.astype(np.int64),
            "gold_accuracy": masked(a / (a + b)),
            "gold_lo": masked(g_lo), "gold_hi": masked(g_hi),
            "gold_p_below": masked(stats.beta.cdf(floor, a, b)),
        }

    def _class_flips(self, data: LabelArrays, loo_label: np.ndarray, checkable: np.ndarray,
                     tested: np.ndarray, crowd: Crowd) -> pd.DataFrame:
        """The ``class_flip`` signal (see the class docstring), one row per tested worker."""
        W, K = data.n_workers, data.n_classes
        if K < 2 or K > self.class_flip_max_classes:
            return empty_signals()
        m = checkable
        counts = np.zeros((W, K, K))
        np.add.at(counts, (data.worker[m], loo_label[m], data.label[m]), 1.0)
        pooled = crowd.stat("reliability.flip_counts", identity, (counts.sum(axis=0),), "sum")
        crowd = pooled / np.maximum(pooled.sum(axis=1, keepdims=True), 1.0)        # A_pop[c, k]
        n_c = counts.sum(axis=2)                                                  # (W, K)
        if not tested.any():
            return empty_signals()
        x_c = counts[:, np.arange(K), np.arange(K)]                               # (W, K)
        best_p = np.ones(W)
        best = np.zeros((W, 2), np.int64)
        for c in range(K):
            for k in range(K):
                if k == c:
                    continue
                x, mm = counts[:, c, k], x_c[:, c] + counts[:, c, k]
                p = np.where(mm > 0, stats.binom.sf(x - 1, np.maximum(mm, 1).astype(np.int64), 0.5), 1.0)
                share_k = x / np.maximum(n_c[:, c], 1)
                share_c = x_c[:, c] / np.maximum(n_c[:, c], 1)
                big = (share_k - share_c >= self.class_flip_margin) & (
                    share_k >= 2 * crowd[c, k] + self.class_flip_margin)
                p = np.where(big, p, np.maximum(p, 0.5))          # no effect: no evidence worth ranking
                better = p < best_p
                best_p = np.where(better, p, best_p)
                best[better] = (c, k)
        p_adj = np.minimum(best_p * K * (K - 1), 1.0)
        w = np.flatnonzero(tested)
        c, k = best[w, 0], best[w, 1]
        cls = [str(x) for x in data.classes]
        share_k = counts[w, c, k] / np.maximum(n_c[w, c], 1)
        fired = p_adj[w] < self.class_flip_p
        reason = [f"relabels one class as another: on {int(n_c[i, a])} items the crowd labels '{cls[a]}' answered "
                  f"'{cls[b]}' {int(counts[i, a, b])} times and '{cls[a]}' {int(x_c[i, a])} times (the crowd "
                  f"answers '{cls[b]}' there {crowd[a, b]:.0%} of the time)"
                  for i, a, b in zip(w, c, k, strict=True)]
        ev = [{"consensus_class": cls[a], "answered_class": cls[b], "items": int(n_c[i, a]),
               "answered_as": int(counts[i, a, b]), "answered_correctly": int(x_c[i, a]),
               "crowd_rate": round(float(crowd[a, b]), 4)} for i, a, b in zip(w, c, k, strict=True)]
        return make_signals(w, "class_flip", share_k, p_adj[w], fired, reason, ev)

    def _signals(self, data, sc: pd.DataFrame, loo_k, tested, adv_p, crowd: Crowd) -> pd.DataFrame:
        K = data.n_classes
        frames = []
        n = sc["loo_n"].to_numpy(float)
        rate = sc["loo_agreement"].to_numpy(float)
        m, a, b = crowd.stat("reliability.betabinom", _betabinom_fit, (loo_k, n, self.min_labels),
                             ("concat", "concat", "max"))
        if tested.any() and np.isfinite(m):
            w = np.flatnonzero(tested)
            p = stats.betabinom.cdf(loo_k[w], n[w].astype(np.int64), a, b)
            reason = [f"agreed with the other workers' consensus on {int(loo_k[i])} of {int(n[i])} labels "
                      f"({rate[i]:.0%}); a typical worker here agrees {m:.0%} of the time" for i in w]
            ev = [{"agree": int(loo_k[i]), "checked": int(n[i]), "population_rate": round(m, 4)} for i in w]
            frames.append(make_signals(w, "low_agreement", rate[w], p, p < self.low_agreement_p, reason, ev))
        if tested.any() and K >= 2:
            w = np.flatnonzero(tested)
            ch = np.clip(sc["loo_chance"].to_numpy(float)[w], 0.0, 1.0)
            p0 = ch + self.chance_margin * (1.0 - ch)
            nn = n[w].astype(np.int64)
            p = stats.binom.cdf(loo_k[w], nn, p0)
            # "clearly better than chance": agreement significantly above c_w; such a worker is
            # never suspect for quality alone, however weak
            better = stats.binom.sf(loo_k[w] - 1, nn, ch) < self.better_than_chance_p
            with np.errstate(invalid="ignore", divide="ignore"):
                kappa = np.where(ch < 1, (rate[w] - ch) / (1 - ch), 0.0)
            reason = [f"answers are no better than chance: agreed with the consensus on {int(loo_k[i])} of "
                      f"{int(n[i])} labels ({rate[i]:.0%}) where guessing with their own mix of answers gives "
                      f"{c:.0%}" for i, c in zip(w, ch, strict=True)]
            ev = [{"agree": int(loo_k[i]), "checked": int(n[i]), "chance": round(float(c), 4),
                   "kappa": round(float(k), 4), "margin": self.chance_margin, "better_than_chance": bool(b)}
                  for i, c, k, b in zip(w, ch, kappa, better, strict=True)]
            p = np.where(better, 1.0, p)
            fired = (p < self.near_chance_p) & (kappa < self.chance_margin) & ~better
            frames.append(make_signals(w, "near_chance", kappa, p, fired, reason, ev))
        S = sc["spammer_score"].to_numpy(float)
        if tested.any() and K >= 2:
            w = np.flatnonzero(tested)
            fired = S[w] < self.spammer_max_score
            reason = [f"answers carry little information about the true label (Raykar-Yu informativeness {S[i]:.2f} "
                      f"on a 0-1 scale from {int(n[i])} labels)" for i in w]
            ev = [{"spammer_score": round(float(S[i]), 4), "labels": int(n[i])} for i in w]
            frames.append(make_signals(w, "spammer", S[w], np.nan, fired, reason, ev))
        if tested.any() and K >= 2:
            w = np.flatnonzero(tested)
            ch = sc["loo_chance"].to_numpy(float)
            D = sc["ds_accuracy"].to_numpy(float)
            adv = sc["adversarial"].to_numpy(float) > 0.5
            reason = [f"answers are informative but systematically wrong: agrees with the consensus on "
                      f"{rate[i]:.0%} of {int(n[i])} labels where chance alone gives {ch[i]:.0%} "
                      f"(estimated accuracy {D[i]:.0%}; label flipping)" for i in w]
            ev = [{"agreement": round(float(rate[i]), 4), "chance": round(float(ch[i]), 4),
                   "ds_accuracy": round(float(D[i]), 4), "spammer_score": round(float(S[i]), 4)} for i in w]
            frames.append(make_signals(w, "adversarial", 1.0 - D[w], adv_p[w], adv[w], reason, ev))
        gn = sc["gold_n"].to_numpy()
        if (gn > 0).any():
            gs = sc["gold_correct"].to_numpy()
            floor = min(1.0 / max(K, 1) + self.gold_floor_margin, 1.0)
            enough = gn >= self.gold_min_items
            w = np.flatnonzero(enough)
            if len(w):
                pb = sc["gold_p_below"].to_numpy(float)
                p = stats.binom.cdf(gs[w], gn[w], floor)
                reason = [f"correct on {gs[i]} of {gn[i]} gold items ({gs[i] / gn[i]:.0%}); "
                          f"P(accuracy < {floor:.0%}) = {pb[i]:.2f}" for i in w]
                ev = [{"gold_correct": int(gs[i]), "gold_n": int(gn[i]), "floor": round(floor, 4),
                       "p_below": round(float(pb[i]), 4)} for i in w]
                frames.append(make_signals(w, "gold_low", 1.0 - gs[w] / gn[w], p,
                                           pb[w] > self.gold_ban_probability, reason, ev))
            w = np.flatnonzero((gn > 0) & ~enough)
            if len(w):
                reason = [f"not enough gold evidence: {gn[i]} gold item(s), {self.gold_min_items} needed"
                          for i in w]
                ev = [{"gold_correct": int(gs[i]), "gold_n": int(gn[i])} for i in w]
                frames.append(make_signals(w, "gold_low", np.nan, np.nan, False, reason, ev))
        return pd.concat(frames, ignore_index=True) if frames else empty_signals()


def _jeffreys(k: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed Jeffreys interval for k successes in n (Brown, Cai & DasGupta 2001, Stat. Sci.
    16(2)): Beta(k + 1/2, n - k + 1/2) quantiles, with the lower end 0 when k = 0 and the upper
    end 1 when k = n."""
    q = (1 - level) / 2
    a, b = k + 0.5, n - k + 0.5
    lo = np.where(k <= 0, 0.0, stats.beta.ppf(q, a, b))
    hi = np.where(k >= n, 1.0, stats.beta.ppf(1 - q, a, b))
    return lo, hi


def _own_counts(data: LabelArrays) -> np.ndarray:
    """Per label: how many labels its worker gave on its task (1 unless duplicates exist)."""
    key = data.task.astype(np.int64) * data.n_workers + data.worker
    _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    return cnt[inv]
