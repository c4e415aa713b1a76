"""Timestamps for red-team copies: synthesised where the project has none, blended where it has them.

Protocol (detection-methods.md §6.2 step 2): when the base project carries no times,
every original label gets a synthetic submit time and duration so that the timing
detectors (burst, fast answers, drift order) have something to read; when it carries
times, the originals keep theirs and planted workers borrow the rhythm of a real worker.

Synthetic model (:class:`TimelineModel`), per label of worker w on item i:

* duration ``log d ~ N(mu + b_i + a_w, sigma^2)`` with an item effect ``b_i ~ N(0, s_b^2)``
  (harder items take longer, as GLAD's difficulty) and a worker effect ``a_w ~ N(0, s_w^2)``;
  real durations are kept where the project has them;
* a worker's items come in a random order, cut into sessions whose lengths are geometric
  with mean ``session_labels`` (sessions ~ a Poisson number per worker);
* inside a session labels follow each other: ``t_k = t_{k-1} + d_k + g_k`` with a pause
  ``g_k ~ Exp(gap_s)``; sessions of one worker never overlap, separated by exponential
  breaks spread over ``days`` (so honest workers have no artificial bursts).

No diurnal profile is modelled. Blending (:func:`blend_times`) draws a planted worker's
start from the project's own time distribution and its inter-label gaps (and durations)
by resampling those of a randomly chosen real worker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Epoch seconds of the synthetic timeline's start (2024-01-01 00:00 UTC).
SYNTH_T0 = 1_704_067_200.0


@dataclass(frozen=True)
class TimelineModel:
    """Settings of the synthetic timeline (see the module docstring)."""

    days: float = 14.0             #: span of the project in days
    session_labels: float = 25.0   #: mean labels per work session (geometric)
    gap_s: float = 6.0             #: mean pause between two labels inside a session, seconds
    log_duration_mean: float = float(np.log(20.0))  #: mu: log of the typical label duration (s)
    item_sd: float = 0.5           #: s_b: spread of the item effect on log duration
    worker_sd: float = 0.4         #: s_w: spread of the worker effect on log duration
    noise_sd: float = 0.4          #: sigma: label-level noise on log duration


def group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Boolean mask: True where a new group begins in an array sorted by group key."""
    new = np.ones(sorted_keys.shape[0], dtype=bool)
    new[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return new


def segmented_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sum that restarts at every True of ``starts`` (vectorised)."""
    cs = np.cumsum(values)
    idx = np.flatnonzero(starts)
    seg = np.cumsum(starts) - 1
    base = np.concatenate([[0.0], cs])[idx]   # cumsum before each segment start
    return cs - base[seg]


def synthesize(task: np.ndarray, worker: np.ndarray, n_tasks: int, n_workers: int,
               rng: np.random.Generator, model: TimelineModel = TimelineModel(),
               durations: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic (submitted_at epoch seconds, duration_s) for every label (module model).

    ``durations`` (NaN where unknown) are kept where finite.
    """
    n = task.shape[0]
    b = rng.normal(0.0, model.item_sd, n_tasks)
    a = rng.normal(0.0, model.worker_sd, n_workers)
    d = np.exp(model.log_duration_mean + b[task] + a[worker] + rng.normal(0.0, model.noise_sd, n))
    if durations is not None:
        d = np.where(np.isfinite(durations), durations, d)
    d = np.maximum(d, 1.0)
    order = np.lexsort((rng.random(n), worker))          # each worker's labels in random order
    w_sorted = worker[order]
    first = group_starts(w_sorted)
    new_sess = first | (rng.random(n) < 1.0 / max(model.session_labels, 1.0))
    step = d[order] + rng.exponential(model.gap_s, n)
    within = segmented_cumsum(step, new_sess)            # seconds since the session start
    sess_id = np.cumsum(new_sess) - 1
    sess_len = np.zeros(sess_id[-1] + 1 if n else 0)
    np.maximum.at(sess_len, sess_id, within)
    sess_worker = w_sorted[new_sess]
    n_sess_w = np.bincount(sess_worker, minlength=n_workers)
    span = model.days * 86400.0
    mean_break = span / np.maximum(n_sess_w, 1)
    brk = rng.exponential(mean_break[sess_worker])
    first_sess = group_starts(sess_worker)
    # Session start = worker offset + sum of earlier sessions' lengths and breaks.
    prev_len = np.concatenate([[0.0], sess_len[:-1]])
    prev_len[first_sess] = 0.0
    start_rel = segmented_cumsum(brk + prev_len, first_sess)
    worker_off = rng.uniform(0.0, 0.2 * span, n_workers)
    sess_start = SYNTH_T0 + worker_off[sess_worker] + start_rel
    t_sorted = sess_start[sess_id] + within
    t = np.empty(n)
    t[order] = t_sorted
    return t, d


def within_session_gaps(times: np.ndarray, worker: np.ndarray, max_gap_s: float = 3600.0) -> np.ndarray:
    """Gaps between a worker's consecutive labels that are shorter than ``max_gap_s`` (all workers pooled)."""
    ok = np.isfinite(times)
    order = np.lexsort((times[ok], worker[ok]))
    w, t = worker[ok][order], times[ok][order]
    g = np.diff(t)
    same = w[1:] == w[:-1]
    g = g[same & (g > 0) & (g < max_gap_s)]
    return g


def blend_times(n: int, times: np.ndarray, worker: np.ndarray, durations: np.ndarray | None,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """Times (and durations) for one planted worker with ``n`` labels, blended into a real timeline.

    A real worker with at least two timed labels is drawn as template; the planted worker's
    gaps are resampled from the template's gaps (compressed to fit when the result would be
    longer than the project), its start from the project's label times, shifted back if it
    would end after the project's last label.
    """
    ok = np.isfinite(times)
    tw, tt = worker[ok], times[ok]
    counts = np.bincount(tw)
    cands = np.flatnonzero(counts >= 2)
    tmpl = rng.choice(cands) if cands.size else None
    if tmpl is None:
        gaps = np.full(max(n - 1, 0), 30.0)
    else:
        own = np.sort(tt[tw == tmpl])
        g = np.diff(own)
        g = g[g > 0] if (g > 0).any() else np.array([30.0])
        gaps = rng.choice(g, max(n - 1, 0))
    rel = np.concatenate([[0.0], np.cumsum(gaps)])
    if tt.size:
        lo, hi = float(tt.min()), float(tt.max())
        if rel[-1] > hi - lo > 0:              # longer than the project: compress into its span
            rel *= (hi - lo) / rel[-1]
        start = float(np.clip(rng.choice(tt), lo, hi - rel[-1]))
    else:
        start = SYNTH_T0
    out_d = None
    if durations is not None:
        dd = durations[np.isfinite(durations)]
        if tmpl is not None:
            own_d = durations[worker == tmpl]
            own_d = own_d[np.isfinite(own_d)]
            dd = own_d if own_d.size else dd
        out_d = rng.choice(dd, n) if dd.size else np.full(n, np.nan)
    return start + rel, out_d


def burst_times(n: int, start: float, base_gap_s: float, rate_factor: float,
                rng: np.random.Generator) -> np.ndarray:
    """One burst: ``n`` labels at ``rate_factor`` times the usual rate (gaps base/k, jittered ±20%)."""
    gaps = (base_gap_s / max(rate_factor, 1e-9)) * rng.uniform(0.8, 1.2, max(n - 1, 0))
    return start + np.concatenate([[0.0], np.cumsum(gaps)])
