"""Alert rules: when a period's quality numbers say that something changed.

Every rule compares one period with the project's own recent history, the pooled
``baseline_periods`` periods with data before it (only periods with at least
``min_period_labels`` labels count, and a period is tested only once ``min_history`` such
periods precede it), so a crowd is judged against itself rather than against a fixed
number tuned to one dataset (DESIGN.md, "Every alarm is calibrated against the crowd it came
from"). A rule fires when an effect-size threshold *and* a significance test agree; each test
runs at level ``p_value`` (0.001: a project watched weekly for a year tests a few hundred
period-rule pairs, so a false alarm every few years per project). Rules that read an analysis
run (``RUN_RULES``) use the verdicts and consensus of the first run that covers the period; the
new- and turned-accounts rules (``AGREEMENT_RULES``) also run right after an ingest, against the
leave-one-out plurality of each item's other answers (no run needed), and again with the run.

=================  ========================================================================
rule               fires when
=================  ========================================================================
gold_accuracy      the period's labels on gold items are right less often than the floor
                   1/K + ``gold_floor_margin`` (Wilson upper bound below it), or less often
                   than in the baseline by ``gold_drop`` or more (one-sided z-test with the
                   worker-cluster variance)
suspect_share      the share of the period's labels written by workers the run marks suspect
                   reaches ``suspect_share_max`` or the baseline's share plus
                   ``suspect_share_rise``, whichever is lower, while the share of suspect
                   workers among the period's active workers is significantly above the
                   baseline rate (binomial test; the worker, not the label, is the unit, so
                   one busy worker cannot trip it, and a crowd whose detectors flag many
                   workers all along is compared with itself)
new_accounts       at least ``new_accounts_min`` new accounts whose labels agree with the
                   consensus less often than the established workers' labels of the same
                   period by ``new_accounts_quality_gap`` (cluster-robust z-test) while they
                   come in a burst (``new_accounts_factor`` times the baseline's mean per
                   period), or by twice that gap at a hundredth of the test level without
                   a burst (a few poor accounts in a quiet week)
turned_accounts    at least ``turned_min`` established workers (``turned_history_labels``
                   labels before the period, ``turned_period_labels`` in it) whose labels of
                   the period agree with the consensus less often than their own earlier
                   labels did (Fisher's exact one-sided test, Benjamini-Hochberg at
                   ``turned_fdr`` over the period's established workers) by
                   ``turned_min_drop`` more than the crowd's own drop, and ``turned_factor``
                   times as many as the baseline periods had (accounts taken over or turned)
label_drift        the period's label distribution moved from the baseline's by a total
                   variation distance of ``drift_min_tv`` or more (Pearson chi-square test),
                   beyond what the items explain: the same shift of the run's consensus
                   labels of those items is subtracted when a run covers the period
collusion          the run finds a suspect community of at least ``community_min_size``
                   workers, most of whose labels fall in the period
=================  ========================================================================

:func:`evaluate` returns one row per (period, rule) that fired, with the numbers, the
threshold and a sentence; :func:`thresholds` the per-period threshold lines the Monitoring
charts draw. Sources: Wilson (1927) for the interval; Agresti, *Categorical Data Analysis*
(2013) §1.4 and §3.1 for the proportion and chi-square tests; Kish, *Survey Sampling* (1965)
§6.4 for the variance of a share whose answers come in worker clusters, which the gold and
new-account tests use (labels of one worker are not independent).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd
from scipy import stats

from analytics.errors import UserError
from analytics.monitor.series import chi2_shift, count_matrix

RULES: tuple[str, ...] = ("gold_accuracy", "suspect_share", "new_accounts", "turned_accounts", "label_drift",
                          "collusion")
RUN_RULES: frozenset[str] = frozenset({"suspect_share", "new_accounts", "turned_accounts", "label_drift", "collusion"})
AGREEMENT_RULES: frozenset[str] = frozenset({"new_accounts", "turned_accounts"})
RULE_TITLES = {
    "gold_accuracy": "Gold accuracy fell",
    "suspect_share": "More labels from suspect workers",
    "new_accounts": "Burst of poor new accounts",
    "turned_accounts": "Established accounts turned bad",
    "label_drift": "Label distribution shifted",
    "collusion": "Collusion community appeared",
}


@dataclass
class AlertSettings:
    """Alert rules and their thresholds (per project; editable on the Settings page)."""

    enabled_rules: list[str] = field(default_factory=lambda: list(RULES))
    """Rules that are evaluated; the others are off."""
    baseline_periods: int = 4
    """Periods with data before the tested one that form its baseline ("the trailing four weeks")."""
    min_history: int = 2
    """Baseline periods a period needs before any rule may fire on it (the first weeks build the history)."""
    min_period_labels: int = 50
    """Labels a period needs to be tested or to count in a baseline."""
    p_value: float = 0.001
    """Significance level of every rule's test."""
    gold_min_labels: int = 30
    """Labels on gold items a period (and its baseline) needs for the gold rule."""
    gold_floor_margin: float = 0.1
    """Gold accuracy floor X = 1/K + this margin; fires when the period's 95% Wilson upper bound is below X."""
    gold_drop: float = 0.1
    """Drop Y of gold accuracy against the baseline that fires the gold rule (with the test)."""
    suspect_share_max: float = 0.35
    """Share Z of a period's labels from suspect workers above which the rule needs no rise over the
    baseline (the worker-level test must still be significant)."""
    suspect_share_rise: float = 0.05
    """Rise of the suspect label share over the baseline that fires with a significant worker-level test."""
    new_accounts_min: int = 5
    """Fewest new accounts in a period that can make a burst."""
    new_accounts_factor: float = 2.0
    """New accounts per period, as a multiple of the baseline's mean, that make a burst."""
    new_accounts_quality_gap: float = 0.1
    """How much less often new accounts' labels agree with the consensus than established workers'."""
    turned_min: int = 3
    """Fewest established accounts whose agreement dropped against their own history that raise an alert."""
    turned_factor: float = 3.0
    """Such accounts per period, as a multiple of the baseline periods' mean, that raise an alert."""
    turned_history_labels: int = 10
    """Labels a worker needs before the period to be judged against their own history."""
    turned_period_labels: int = 10
    """Labels a worker needs in the period to be judged against their own history."""
    turned_min_drop: float = 0.2
    """Fall in a worker's agreement, beyond the fall of all established workers that period, that counts."""
    turned_fdr: float = 0.05
    """Benjamini-Hochberg level of the per-worker tests of the turned-accounts rule."""
    drift_min_tv: float = 0.15
    """Total-variation distance between the period's and the baseline's label distributions that fires
    (after subtracting the shift of the consensus labels of the same items)."""
    community_min_size: int = 3
    """Fewest members of a suspect collusion community that raise an alert."""
    max_workers: int = 200
    """Most workers an alert names (the rest are counted)."""
    pager_file: str = ""
    """JSON-lines file every new alert and acknowledgement is appended to; empty = <workspace>/alerts.jsonl."""

    def __post_init__(self) -> None:
        bad = sorted(set(self.enabled_rules) - set(RULES))
        if bad:
            raise UserError(f"unknown alert rule(s) {', '.join(bad)}; the rules are {', '.join(RULES)}")
        checks = [("baseline_periods", self.baseline_periods >= 1), ("min_history", self.min_history >= 1),
                  ("min_period_labels", self.min_period_labels >= 1), ("p_value", 0 < self.p_value < 1),
                  ("gold_min_labels", self.gold_min_labels >= 1), ("gold_floor_margin", 0 <= self.gold_floor_margin < 1),
                  ("gold_drop", 0 < self.gold_drop < 1), ("suspect_share_max", 0 < self.suspect_share_max <= 1),
                  ("suspect_share_rise", 0 <= self.suspect_share_rise < 1), ("new_accounts_min", self.new_accounts_min >= 1),
                  ("new_accounts_factor", self.new_accounts_factor >= 1),
                  ("new_accounts_quality_gap", 0 <= self.new_accounts_quality_gap < 1),
                  ("turned_min", self.turned_min >= 1), ("turned_factor", self.turned_factor >= 1),
                  ("turned_history_labels", self.turned_history_labels >= 1), ("turned_fdr", 0 < self.turned_fdr < 1),
                  ("turned_period_labels", self.turned_period_labels >= 1),
                  ("turned_min_drop", 0 <= self.turned_min_drop < 1),
                  ("drift_min_tv", 0 < self.drift_min_tv <= 1), ("community_min_size", self.community_min_size >= 2),
                  ("max_workers", self.max_workers >= 1)]
        for name, ok in checks:
            if not ok:
                raise UserError(f"alert setting {name} = {getattr(self, name)!r} is out of range; see its description")
        if self.min_history > self.baseline_periods:
            raise UserError("min_history cannot exceed baseline_periods: the history is taken from the baseline")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> AlertSettings:
        if not d:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"unknown alert setting(s): {', '.join(unknown)}")
        try:
            return cls(**d)
        except TypeError as exc:
            raise UserError(f"alert settings: {exc}") from None


