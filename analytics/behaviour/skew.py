"""Label-distribution skew against the crowd (detection-methods.md §2.4).

For worker w the observed histogram O_wk is compared with what the crowd predicts for the
*same items*: E_wk = Σ_{i∈I_w} Σ_c p_ic A_pop[c, k], where p_i is the leave-worker-out
posterior and A_pop the pooled confusion matrix of the crowd (set ``through_confusion`` to
False to compare with the posterior truth distribution, A_pop = I).

Evidence is the G-test G = 2 Σ_k O_k ln(O_k / E_k) with Williams' correction
q = 1 + (K + 1) / (6 n), df = K - 1, p = P(χ²_{K-1} >= G / q) (Sokal & Rohlf, *Biometry*,
§17.2; Williams 1976). The effect size is the Jensen-Shannon divergence
JSD(P‖Q) = ½ KL(P‖M) + ½ KL(Q‖M), M = (P + Q)/2, in nats (<= ln 2), between the
Laplace-smoothed observed and expected distributions (Lin, IEEE Trans. Inf. Theory 1991).

Real crowds are overdispersed: honest workers' histograms vary more than a multinomial
allows (different item mixes, mild personal bias), so with hundreds of labels nearly
everyone "fails" a plain G-test. With ``overdispersion`` the null is a Dirichlet-multinomial,
whose variance is the multinomial one times 1 + (n - 1) ρ (Williams, Appl. Stat. 1982;
McCullagh & Nelder, *GLM*, §4.5): ρ is the value that makes the median of
G_w / (1 + (n_w - 1) ρ) over the tested workers equal the median of χ²_{K-1} (a robust,
median-based moment estimate in the spirit of Devlin & Roeder's genomic control, Biometrics
1999), and p-values use the scaled statistic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analytics.behaviour.context import BehaviourContext, check_fraction, check_positive, fmt_p
from analytics.consensus import Consensus
from analytics.dataset import LabelArrays
from analytics.evidence import empty_signals, make_signals


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise Jensen-Shannon divergence in nats of two (rows sum to 1) distributions."""
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum(axis=1)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum(axis=1)
    return 0.5 * (kl_p + kl_q)


def _any(flags: np.ndarray) -> bool:
    return bool(np.asarray(flags).any())


