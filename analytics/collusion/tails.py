"""Upper-tail p-values for counts under the collusion nulls.

* :func:`poisson_tail` - P(X >= k) for X ~ Poisson(lam). For a sum of independent Bernoulli
  trials (a Poisson-binomial count with mean lam) this is conservative: the Poisson has the
  larger variance, and the Poisson-binomial upper tail beyond the mean is bounded by it
  (Hoeffding 1956, "On the distribution of the number of successes in independent trials").
* :func:`quasi_poisson_tail` - for a sum of independent but non-Bernoulli terms with known
  mean m and variance v (e.g. "how many other accounts shared each wrong answer"): the
  over-dispersed Poisson X = phi * Poisson(m / phi), phi = max(1, v / m), evaluated with the
  regularised incomplete gamma function, P(Poisson(mu) >= x) = P(Gamma(x) <= mu), which is
  exact at integer x and interpolates smoothly between them (McCullagh & Nelder 1989, §6.2).

A count at or below its null mean gets p = 1 (conservative; only excess is evidence here).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammainc

TINY = 1e-300


def poisson_tail(k, lam) -> np.ndarray:
    """P(Poisson(lam) >= k) for k above lam; 1 where k <= lam (conservative)."""
    k, lam = np.broadcast_arrays(np.asarray(k, dtype=np.float64),
                                 np.maximum(np.asarray(lam, dtype=np.float64), 1e-12))
    return _gamma_tail(k, lam)


def _gamma_tail(x: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """P(Gamma(x) <= mu) where x exceeds the mean mu; 1 (conservative) where it does not."""
    p = np.ones(x.shape)
    m = (x > 0) & (x > mu)
    p[m] = gammainc(x[m], mu[m])
    return np.clip(p, TINY, 1.0)


def quasi_poisson_tail(obs, mean, var) -> np.ndarray:
    """Upper tail of an over-dispersed count with the given null mean and variance."""
    obs, mean, var = np.broadcast_arrays(np.asarray(obs, dtype=np.float64),
                                         np.maximum(np.asarray(mean, dtype=np.float64), 1e-12),
                                         np.asarray(var, dtype=np.float64))
    phi = np.maximum(1.0, var / mean)
    return _gamma_tail(obs / phi, mean / phi)


def simes(pvals: np.ndarray) -> float:
    """Simes' combined p-value min_j (m p_(j) / j), valid under positive dependence (Simes 1986)."""
    p = np.sort(np.asarray(pvals, dtype=np.float64))
    if p.size == 0:
        return 1.0
    return float(min(1.0, np.min(p.size * p / np.arange(1, p.size + 1))))