# -- baselines ---------------------------------------------------------------------------------

def baseline_sums(series: pd.DataFrame, cols: list[str], settings: AlertSettings) -> pd.DataFrame:
    """For every period, the sums of ``cols`` over its baseline, and ``history`` = how many
    qualifying periods it has (capped at ``baseline_periods``)."""
    ok = (series["labels"] >= settings.min_period_labels).to_numpy()
    n = settings.baseline_periods
    q_before = np.concatenate([[0], np.cumsum(ok)[:-1]])          # qualifying periods strictly before
    lo = np.maximum(q_before - n, 0)
    out = pd.DataFrame({"history": q_before - lo}, index=series.index)
    for c in cols:
        vals = series[c].fillna(0).to_numpy(dtype=float)
        cs = np.concatenate([[0.0], np.cumsum(np.where(ok, vals, 0.0)[ok])])
        out[c] = cs[q_before] - cs[lo]
    out["testable"] = ok & (out["history"].to_numpy() >= settings.min_history)
    return out


def _baseline_rows(series: pd.DataFrame, i: int, settings: AlertSettings) -> list[int]:
    ok = np.flatnonzero((series["labels"] >= settings.min_period_labels).to_numpy()[:i])
    return ok[-settings.baseline_periods:].tolist()


def cluster_var(k, n, kk, kn, nn, m) -> float:
    """Variance of the share k/n when the answers come in m worker clusters, from the sums over
    workers of k_w^2, k_w n_w and n_w^2 (the linearised variance of a ratio estimator, Kish,
    *Survey Sampling*, 1965, §6.4): m/(m-1) * sum_w (k_w - p n_w)^2 / n^2. Labels of one worker are
    not independent; treating them as such makes a busy worker's off day look like a shift."""
    if not n or not m or m < 2:
        return float("nan")
    p = k / n
    return float(m / (m - 1) * max(kk - 2 * p * kn + p * p * nn, 0.0) / (n * n))