def _dm_rho(G: np.ndarray, n: np.ndarray, df: int, n_iter: int = 60) -> float:
    """Intra-worker correlation ρ >= 0 such that median(G / (1 + (n-1) ρ)) = median χ²_df."""
    df = int(df)
    target = stats.chi2.ppf(0.5, df)
    if G.size == 0 or np.median(G) <= target:
        return 0.0
    lo, hi = 0.0, 1.0
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        if np.median(G / (1.0 + (n - 1) * mid)) > target:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass
class LabelSkewDetector:
    """G-test and Jensen-Shannon divergence of a worker's label histogram vs the crowd's
    prediction for their items.

    Example
    -------
    >>> from analytics.aggregate import aggregate
    >>> from analytics.examples import names, tiny_crowd
    >>> data = tiny_crowd()          # 60 items, 24 honest workers and 8 planted ones (analytics.examples)
    >>> det = LabelSkewDetector().fit(data, aggregate(data, "ds"))
    >>> names(data, det.signals_.query("fired"))
    ['constant']

    Attributes
    ----------
    through_confusion : predict through the crowd's pooled confusion matrix (a typical
        worker's answers) rather than the posterior truth
    smoothing : Laplace pseudo-count per class before the JSD
    min_labels : workers with fewer labels are not tested
    alpha : fires when the G-test p-value is below this ...
    min_jsd : ... and the JSD (nats) is at least this
    overdispersion : scale G by the crowd's Dirichlet-multinomial factor 1 + (n - 1) ρ
    """

    through_confusion: bool = True
    smoothing: float = 0.5
    min_labels: int = 10
    alpha: float = 0.01
    min_jsd: float = 0.05
    overdispersion: bool = True

    scores_: pd.DataFrame = field(init=False, repr=False)
    signals_: pd.DataFrame = field(init=False, repr=False)
    rho_: float = field(init=False, default=0.0)

    def fit(self, data: LabelArrays, consensus: Consensus, context: BehaviourContext | None = None):
        check_fraction("alpha", self.alpha)
        check_positive("smoothing", self.smoothing)
        W, K = data.n_workers, data.n_classes
        ctx = context or BehaviourContext.build(data, consensus)
        cols = ["skew_jsd", "skew_g", "skew_p", "skew_top_observed", "skew_top_expected"]
        self.scores_ = pd.DataFrame(np.nan, index=pd.RangeIndex(W, name="worker"), columns=cols)
        self.signals_ = empty_signals()
        tested = ctx.counts >= self.min_labels
        if K < 2 or not ctx.crowd.stat("skew.any_tested", _any, (np.array([tested.any()]),), "max"):
            return self
        pred = ctx.expected if self.through_confusion else ctx.loo
        obs_c = np.zeros((W, K))
        E = np.zeros((W, K))
        for k in range(K):
            obs_c[:, k] = np.bincount(data.worker, weights=(data.label == k), minlength=W)
            E[:, k] = np.bincount(data.worker, weights=pred[:, k], minlength=W)
        n = obs_c.sum(axis=1)
        Ec = np.maximum(E, 1e-9)
        with np.errstate(divide="ignore", invalid="ignore"):
            G = 2.0 * np.where(obs_c > 0, obs_c * np.log(obs_c / Ec), 0.0).sum(axis=1)
        G = np.maximum(G, 0.0) / (1.0 + (K + 1) / (6.0 * np.maximum(n, 1)))
        self.rho_ = (ctx.crowd.stat("skew.rho", _dm_rho, (G[tested], n[tested], K - 1), ("concat", "concat", "max"))
                     if self.overdispersion else 0.0)
        p = stats.chi2.sf(G / (1.0 + (n - 1) * self.rho_), K - 1)
        P = (obs_c + self.smoothing) / (n[:, None] + K * self.smoothing)
        Q = (E + self.smoothing) / (n[:, None] + K * self.smoothing)
        jsd = jensen_shannon(P, Q)
        fired = tested & (p < self.alpha) & (jsd >= self.min_jsd)
        # the class most over-represented relative to the prediction
        over = np.argmax(obs_c / np.maximum(n[:, None], 1) - E / np.maximum(n[:, None], 1), axis=1)
        wi = np.arange(W)
        obs_share = obs_c[wi, over] / np.maximum(n, 1)
        exp_share = E[wi, over] / np.maximum(n, 1)

        sc = self.scores_
        sc.loc[tested, "skew_jsd"] = jsd[tested]
        sc.loc[tested, "skew_g"] = G[tested]
        sc.loc[tested, "skew_p"] = p[tested]
        sc.loc[tested, "skew_top_observed"] = obs_share[tested]
        sc.loc[tested, "skew_top_expected"] = exp_share[tested]
        if ctx.crowd.provisional:                    # reasons only once the crowd's numbers are final
            return self
        workers = np.flatnonzero(tested)
        reasons, evidence = [], []
        for w in workers:
            cls = data.classes[over[w]]
            reasons.append(
                f"answered '{cls}' on {obs_share[w]:.0%} of {int(n[w])} items where the crowd predicts "
                f"{exp_share[w]:.0%} (G-test p={fmt_p(p[w])}, JSD {jsd[w]:.2f})")
            evidence.append({
                "observed": {str(c): int(v) for c, v in zip(data.classes, obs_c[w], strict=True)},
                "expected": {str(c): round(float(v), 2) for c, v in zip(data.classes, E[w], strict=True)},
                "over_represented": str(cls),
                "g_statistic": float(G[w]),
                "overdispersion_rho": self.rho_,
                "jsd": float(jsd[w]),
            })
        self.signals_ = make_signals(workers, "skew", jsd[workers], p[workers], fired[workers],
                                     reasons, evidence)
        return self
