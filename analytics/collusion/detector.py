"""CollusionDetector: co-errors, excess agreement, co-timing and worker communities (§3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.collusion.cotiming import cotiming
from analytics.collusion.graph import evidence_graph, louvain, score_communities
from analytics.collusion.pairs import aggregate_pairs, enumerate_pairs, pair_row_stats
from analytics.collusion.reference import build_reference, conditional_moments, predictive
from analytics.collusion.tails import quasi_poisson_tail
from analytics.consensus import Consensus
from analytics.errors import UserError
from analytics.evidence import empty_signals, make_signals

PAIR_COLUMNS = ["worker_a", "worker_b", "n_shared", "co_errors", "expected_co_errors", "coerror_p",
                "agree", "expected_agree", "agree_z", "cotimed", "cotiming_p", "weight"]

SCORE_COLUMNS = ["coerror_observed", "coerror_expected", "coerror_items", "coerror_expected_items",
                 "coerror_ratio", "coerror_strength", "coerror_partners", "excess_agreement_z", "cotiming_observed", "cotiming_expected",
                 "cotiming_strength", "community_id", "community_size", "community_score", "collusion_score"]


@dataclass
class CollusionDetector:
    r"""Collusion and sybil evidence per worker, per pair and per community.

    Every test asks whether a worker's answers depend on other workers' answers beyond what
    the aggregation model (Dawid & Skene 1979: workers independent given the true class, with
    confusion matrices A_w) allows. The reference answer and the independence null come from
    :mod:`analytics.collusion.reference` (Dirichlet-shrunk matrices, §1.6). Because honest
    errors cluster on hard items, which the model ignores, every null is then calibrated on
    the data itself (empirical null, Efron 2004, JASA 99:96-104), only ever in the
    conservative direction: the typical observed/expected ratio across workers, pairs or
    communities (at least 1) scales the null mean.

    Per worker w (signals; p-values to be combined across workers with Benjamini-Hochberg by
    the trust verdict):

    * ``coerror`` - given everyone else's labels, w's answer on item i scores
      g_i(y) = #{others answering y} * 1[y != c^_i], where c^_i is the leave-w-out reference
      answer. Under the null y ~ pi_i(k) = sum_c p^{-w}_ic A_w[c,k]; mean and variance of g are
      exact per item, items are independent, and the total is tested with a quasi-Poisson tail.
      This pools a worker's co-errors into one test: pairwise tests on ~5 shared items have
      no power (§3.1 trap).
    * ``excess_agreement`` - the same with g_i(y) = #{others answering y}, as an empirical-null
      z (§3.2). Descriptive: no p-value and, by default, never ``fired`` (see
      ``agreement_z_fired``).
    * ``cotiming`` - answers within ``cotiming_window_s`` of another worker's answer to the
      same item, against a circular-shift permutation null (:mod:`analytics.collusion.cotiming`, §3.3).
    * ``community`` - membership of the *core* of a Louvain community of the evidence graph
      whose members answer alike against the rest of the crowd (leave-community-out test,
      :mod:`analytics.collusion.graph`, §3.4); this is what catches groups and sybil swarms
      that out-vote the crowd on their own items. Gatekeeping: a core member whose own test
      is nominally significant (p < ``member_alpha``) and who sides with the group against
      the outsiders on at least ``min_outsider_disagreement`` of the items it shares with the
      group is reported with the community's p-value, any other member with the larger of
      the two (the community was found on the same data).

    Per pair (``pairs_``): co-error count against the leave-pair-out reference (the
    e_a e_b r_i null of §3.1, model-based, empirical-null scaled, quasi-Poisson tail), excess
    agreement z, co-timed answers and their permutation p-value, and ``weight`` = sum of
    -ln p over the tests with p < ``edge_alpha``. Pairs are enumerated within items,
    O(sum_i |W_i|^2), at most ``max_workers_per_item`` labels per item; only pairs with
    weight > 0 are kept.

    ``scores_["collusion_score"]`` = the strongest per-worker signal in -log10 p units, for
    ranking (not a p-value).

    Sources: detection-methods.md §3; Dawid & Skene (1979) Applied Statistics 28(1):20-28;
    KhudaBukhsh, Carbonell & Jansen, HCOMP 2014 (copy-with-noise colluders); Wollack (2003)
    (answer-copying indices); Wang, Wang & Miao, KDD 2020 (sybil swarms sharing one answer);
    Blondel et al. 2008 (Louvain); Efron 2004 (empirical null); Hoeffding 1956.

    Example
    -------
    >>> from analytics.aggregate import aggregate
    >>> from analytics.examples import names, tiny_crowd
    >>> data = tiny_crowd()          # 60 items, 24 honest workers and 8 planted ones (analytics.examples)
    >>> det = CollusionDetector(seed=0).fit(data, aggregate(data, "ds"))
    >>> names(data, det.signals_.query("fired"))
    ['ring_1', 'ring_2', 'ring_3']
    >>> det.signals_.query("fired")["signal"].unique().tolist()
    ['community']
    >>> print(det.communities_.query("suspect")["reasons"].iloc[0])      # doctest: +ELLIPSIS
    4 accounts answer alike against the rest of the crowd: ...

    Attributes (fitted)
    -------------------
    pairs_ : DataFrame with :data:`PAIR_COLUMNS` (worker codes), pairs with evidence only
    communities_ : DataFrame(community, members, core, size, density, mean_weight,
        coerror_strength, majority_vs_outsiders_disagreement, cotiming, p_value, score,
        suspect, reasons); communities of at least ``min_community_size`` members
    scores_ : per-worker DataFrame with :data:`SCORE_COLUMNS`, indexed by worker code
    signals_ : evidence.py signals frame (``coerror``, ``excess_agreement``, ``cotiming``, ``community``)
    calibration_ : dict of the empirical-null factors used
    reference_ : the :class:`~analytics.collusion.reference.Reference` arrays
    """

    reference_prior_labels: float = 2.0
    """Pseudo-labels pulling each worker's reference matrix towards an uninformative vote."""
    null_prior_labels: float = 20.0
    """Pseudo-labels shrinking each worker's null matrix towards the pooled matrix (§1.6)."""
    max_workers_per_item: int = 40
    """Items with more labels contribute a seeded random subset of this many to pair enumeration."""
    edge_alpha: float = 0.05
    """A pairwise test adds -log p to the edge weight when p is below this."""
    signal_alpha: float = 0.001
    """A worker signal is marked ``fired`` when its p-value is below this (BH is applied later); a
    community member's signal also fires when its community is suspect (``community_alpha``)."""
    agreement_z_fired: float = float("inf")
    """Excess agreement is marked ``fired`` at this empirical-null z. It carries no p-value, and the
    trust verdict counts a fired signal without a p-value, so by default it never fires: on
    zheng_product gold-honest workers reach an empirical-null z above 5 (teams that agree beyond
    any independence model). Copy rings are caught by the community test instead."""
    cotiming_window_s: float = 10.0
    """Two answers to the same item closer than this many seconds are co-timed."""
    min_cotimed: int = 3
    """The co-timing signal needs at least this many co-timed answers to fire."""
    cotiming_period_s: float = 3600.0
    """Items whose first answer falls in the same period of this many seconds share a baseline
    rate of co-timed answer pairs (the crowd's synchrony in that period: a rush, a shift, a
    queue served in order)."""
    cotiming_prior_pairs: float = 3.0
    """Pseudo-pairs pulling an item's own (leave-pair-out) co-timing rate towards its period's."""
    cotiming_min_ratio: float = 2.0
    """The co-timing signal fires only when a worker's co-timed answers are at least this
    multiple of what the item profiles predict (the effect size next to the p-value)."""
    louvain_resolution: float = 1.0
    """Louvain resolution; larger values give smaller communities."""
    min_community_size: int = 3
    """Communities smaller than this are not scored (inspect strong pairs instead)."""
    community_alpha: float = 0.01
    """Family-wise level across communities for a community's ``suspect`` flag (Bonferroni)."""
    max_community_share: float = 0.5
    """A community with at least this share of all workers is the crowd itself and is not tested."""
    prune_alpha: float = 0.2
    """Members of a large community whose own p-value is at least this are pruned from its core."""
    prune_above: int = 10
    """Communities with more members than this are pruned to a core before they are tested."""
    member_alpha: float = 0.05
    """A member of a collusion community inherits its p-value when the member's own p is below this."""
    swarm_member_disagreement: float = 0.8
    """A core member of a suspect community whose own test is weak still inherits the community's
    p-value when it sided with the group against the other workers on at least this share ...
    (planted 5-label sybils side with the swarm on 5 of 5 items; honest workers attached to a
    ring mostly side with the outsiders)"""
    swarm_min_items: int = 5
    """... of at least this many shared items. Such a member also survives the pruning of a large
    community to its core, and its signal fires with matches ``min_excess_ratio`` times the
    expected count even below ``min_excess_matches`` (a 5-label account cannot show more)."""
    min_items_against: int = 6
    """A community member's signal fires when they sided with the group against the other
    workers on at least this many items, or (for low-volume swarms) when the excess below holds.
    On a 448-label CrowdFlower batch, thin communities (1-5 such items, matches at or below
    expectation) flagged a quarter of the workers; caught planted rings had 13 or more items."""
    min_excess_ratio: float = 1.5
    """Swarm clause: matching answers with the group at least this multiple of the expected count
    (planted 5-label sybils show ~3.5x) ..."""
    min_excess_matches: float = 10.0
    """... and at least this many matching answers above the expected count."""
    min_outsider_disagreement: float = 0.3
    """A community whose majority disagrees with outsiders on less than this share of shared items is a cohort."""
    chunk_rows: int = 250_000
    """Rows processed at once in the vectorised pair computations (bounds memory)."""
    min_expected_for_calibration: float = 1.0
    """Workers with at least this many expected co-errors estimate the empirical-null factor."""
    seed: int = 0
    """Seed of pair sub-sampling, co-timing permutations and Louvain."""

    def _validate(self, data, consensus: Consensus) -> None:
        if data.n == 0:
            raise UserError("no labels to analyse: the project is empty")
        if consensus.probas.shape != (data.n_tasks, data.n_classes):
            raise UserError("the consensus does not match these labels; re-run the analysis on the same project")
        self.validate()

    def validate(self) -> None:
        """Check the settings' ranges (UserError naming the setting)."""
        for name in ("reference_prior_labels", "null_prior_labels", "cotiming_window_s"):
            if getattr(self, name) <= 0:
                raise UserError(f"collusion setting {name} must be positive")
        for name in ("edge_alpha", "signal_alpha", "community_alpha"):
            if not 0 < getattr(self, name) < 1:
                raise UserError(f"collusion setting {name} must be between 0 and 1")
        if self.max_workers_per_item < 2:
            raise UserError("collusion setting max_workers_per_item must be at least 2")
        for name in ("cotiming_period_s", "cotiming_prior_pairs"):
            if getattr(self, name) <= 0:
                raise UserError(f"collusion setting {name} must be positive")

    def fit(self, data, consensus: Consensus) -> CollusionDetector:
        self._validate(data, consensus)
        W = data.n_workers
        ref = build_reference(data, consensus, self.reference_prior_labels, self.null_prior_labels)
        self.reference_ = ref
        sums = worker_sums(data, ref, self.chunk_rows)
        tests = self.worker_tests(sums)

        # ---- pairs ---------------------------------------------------------------------------
        t, w = data.task, data.worker
        rows = enumerate_pairs(t, w, self.max_workers_per_item, self.seed)
        stats = pair_row_stats(rows, data, ref, self.chunk_rows)
        pairs, inv = aggregate_pairs(rows, data, stats, self.min_expected_for_calibration)
        times = data.timestamps()
        has_time = times is not None and bool(np.isfinite(times).any())
        if has_time:
            ct = cotiming(times, t, w, rows.la, rows.lb, inv, len(pairs), W, self.cotiming_window_s,
                          self.cotiming_period_s, self.cotiming_prior_pairs, self.min_expected_for_calibration)
            pairs["cotimed"] = ct["pair_obs"].astype(np.int32)
            pairs["cotiming_p"] = ct["pair_p"]
        else:
            ct = None
            pairs["cotimed"] = np.zeros(len(pairs), np.int32)
            pairs["cotiming_p"] = 1.0
        pairs = self.edges(pairs)

        # ---- graph and communities ----------------------------------------------------------
        comms = louvain(evidence_graph(pairs), self.seed, self.louvain_resolution)
        self.communities_, member = score_communities(
            data, ref, pairs, comms, self.min_community_size, self.community_alpha, self.edge_alpha,
            self.min_outsider_disagreement, self.max_community_share, self.prune_alpha,
            prune_above=self.prune_above, swarm=(self.swarm_member_disagreement, self.swarm_min_items))
        return self.finish(W, sums, tests, pairs, ct, member)

    def worker_tests(self, sums: dict) -> dict:
        """The per-worker co-error p-values and excess-agreement z from the summed statistics,
        with their empirical-null calibration (``calibration_``)."""
        CO, ECO, VCO, AG, EAG, VAG, tested = (sums[k] for k in ("CO", "ECO", "VCO", "AG", "EAG", "VAG", "tested"))
        tested = tested > 0
        # empirical null (Efron 2004), only ever in the conservative direction: item difficulty
        # makes honest errors cluster on the same items, which the model's null ignores.
        enough = tested & (ECO >= self.min_expected_for_calibration)
        kappa_co = float(max(1.0, np.median(CO[enough] / ECO[enough]))) if enough.any() else 1.0
        p_co = quasi_poisson_tail(CO, kappa_co * ECO, kappa_co ** 2 * VCO)
        z_ag = (AG - EAG) / np.sqrt(np.maximum(VAG, 1e-9))
        zt = z_ag[tested]
        mu0 = float(max(0.0, np.median(zt))) if zt.size else 0.0
        sd0 = float(max(1.0, 1.4826 * np.median(np.abs(zt - np.median(zt))))) if zt.size else 1.0
        self.calibration_ = {"coerror_kappa": kappa_co, "agreement_null_mean": mu0, "agreement_null_sd": sd0}
        return {"p_co": p_co, "z_ag": z_ag, "mu0": mu0, "sd0": sd0, "tested": tested}

    def edges(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """``weight`` = sum of -ln p over the pair tests below ``edge_alpha``; pairs with evidence only."""
        weight = np.zeros(len(pairs))
        for col in ("coerror_p", "agree_p", "cotiming_p"):
            p = np.maximum(pairs[col].to_numpy(), 1e-300)   # a p-value of 0 (underflow) is not an infinite weight
            weight += np.where(p < self.edge_alpha, -np.log(p), 0.0)
        pairs["weight"] = weight
        pairs = pairs[pairs["weight"] > 0].reset_index(drop=True)
        self.pairs_ = pairs[PAIR_COLUMNS].copy()
        return pairs

    def finish(self, W: int, sums: dict, tests: dict, pairs: pd.DataFrame, ct: dict | None,
               member: dict) -> CollusionDetector:
        """Per-worker scores and signals from the worker statistics, the evidence pairs, the
        co-timing tests and the communities' member results (compute, then evidence and wording
        per test)."""
        comm = self._community_pvalues(W, member)
        self.scores_, pair_stats = self._worker_scores(W, sums, tests, pairs, ct, comm)
        parts = self._coerror_signals(sums, tests, pair_stats) + self._cotiming_signals(ct)
        parts += self._community_signals(member, comm)
        self.signals_ = pd.concat(parts, ignore_index=True) if parts else empty_signals()
        return self

    def _community_pvalues(self, W: int, member: dict) -> dict:
        """Each worker's community, its size and the p-value a ring member carries (in place:
        ``member[w]["swarm"]``).

        Gatekeeping: the community's p-value passes to a member whose own evidence is at least
        nominally significant, or to a low-volume swarm account (sided with the group against
        the outsiders on nearly all of enough shared items), provided the member sides with the
        group against the outsiders at least as often as a ring must (honest workers attached to
        a ring mostly side with the outsiders); otherwise the member keeps the larger of the two.
        """
        comm = {"id": np.full(W, -1), "size": np.zeros(W), "score": np.zeros(W), "p": np.ones(W)}
        for wk, info in member.items():
            comm["id"][wk] = info["community"]
            comm["size"][wk] = info["size"]
            if not info["ring"]:
                continue
            own = info["p"]
            info["swarm"] = (info["member_disagreement"] >= self.swarm_member_disagreement
                             and info["n_items"] >= self.swarm_min_items)
            inherit = ((own < self.member_alpha or info["swarm"])
                       and info["member_disagreement"] >= self.min_outsider_disagreement)
            comm["p"][wk] = info["community_p"] if inherit else max(own, info["community_p"])
            comm["score"][wk] = -np.log10(max(comm["p"][wk], 1e-300))
        return comm

    def _worker_scores(self, W: int, sums: dict, tests: dict, pairs: pd.DataFrame, ct: dict | None,
                       comm: dict) -> tuple[pd.DataFrame, dict]:
        """The per-worker score table and the pair strengths behind it."""
        CO, ECO, ICO, EICO = (sums[k] for k in ("CO", "ECO", "ICO", "EICO"))
        p_co, z_ag, tested = (tests[k] for k in ("p_co", "z_ag", "tested"))
        sig_co = pairs["coerror_p"].to_numpy() < self.edge_alpha
        nlog = np.where(sig_co, -np.log(np.maximum(pairs["coerror_p"].to_numpy(), 1e-300)), 0.0)
        a, b = pairs["worker_a"].to_numpy(), pairs["worker_b"].to_numpy()
        strength = np.bincount(a, weights=nlog, minlength=W) + np.bincount(b, weights=nlog, minlength=W)
        partners = np.bincount(a, weights=sig_co, minlength=W) + np.bincount(b, weights=sig_co, minlength=W)
        cot_p = pairs["cotiming_p"].to_numpy()
        nlog_t = np.where(cot_p < self.edge_alpha, -np.log(np.maximum(cot_p, 1e-300)), 0.0)
        cot_strength = np.bincount(a, weights=nlog_t, minlength=W) + np.bincount(b, weights=nlog_t, minlength=W)
        scores = pd.DataFrame({
            "coerror_observed": np.where(tested, CO, np.nan),
            "coerror_expected": np.where(tested, ECO, np.nan),
            "coerror_items": np.where(tested, ICO, np.nan),
            "coerror_expected_items": np.where(tested, EICO, np.nan),
            "coerror_ratio": np.where(tested, (CO + 0.5) / (ECO + 0.5), np.nan),
            "coerror_strength": strength,
            "coerror_partners": partners,
            "excess_agreement_z": np.where(tested, z_ag, np.nan),
            "cotiming_observed": ct["worker_obs"] if ct else np.full(W, np.nan),
            "cotiming_expected": ct["worker_mean"] if ct else np.full(W, np.nan),
            "cotiming_strength": cot_strength if ct else np.full(W, np.nan),
            "community_id": comm["id"],
            "community_size": comm["size"],
            "community_score": comm["score"],
        }, index=pd.RangeIndex(W, name="worker"))
        pmin = np.minimum.reduce([np.where(tested, p_co, 1.0),
                                  ct["worker_p"] if ct else np.ones(W), comm["p"]])
        # ranking score: the strongest per-worker signal in -log10 p units (pairwise strength is
        # left out: on real data it ranks busy honest workers with many partners too high)
        scores["collusion_score"] = -np.log10(np.maximum(pmin, 1e-300))
        return scores[SCORE_COLUMNS], {"strength": strength, "partners": partners,
                                       "ratio": scores["coerror_ratio"].to_numpy()}

    def _coerror_signals(self, sums: dict, tests: dict, pair_stats: dict) -> list[pd.DataFrame]:
        """``coerror`` (tested) and ``excess_agreement`` (descriptive) signals with their reasons."""
        CO, ECO, ICO, EICO, AG, EAG = (sums[k] for k in ("CO", "ECO", "ICO", "EICO", "AG", "EAG"))
        p_co, z_ag, mu0, sd0, tested = (tests[k] for k in ("p_co", "z_ag", "mu0", "sd0", "tested"))
        partners, strength = pair_stats["partners"], pair_stats["strength"]
        idx = np.flatnonzero(tested)
        if not idx.size:
            return []
        reasons = [
            (f"gave the same wrong answer as {int(partners[i])} other accounts: "
             if partners[i] > 0 else "gave the same wrong answer as other accounts: ")
            + f"{int(ICO[i])} items (expected {EICO[i]:.1f}), "
              f"{int(CO[i])} matching wrong answers (expected {ECO[i]:.1f})"
            for i in idx]
        ev = [{"items": int(ICO[i]), "expected_items": round(float(EICO[i]), 3),
               "matching_answers": int(CO[i]), "expected_matching": round(float(ECO[i]), 3),
               "partners": int(partners[i]), "strength": round(float(strength[i]), 3)} for i in idx]
        parts = [make_signals(idx, "coerror", pair_stats["ratio"][idx], p_co[idx],
                              p_co[idx] < self.signal_alpha, reasons, ev)]
        reasons = [f"agreed with other workers {int(AG[i])} times where the model expects "
                   f"{EAG[i]:.1f} (z = {z_ag[i]:.1f})" for i in idx]
        ev = [{"agreements": int(AG[i]), "expected": round(float(EAG[i]), 3), "z": round(float(z_ag[i]), 3)}
              for i in idx]
        # descriptive only (p = NaN): honest cohorts agree beyond any independence model on
        # real data (zheng_product: 9% of gold-honest workers above an empirical-null BH cut)
        parts.append(make_signals(idx, "excess_agreement", z_ag[idx], np.nan,
                                  (z_ag[idx] - mu0) / sd0 >= self.agreement_z_fired, reasons, ev))
        return parts

    def _cotiming_signals(self, ct: dict | None) -> list[pd.DataFrame]:
        """``cotiming``: every worker with timed pair rows is tested (BH needs the whole family);
        only workers with at least ``min_cotimed`` co-timed answers can fire."""
        if ct is None:
            return []
        cidx = np.flatnonzero(ct["worker_mean"] > 0)
        if not cidx.size:
            return []
        o, e = ct["worker_obs"], ct["worker_mean"]
        reasons = [f"answered {int(o[i])} shared items within {self.cotiming_window_s:g} s of another "
                   f"account (expected {e[i]:.1f} from how closely these items' other answers "
                   f"arrived)" for i in cidx]
        ev = [{"cotimed": int(o[i]), "expected": round(float(e[i]), 3),
               "variance": round(float(ct["worker_var"][i]), 3), "window_s": self.cotiming_window_s}
              for i in cidx]
        ratio = (o[cidx] + 0.5) / (e[cidx] + 0.5)
        return [make_signals(cidx, "cotiming", ratio, ct["worker_p"][cidx],
                             (ct["worker_p"][cidx] < self.signal_alpha) & (ratio >= self.cotiming_min_ratio)
                             & (o[cidx] >= self.min_cotimed), reasons, ev)]

    def _community_signals(self, member: dict, comm: dict) -> list[pd.DataFrame]:
        """``community`` signals of ring members: fired when the community is suspect or the
        member's p-value passes, and the member's own matches are enough (items against the
        crowd, or an excess of matches, or a swarm account's excess)."""
        ring = {k: v for k, v in member.items() if v["ring"]}
        if not ring:
            return []
        midx = np.asarray(sorted(ring), dtype=np.int64)
        info = [ring[int(wk)] for wk in midx]
        reasons = [f"belongs to a group of {m['size']} accounts (community {m['community']}) "
                   f"that answer alike against the rest of the crowd: sided with the group against "
                   f"the other workers on {m['n_items']} of {m['n_shared']} shared items; "
                   f"{m['observed']:.0f} matching answers (expected {m['expected']:.1f})" for m in info]
        ev = [{"community": m["community"], "size": m["size"], "observed": m["observed"],
               "expected": round(m["expected"], 3), "member_p": m["p"], "community_p": m["community_p"],
               "items_against_crowd": m["n_items"], "items_shared": m["n_shared"]} for m in info]
        obs = np.array([m["observed"] for m in info], dtype=float)
        exp = np.array([m["expected"] for m in info], dtype=float)
        items = np.array([m["n_items"] for m in info], dtype=float)
        swarm = np.array([m["swarm"] for m in info], dtype=bool)
        excess = obs >= self.min_excess_ratio * exp
        enough = (items >= self.min_items_against) | (excess & (obs - exp >= self.min_excess_matches)) | (
            excess & swarm)
        in_suspect = np.array([m["suspect"] for m in info], dtype=bool)
        return [make_signals(midx, "community", comm["score"][midx], comm["p"][midx],
                             (in_suspect | (comm["p"][midx] < self.signal_alpha)) & enough, reasons, ev)]

def worker_sums(data, ref, chunk_rows: int = 250_000) -> dict:
    """Per worker, summed over their labels (every label, no enumeration): observed, expected
    and variance of co-errors and of agreements given everyone else's labels, co-error items,
    and whether the worker has a label on an item somebody else answered (``tested``)."""
    W, K = data.n_workers, data.n_classes
    t, w, y = data.task, data.worker, data.label
    others = ref.counts[t].copy()
    others[np.arange(data.n), y] -= 1.0
    has_others = others.sum(axis=1) > 0
    pi = predictive(ref.A_null, w, ref.loo, chunk_rows)
    c_hat = np.argmax(ref.loo >= ref.loo.max(axis=1, keepdims=True) - 1e-12, axis=1)
    wrong = np.ones((data.n, K))
    wrong[np.arange(data.n), c_hat] = 0.0
    g_co = others * wrong
    o_co, m_co, v_co = conditional_moments(pi, g_co, y)
    o_ag, m_ag, v_ag = conditional_moments(pi, others, y)
    items_co = (o_co > 0).astype(np.float64)
    e_items_co = (pi * (g_co > 0)).sum(axis=1)

    def per_w(x):
        return np.bincount(w, weights=x * has_others, minlength=W)

    return {"CO": per_w(o_co), "ECO": per_w(m_co), "VCO": per_w(v_co), "ICO": per_w(items_co),
            "EICO": per_w(e_items_co), "AG": per_w(o_ag), "EAG": per_w(m_ag), "VAG": per_w(v_ag),
            "tested": per_w(np.ones(data.n))}