def _cluster_p(a: tuple, b: tuple) -> float:
    """One-sided p-value that share a = (k, n, kk, kn, nn, m) is below share b (cluster-robust z-test)."""
    va, vb = cluster_var(*a), cluster_var(*b)
    se = np.sqrt(va + vb)
    if not np.isfinite(se) or se == 0:
        return 1.0
    return float(stats.norm.cdf((a[0] / a[1] - b[0] / b[1]) / se))


def _clusters(row, prefix: str, k: str, n: str) -> tuple:
    """(k, n, kk, kn, nn, m) of a row; labels as their own clusters when the sums are absent."""
    kv, nv = float(row[k]), float(row[n])
    if f"{prefix}_m" in row.index and pd.notna(row[f"{prefix}_m"]):
        return (kv, nv, float(row[f"{prefix}_kk"]), float(row[f"{prefix}_kn"]), float(row[f"{prefix}_nn"]),
                float(row[f"{prefix}_m"]))
    return (kv, nv, kv, kv, nv, nv)


def _severity(p: float, effect: float, threshold: float, settings: AlertSettings) -> str:
    return "critical" if (p < settings.p_value / 100 or effect >= 2 * threshold) else "warning"


# -- the rules ---------------------------------------------------------------------------------

def _gold(series: pd.DataFrame, n_classes: int, s: AlertSettings) -> list[dict]:
    cl = [c for c in ("gold_kk", "gold_kn", "gold_nn", "gold_m") if c in series.columns]
    base = baseline_sums(series, ["gold_n", "gold_correct", *cl], s)
    floor = 1.0 / max(n_classes, 2) + s.gold_floor_margin
    out = []
    for i in np.flatnonzero(base["testable"].to_numpy() & (series["gold_n"] >= s.gold_min_labels).to_numpy()):
        r, b = series.iloc[i], base.iloc[i]
        acc = r["gold_accuracy"]
        b_acc = b["gold_correct"] / b["gold_n"] if b["gold_n"] >= s.gold_min_labels else np.nan
        now, before = _clusters(r, "gold", "gold_correct", "gold_n"), _clusters(b, "gold", "gold_correct", "gold_n")
        p_drop = _cluster_p(now, before) if b["gold_n"] > 0 else 1.0
        upper = max(r["gold_hi"], acc + 1.959964 * np.sqrt(np.nan_to_num(cluster_var(*now))))
        below = upper < floor
        dropped = np.isfinite(b_acc) and b_acc - acc >= s.gold_drop and p_drop < s.p_value
        if not (below or dropped):
            continue
        why = (f"gold accuracy {acc:.1%} (95% interval {r['gold_lo']:.1%}-{r['gold_hi']:.1%}) on {int(r['gold_n'])} "
               f"gold labels")
        if dropped:
            why += f", down from {b_acc:.1%} in the {int(b['history'])} periods before (p={p_drop:.1g})"
        if below:
            why += f", below the floor of {floor:.1%}"
        out.append({"i": i, "rule": "gold_accuracy", "value": float(acc),
                    "threshold": float(b_acc - s.gold_drop) if dropped else floor, "p": p_drop if dropped else 0.0,
                    "severity": "critical" if below else _severity(p_drop, b_acc - acc, s.gold_drop, s),
                    "message": why, "evidence": {"gold_labels": int(r["gold_n"]), "gold_correct": int(r["gold_correct"]),
                                                 "baseline_accuracy": None if not np.isfinite(b_acc) else float(b_acc),
                                                 "baseline_gold_labels": int(b["gold_n"]), "floor": floor,
                                                 "interval": [float(r["gold_lo"]), float(r["gold_hi"])]}})
    return out


def _suspects(series: pd.DataFrame, covered: np.ndarray, s: AlertSettings) -> list[dict]:
    base = baseline_sums(series, ["suspect_labels", "labels", "suspect_workers", "workers"], s)
    out = []
    for i in np.flatnonzero(base["testable"].to_numpy() & covered):
        r, b = series.iloc[i], base.iloc[i]
        share = r["suspect_labels"] / r["labels"]
        b_share = b["suspect_labels"] / b["labels"] if b["labels"] else 0.0
        rate0 = (b["suspect_workers"] + 0.5) / (b["workers"] + 1.0)          # Jeffreys-style, never 0
        k, n = int(r["suspect_workers"]), int(r["workers"])
        p = float(stats.binom.sf(k - 1, n, rate0)) if k > 0 else 1.0
        line = min(s.suspect_share_max, b_share + s.suspect_share_rise)
        if share < line or p >= s.p_value:
            continue
        msg = (f"{share:.1%} of the period's {int(r['labels']):,} labels come from {k} suspect workers "
               f"({k} of {n} active workers), against {b_share:.1%} of labels and {rate0:.1%} of workers "
               f"in the {int(b['history'])} periods before (p={p:.1g})")
        out.append({"i": i, "rule": "suspect_share", "value": float(share), "threshold": float(line), "p": p,
                    "severity": _severity(p, share - b_share, s.suspect_share_rise, s),
                    "message": msg, "evidence": {"suspect_labels": int(r["suspect_labels"]), "labels": int(r["labels"]),
                                                 "suspect_workers": k, "active_workers": n,
                                                 "baseline_share": float(b_share), "baseline_worker_rate": float(rate0)}})
    return out


def _new_accounts(series: pd.DataFrame, covered: np.ndarray, s: AlertSettings, pre: str = "",
                  consensus: str = "the analysis run's consensus") -> list[dict]:
    """The new-accounts rule on the agreement columns with prefix ``pre`` (``mv_``: the
    leave-one-out plurality; none: the run's consensus)."""
    col = {c: pre + c for c in ("agree", "judged", "agree_new", "judged_new")}
    base = baseline_sums(series, ["new_workers", col["agree_new"], col["judged_new"]], s)
    out = []
    for i in np.flatnonzero(base["testable"].to_numpy() & covered):
        r, b = series.iloc[i], base.iloc[i]
        mean_new = b["new_workers"] / max(b["history"], 1)
        need = max(s.new_accounts_min, s.new_accounts_factor * mean_new)
        k_new, n_new = float(r[col["agree_new"]] or 0), float(r[col["judged_new"]] or 0)
        old_k, old_n = float(r[col["agree"]] or 0) - k_new, float(r[col["judged"]] or 0) - n_new
        if r["new_workers"] < s.new_accounts_min or old_n < s.min_period_labels or n_new < s.min_period_labels:
            continue
        new_rate, old_rate = k_new / n_new, old_k / old_n
        row = pd.concat([r, pd.Series({"_ka": k_new, "_na": n_new, "_kb": old_k, "_nb": old_n})])
        p = _cluster_p(_clusters(row, pre + "new", "_ka", "_na"), _clusters(row, pre + "old", "_kb", "_nb"))
        gap = old_rate - new_rate
        burst = r["new_workers"] >= need
        # a burst with a poor start, or (without a burst) a start twice as poor, far beyond chance
        if not ((burst and gap >= s.new_accounts_quality_gap and p < s.p_value)
                or (gap >= 2 * s.new_accounts_quality_gap and p < s.p_value / 100)):
            continue
        msg = (f"{int(r['new_workers'])} new accounts ({mean_new:.1f} per period before); their labels agree with "
               f"{consensus} {new_rate:.1%} of the time against {old_rate:.1%} for established workers (p={p:.1g})")
        b_new = b[col["judged_new"]]
        out.append({"i": i, "rule": "new_accounts", "value": float(r["new_workers"]), "threshold": float(need), "p": p,
                    "severity": _severity(p, old_rate - new_rate, s.new_accounts_quality_gap, s), "message": msg,
                    "evidence": {"new_accounts": int(r["new_workers"]), "baseline_mean": float(mean_new),
                                 "new_agreement": float(new_rate), "established_agreement": float(old_rate),
                                 "baseline_new_agreement": (float(b[col["agree_new"]] / b_new)
                                                            if b_new >= s.min_period_labels else None),
                                 "new_labels": int(n_new), "consensus": consensus}})
    return out


def bh_select(p: np.ndarray, q: float) -> np.ndarray:
    """Benjamini-Hochberg (1995) at level ``q``: which of the p-values are discoveries."""
    p = np.asarray(p, float)
    if p.size == 0:
        return np.zeros(0, bool)
    order = np.argsort(p)
    passed = np.flatnonzero(p[order] <= q * np.arange(1, p.size + 1) / p.size)
    keep = np.zeros(p.size, bool)
    if passed.size:
        keep[order[: passed[-1] + 1]] = True
    return keep


def turned_workers(wpa: pd.DataFrame, s: AlertSettings) -> pd.DataFrame:
    """Per (period, worker) with enough history: ``n, k, n_hist, k_hist, drop, p_value, turned``.

    ``p_value``: Fisher's exact one-sided test that the worker agrees less often in the period
    than before it (hypergeometric lower tail of the period's agreements given both margins, so
    the uncertainty of a short history counts too); ``drop``: the worker's fall in agreement
    minus the fall of all established workers in the same period (a hard week lowers everyone);
    ``turned``: Benjamini-Hochberg at ``turned_fdr`` within the period, and ``drop`` at least
    ``turned_min_drop``.
    """
    cols = ["period", "worker", "n", "k", "n_hist", "k_hist", "drop", "p_value", "turned"]
    if wpa is None or wpa.empty:
        return pd.DataFrame(columns=cols)
    d = wpa.sort_values(["worker", "period"]).reset_index(drop=True)
    g = d.groupby("worker")
    d["n_hist"] = g["n"].cumsum() - d["n"]
    d["k_hist"] = g["k"].cumsum() - d["k"]
    d = d[(d["n_hist"] >= s.turned_history_labels) & (d["n"] >= s.turned_period_labels)].copy()
    if d.empty:
        return pd.DataFrame(columns=cols)
    crowd = d.groupby("period")[["k", "n", "k_hist", "n_hist"]].transform("sum")
    crowd_drop = crowd["k_hist"] / crowd["n_hist"] - crowd["k"] / crowd["n"]
    d["drop"] = (d["k_hist"] / d["n_hist"] - d["k"] / d["n"]) - crowd_drop
    d["p_value"] = stats.hypergeom.cdf(d["k"], d["n"] + d["n_hist"], d["k"] + d["k_hist"], d["n"])
    d["turned"] = False
    for _, idx in d.groupby("period").groups.items():
        d.loc[idx, "turned"] = bh_select(d.loc[idx, "p_value"].to_numpy(), s.turned_fdr)
    d["turned"] = d["turned"] & (d["drop"] >= s.turned_min_drop)
    return d[cols].reset_index(drop=True)


def _turned(series: pd.DataFrame, turned: pd.DataFrame | None, covered: np.ndarray, s: AlertSettings) -> list[dict]:
    if turned is None or turned.empty:
        return []
    counts = turned.groupby("period")["turned"].sum().reindex(series["period"]).fillna(0).to_numpy()
    base = baseline_sums(series.assign(_turned=counts), ["_turned"], s)
    out = []
    for i in np.flatnonzero(base["testable"].to_numpy() & covered):
        n_t, b = int(counts[i]), base.iloc[i]
        mean_b = b["_turned"] / max(b["history"], 1)
        need = max(s.turned_min, s.turned_factor * mean_b)
        if n_t < need:
            continue
        rows = turned[(turned["period"] == series["period"].iloc[i]) & turned["turned"]]
        before = rows["k_hist"].sum() / rows["n_hist"].sum()
        now = rows["k"].sum() / rows["n"].sum()
        msg = (f"{n_t} established workers agree with the consensus far less often than they used to "
               f"({now:.1%} of their labels this period against {before:.1%} before; {mean_b:.1f} such workers per "
               f"period in the baseline)")
        out.append({"i": i, "rule": "turned_accounts", "value": float(n_t), "threshold": float(need),
                    "p": float(rows["p_value"].max()), "severity": "critical" if n_t >= 2 * need else "warning",
                    "message": msg, "evidence": {"turned_workers": rows["worker"].astype(str).tolist(),
                                                 "agreement_now": float(now), "agreement_before": float(before),
                                                 "baseline_mean": float(mean_b), "fdr": s.turned_fdr}})
    return out


def _drift(series: pd.DataFrame, counts: pd.DataFrame, consensus_counts: pd.DataFrame | None,
           s: AlertSettings) -> list[dict]:
    periods = series["period"].tolist()
    mat, classes = count_matrix(counts, periods)
    cmat = count_matrix(consensus_counts, periods, classes)[0] \
        if consensus_counts is not None and len(consensus_counts) else None
    ok = (series["labels"] >= s.min_period_labels).to_numpy()
    out = []
    for i in range(len(series)):
        rows = _baseline_rows(series, i, s)
        if not ok[i] or len(rows) < s.min_history:
            continue
        b = mat[rows].sum(axis=0)
        tv, p = chi2_shift(mat[i], b)
        if not np.isfinite(tv) or tv < s.drift_min_tv or p >= s.p_value:
            continue
        explained = 0.0
        if cmat is not None and cmat[i].sum() > 0 and cmat[rows].sum() > 0:
            explained = chi2_shift(cmat[i], cmat[rows].sum(axis=0))[0]
            explained = 0.0 if not np.isfinite(explained) else explained
        excess = tv - explained
        if excess < s.drift_min_tv:
            continue
        now, before = mat[i] / mat[i].sum(), b / b.sum()
        up = int(np.argmax(now - before))
        msg = (f"label distribution moved by {tv:.2f} (total variation) from the {len(rows)} periods before "
               f"(p={p:.1g}); '{classes[up]}' went from {before[up]:.1%} to {now[up]:.1%} of labels"
               + (f"; the items' consensus moved by {explained:.2f} only" if cmat is not None else ""))
        out.append({"i": i, "rule": "label_drift", "value": float(excess), "threshold": s.drift_min_tv, "p": p,
                    "severity": _severity(p, excess, s.drift_min_tv, s), "message": msg,
                    "evidence": {"tv": tv, "consensus_tv": explained, "classes": classes,
                                 "period_share": now.round(4).tolist(), "baseline_share": before.round(4).tolist(),
                                 "rising_class": classes[up]}})
    return out


def _collusion(series: pd.DataFrame, communities: pd.DataFrame | None, covered: np.ndarray,
               s: AlertSettings) -> list[dict]:
    if communities is None or communities.empty:
        return []
    base = baseline_sums(series, [], s)
    by_period: dict[int, list[dict]] = {}
    pos = {p: i for i, p in enumerate(series["period"].tolist())}
    for c in communities.itertuples(index=False):
        i = pos.get(c.period)
        if i is None or not covered[i] or not base["testable"].iloc[i] or len(c.members) < s.community_min_size:
            continue
        by_period.setdefault(i, []).append({"community": int(c.community), "members": list(c.members),
                                            "score": float(c.score), "reasons": c.reasons,
                                            "share_in_period": float(c.share_in_period)})
    out = []
    for i, comms in by_period.items():
        size = sum(len(c["members"]) for c in comms)
        msg = (f"{len(comms)} suspect collusion communit{'y' if len(comms) == 1 else 'ies'} of {size} workers, "
               f"most of whose labels fall in this period: " + "; ".join(c["reasons"] or "" for c in comms[:3]))
        out.append({"i": i, "rule": "collusion", "value": float(size), "threshold": float(s.community_min_size),
                    "p": 0.0, "severity": "critical" if size >= 2 * s.community_min_size else "warning",
                    "message": msg, "evidence": {"communities": comms}})
    return out


def evaluate(series: pd.DataFrame, counts: pd.DataFrame, settings: AlertSettings, n_classes: int,
             covered: np.ndarray | None = None, consensus_counts: pd.DataFrame | None = None,
             communities: pd.DataFrame | None = None, rules=None,
             worker_agreement: pd.DataFrame | None = None, agreement: str = "run") -> pd.DataFrame:
    """Fired rules per period: ``period, rule, value, threshold, p, severity, message, evidence``.

    ``series`` is :func:`analytics.monitor.series.quality_series` (with run columns for the run
    rules), ``counts`` its :func:`label_counts`; ``covered`` marks periods whose labels the run
    saw (run rules are tested there only); ``consensus_counts`` the run's consensus labels per
    period and class; ``communities`` the run's suspect communities with the period most of
    their labels fall in (``period``, ``share_in_period``); ``worker_agreement`` the run's
    per-(period, worker) agreement (:func:`analytics.monitor.evidence.worker_period_agreement`).
    ``rules`` limits the rules tested. ``agreement`` = ``"mv"`` tests the new- and turned-accounts
    rules against the leave-one-out plurality (the ``mv_`` columns; no run needed, so they can run
    right after an ingest) instead of the run's consensus.
    """
    wanted = [r for r in (rules or RULES) if r in settings.enabled_rules]
    has_run = "suspect_labels" in series.columns
    cov = np.ones(len(series), bool) if covered is None else np.asarray(covered, bool)
    found: list[dict] = []
    if "gold_accuracy" in wanted and series["gold_n"].sum() > 0:
        found += _gold(series, n_classes, settings)
    if has_run and "suspect_share" in wanted:
        found += _suspects(series, cov, settings)
    mv = agreement == "mv"
    if (has_run or mv) and "new_accounts" in wanted and ("mv_judged" in series.columns or not mv):
        found += (_new_accounts(series, cov, settings, "mv_", "the other answers on the same items") if mv
                  else _new_accounts(series, cov, settings))
    if (has_run or mv) and "turned_accounts" in wanted:
        found += _turned(series, turned_workers(worker_agreement, settings), cov, settings)
    if has_run and "label_drift" in wanted:
        found += _drift(series, counts, consensus_counts, settings)
    if has_run and "collusion" in wanted:
        found += _collusion(series, communities, cov, settings)
    cols = ["period", "rule", "value", "threshold", "p", "severity", "message", "evidence"]
    if not found:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(found)
    df["period"] = series["period"].to_numpy()[df["i"].to_numpy()]
    return df[cols].sort_values(["period", "rule"]).reset_index(drop=True)


def thresholds(series: pd.DataFrame, settings: AlertSettings, n_classes: int) -> pd.DataFrame:
    """Per period, the value each rule's effect size must reach: the lines the charts draw.

    ``gold_drop_line`` (baseline accuracy - Y), ``gold_floor``, ``suspect_share_line``
    (min(Z, baseline share + rise)), ``new_accounts_line``; NaN where the period has no
    baseline yet.
    """
    cols = ["gold_n", "gold_correct", "new_workers"] + (["suspect_labels", "labels"] if "suspect_labels" in series else [])
    base = baseline_sums(series, list(dict.fromkeys(cols)), settings)
    hist = base["history"] >= settings.min_history
    out = pd.DataFrame({"period": series["period"]})
    with np.errstate(invalid="ignore", divide="ignore"):
        gold_base = base["gold_correct"] / base["gold_n"].where(base["gold_n"] >= settings.gold_min_labels)
        out["gold_drop_line"] = (gold_base - settings.gold_drop).where(hist)
        out["gold_floor"] = 1.0 / max(n_classes, 2) + settings.gold_floor_margin
        if "suspect_labels" in series:
            share = base["suspect_labels"] / base["labels"].where(base["labels"] > 0)
            out["suspect_share_line"] = np.minimum(settings.suspect_share_max,
                                                   share + settings.suspect_share_rise).where(hist)
        mean_new = base["new_workers"] / base["history"].where(base["history"] > 0)
        out["new_accounts_line"] = np.maximum(settings.new_accounts_min,
                                              settings.new_accounts_factor * mean_new).where(hist)
    return out


def drift_table(series: pd.DataFrame, counts: pd.DataFrame, settings: AlertSettings,
                consensus_counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per period: ``drift_tv`` (labels against the baseline), ``consensus_tv`` (the items'
    consensus labels against theirs), ``drift_excess`` (the difference the rule tests) and
    ``drift_p`` (chi-square); NaN without a baseline."""
    periods = series["period"].tolist()
    mat, classes = count_matrix(counts, periods)
    cmat = count_matrix(consensus_counts, periods, classes)[0] \
        if consensus_counts is not None and len(consensus_counts) else None
    rows = []
    for i in range(len(series)):
        base = _baseline_rows(series, i, settings)
        tv = p = ctv = np.nan
        if len(base) >= settings.min_history:
            tv, p = chi2_shift(mat[i], mat[base].sum(axis=0))
            if cmat is not None:
                ctv = chi2_shift(cmat[i], cmat[base].sum(axis=0))[0]
        rows.append((tv, ctv, p))
    out = pd.DataFrame(rows, columns=["drift_tv", "consensus_tv", "drift_p"])
    out.insert(0, "period", periods)
    out["drift_excess"] = out["drift_tv"] - out["consensus_tv"].fillna(0.0)
    return out
