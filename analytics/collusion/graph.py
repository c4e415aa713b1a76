"""The worker evidence graph, its Louvain communities, their scores, and a layout for the UI (§3.4).

Nodes are workers, edges are pairs with at least one significant pairwise test; an edge's
weight is the sum of -log p over the significant tests (co-error, excess agreement,
co-timing). Communities come from networkx's Louvain method (Blondel et al. 2008, "Fast
unfolding of communities in large networks", J. Stat. Mech. P10008), seeded.

Each community C is then tested *against the rest of the crowd*: the reference posterior of
every item is recomputed without the votes of C's members (leave-community-out, so a group
that forms the local majority cannot define the truth on its own items), and each member's
answers are tested, given everyone else's labels, for agreeing with other members beyond
independence (:func:`community_member_tests`). The community p-value is the
pooled statistic of its members. Because the
community was found on the same data, the test is calibrated on the communities that agree
with the outsiders (cohorts), and a member is reported through the larger of its own p-value
and the community's (see :class:`analytics.collusion.CollusionDetector`).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from analytics.collusion.reference import (
    Reference,
    argmax_rows,
    conditional_moments,
    predictive,
    softmax_rows,
)
from analytics.collusion.tails import quasi_poisson_tail


def evidence_graph(pairs: pd.DataFrame) -> nx.Graph:
    """Undirected weighted graph of the pairs with positive weight."""
    g = nx.Graph()
    e = pairs[pairs["weight"] > 0]
    g.add_weighted_edges_from(zip(e["worker_a"].tolist(), e["worker_b"].tolist(), e["weight"].tolist(),
                                  strict=True))
    return g


def louvain(g: nx.Graph, seed: int, resolution: float) -> list[list[int]]:
    """Louvain communities (networkx), largest first, members sorted."""
    if g.number_of_edges() == 0:
        return []
    comms = nx.community.louvain_communities(g, weight="weight", resolution=resolution, seed=seed)
    out = [sorted(int(x) for x in c) for c in comms]
    out.sort(key=lambda c: (-len(c), c[0]))
    return out


def community_member_tests(data, ref: Reference, members: np.ndarray):
    """Leave-community-out agreement test of each member.

    For every label l of a member w on item i with at least one outsider label, the outsiders'
    reference posterior p^out_i and w's null matrix give w's answer distribution
    pi_l(k) = sum_c p^out_ic A_w[c,k] under independence. The statistic is
    g(k) = number of other members answering k on i (agreement with fellow members, correct or
    not: copy-with-noise groups agree on both); its null mean and variance given all other
    labels are exact, items are independent. A second statistic counts only agreement on
    answers the outsiders reject, g(k) * 1[k != c^out] (sybil swarms and wrong-answer rings).

    Returns an array (2 statistics, 3 = observed/expected/variance, members), per member the
    items answered against the outsiders together with another member and the items shared
    with another member (2, members), and the community's
    majority-versus-outsiders disagreement share (items with >= 2 members and >= 1 outsider)
    with the number of such items.
    """
    return combine_member_parts([member_test_parts(data, ref, members)])


def member_test_parts(data, ref: Reference, members: np.ndarray) -> tuple:
    """The additive parts of :func:`community_member_tests` on the items of ``data`` (every
    statistic is a sum over items, so partitions of items add theirs up)."""
    K = data.n_classes
    members = np.asarray(members, dtype=np.int64)
    mrows = np.concatenate([ref.rows_of(int(m)) for m in members]) if len(members) else np.empty(0, np.int64)
    t = data.task
    tasks, loc = np.unique(t[mrows], return_inverse=True)       # local task index of each member label
    mem_counts = np.zeros((tasks.size, K))
    np.add.at(mem_counts, (loc, data.label[mrows]), 1.0)
    mem_own = np.zeros((tasks.size, K))
    np.add.at(mem_own, loc, ref.own[mrows])
    n_out = ref.counts[tasks].sum(axis=1) - mem_counts.sum(axis=1)
    post_out = softmax_rows(ref.logpost[tasks] - mem_own)
    c_out = np.where(n_out > 0, argmax_rows(post_out), -1)
    ok = c_out[loc] >= 0
    r, li = mrows[ok], loc[ok]
    wi, yi = data.worker[r], data.label[r]
    others = mem_counts[li].copy()
    others[np.arange(r.size), yi] -= 1.0
    ti = li
    pi = predictive(ref.A_null, wi, post_out[ti])
    wrong = np.ones_like(others)
    wrong[np.arange(r.size), c_out[ti]] = 0.0
    W = data.n_workers
    stats = []
    for g in (others, others * wrong):           # agreement, and agreement on rejected answers
        obs, mean, var = conditional_moments(pi, g, yi)
        stats.append(np.stack([np.bincount(wi, weights=x, minlength=W)[members] for x in (obs, mean, var)]))
    shared = others.sum(axis=1) > 0
    against = (others[np.arange(r.size), yi] > 0) & (yi != c_out[ti])
    n_items = np.bincount(wi, weights=against, minlength=W)[members]
    n_shared = np.bincount(wi, weights=shared, minlength=W)[members]
    n_items = np.stack([n_items, n_shared])
    both = (mem_counts.sum(axis=1) >= 2) & (n_out > 0)
    disagree = int((argmax_rows(mem_counts[both]) != c_out[both]).sum()) if both.any() else 0
    return np.stack(stats), n_items, disagree, int(both.sum())


def combine_member_parts(parts: list[tuple]):
    """Add up :func:`member_test_parts` of partitions of items."""
    st = sum(p[0] for p in parts)
    n_items = sum(p[1] for p in parts)
    dis = sum(p[2] for p in parts)
    both = sum(p[3] for p in parts)
    return st, n_items, (dis / both if both else 0.0), int(both)


def score_communities(data, ref: Reference, pairs: pd.DataFrame, comms: list[list[int]],
                      min_size: int, alpha: float, edge_alpha: float,
                      min_disagreement: float, max_share: float = 0.5, prune_alpha: float = 0.2,
                      prune_rounds: int = 5, prune_above: int = 10,
                      swarm: tuple[float, int] = (0.8, 5), member_tests=None) -> tuple[pd.DataFrame, dict]:
    """One row per community of at least ``min_size`` members, plus per-member test results.

    A community holding ``max_share`` of all workers or more is the crowd itself: its
    "outsiders" are the few remaining workers, so it is reported but never tested (p = 1).
    A community whose majority agrees with the outsiders on more than 1 - ``min_disagreement``
    of their shared items is a *cohort* (a school of thought, a team, a batch), not a
    collusion ring: its members get p = 1. The cohorts calibrate the test for the rest
    (empirical null, Efron 2004): kappa = max(1, median observed/expected of cohort members,
    median observed/expected of all tested community members), one per statistic, scales the
    null mean (and kappa^2 the variance), absorbing both item difficulty and the selection of
    communities on the same data.

    A remaining community larger than ``prune_above`` members (collusion groups are typically
    3-10 accounts) is pruned to its *core*: up to ``prune_rounds`` times, members whose
    own p-value is at least ``prune_alpha`` are dropped (unless they side with the group against
    the outsiders on a share ``swarm[0]`` of at least ``swarm[1]`` shared items: swarm accounts)
    and the rest re-tested against everyone else (Louvain also attaches honest workers that
    share a few chance edges with a ring). A cohort is pruned the same way and stays a cohort
    unless its core disagrees with the outsiders. A core tested after pruning most of its
    community away uses the larger null factor of the members pruned away (capped by that of
    all cores). The
    community p-value pools the core members' statistics (variance doubled), Bonferroni over
    the two statistics. ``suspect`` = a core of at least ``min_size`` members, not a cohort, and
    that p-value below ``alpha`` / (number of such ring candidates tested; cohorts and the crowd
    are not tested and do not count).

    ``member_tests(members)`` replaces :func:`community_member_tests` (the partitioned engine adds
    up its parts over partitions of items); ``data`` then needs only ``n_workers``.
    """
    if member_tests is None:
        def member_tests(members):
            return community_member_tests(data, ref, members)
    cols = ["community", "members", "core", "size", "density", "mean_weight", "coerror_strength",
            "majority_vs_outsiders_disagreement", "cotiming", "p_value", "score", "suspect", "reasons"]
    kept = [c for c in comms if len(c) >= min_size]
    if not kept:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols}), {}
    comm_of = np.full(data.n_workers, -1)
    for j, c in enumerate(kept):
        comm_of[c] = j
    ca = comm_of[pairs["worker_a"].to_numpy()]
    cb = comm_of[pairs["worker_b"].to_numpy()]
    internal = (ca == cb) & (ca >= 0)
    ip = pairs[internal]
    ic = ca[internal]
    nlogco = np.where(ip["coerror_p"] < edge_alpha, -np.log(ip["coerror_p"]), 0.0)
    tests = [member_tests(np.asarray(c)) for c in kept]
    n_max = max_share * data.n_workers

    kappa = _calibrate(kept, tests, n_max, min_disagreement)
    cores, core_tests, rest_levels = _prune_to_cores(
        kept, tests, kappa, member_tests, n_max, min_size, min_disagreement, prune_alpha, prune_rounds,
        prune_above, swarm)
    kappa_cores = _calibrate(cores, core_tests, n_max, min_disagreement, kappa)
    core_kappa = [kappa if lv is None else np.maximum(kappa, np.minimum(lv, kappa_cores)) for lv in rest_levels]
    rings = [cores[j].size >= min_size and core_tests[j][2] >= min_disagreement and len(c) < n_max
             for j, c in enumerate(kept)]
    m_alpha = alpha / max(1, sum(rings))       # Bonferroni over the communities actually tested
    rows, member_info = [], {}
    for j, c in enumerate(kept):
        sel = ic == j
        row, info = _community_result(j, c, cores[j], core_tests[j], core_kappa[j], rings[j], m_alpha,
                                      ip[sel], nlogco[sel], data.n_workers, n_max)
        rows.append(row)
        member_info.update(info)
    return pd.DataFrame(rows)[cols], member_info


def _calibrate(groups, group_tests, n_max: float, min_disagreement: float, floor=None) -> np.ndarray:
    """Empirical-null factors (one per statistic): max(1, ``floor``, median observed/expected of
    the tested members, median of the cohort members)."""
    kap = np.ones(2) if floor is None else floor.copy()
    for k in range(2):
        tested = [t for c, t in zip(groups, group_tests, strict=True) if 0 < len(c) < n_max]
        r_all = [t[0][k, 0][t[0][k, 1] >= 1] / t[0][k, 1][t[0][k, 1] >= 1] for t in tested]
        r_coh = [x for x, t in zip(r_all, tested, strict=True) if t[2] < min_disagreement]
        for r in (r_all, r_coh):
            r = np.concatenate(r) if r else np.empty(0)
            if r.size:
                kap[k] = max(kap[k], float(np.median(r)))
    return kap


def _member_p(st, kap) -> np.ndarray:
    """Each member's p-value: quasi-Poisson tail under the scaled null, Bonferroni over the two statistics."""
    return np.minimum(1.0, 2.0 * np.minimum.reduce([
        quasi_poisson_tail(st[k, 0], kap[k] * st[k, 1], kap[k] ** 2 * st[k, 2]) for k in range(2)]))


def _pooled_p(st, kap) -> float:
    """The community's p-value from the members' pooled statistics: every agreeing pair is
    counted by both members, so the variance of the sum is about twice the sum of the members'
    variances; Bonferroni over the two statistics."""
    return float(min(1.0, 2.0 * min(float(quasi_poisson_tail(
        st[k, 0].sum(), kap[k] * st[k, 1].sum(), 2.0 * kap[k] ** 2 * st[k, 2].sum())) for k in range(2))))


def _rest_ratio(st, k, rest) -> float:
    """Observed/expected pooled over the members pruned away: members with a handful of labels
    were attached to the community by a few chance matches, and their own ratios are biased upwards."""
    e = float(st[k, 1][rest].sum())
    return float(st[k, 0][rest].sum()) / e if e > 0 else 1.0


def _prune_to_cores(kept, tests, kappa, member_tests, n_max, min_size, min_disagreement, prune_alpha,
                    prune_rounds, prune_above, swarm) -> tuple[list, list, list]:
    """Prune large candidate rings (and cohorts) to their cores; returns the cores, their tests
    and, per community, the null level of the members pruned away (None to keep the global one).

    A core is selected for strong member evidence from its community, so it must stand out from
    the members pruned away: its null factor is their pooled observed/expected within the
    community, capped by the factor of all cores. Either alone fails: calibrating on all cores let
    15 planted rings of 5 set their own null on zheng_relevance (the large honest communities were
    pruned to a few members); the pruned-away members alone hid the one ring of the 1M-label
    benchmark, whose busy honest neighbours match it 1.7x the model. A ring with only a few
    attached workers keeps the global factor. Cohorts are pruned because Louvain merged a sybil
    swarm with a few busy honest workers into one: a cohort by its majority, a swarm in its core.
    """
    cores, core_tests, rest_levels = [], [], []
    for c, t in zip(kept, tests, strict=True):
        core, st, level = np.asarray(c), t, None
        cohort = t[2] < min_disagreement
        if len(c) < n_max and (len(c) > prune_above or cohort):
            # kept: strong own evidence, or a swarm account that sided with the whole community
            # against the outsiders on its items (judged once, on the whole community)
            items = t[1]
            protected = (items[0] >= swarm[0] * np.maximum(items[1], 1.0)) & (items[0] >= swarm[1])
            keep = (_member_p(st[0], kappa) < prune_alpha) | protected
            for _ in range(prune_rounds):
                if keep.all() or keep.sum() < min_size:
                    break
                core, protected = core[keep], protected[keep]
                st = member_tests(core)
                keep = (_member_p(st[0], kappa) < prune_alpha) | protected
            rest = ~np.isin(np.asarray(c), core)
            if cohort and (core.size == len(c) or st[2] < min_disagreement):
                core, st = np.asarray(c), t                  # still a cohort
            elif rest.sum() >= core.size:
                level = np.array([_rest_ratio(t[0], k, rest) for k in range(2)])
        cores.append(core)
        core_tests.append(st)
        rest_levels.append(level)
    return cores, core_tests, rest_levels


def _community_result(j, c, core, core_test, kap, ring, m_alpha, ip, nlogco, n_workers, n_max) -> tuple[dict, dict]:
    """The community's row (with its reason in words) and its members' results."""
    st, n_items, disagree, n_both = core_test
    s = len(c)
    w = ip["weight"].to_numpy()
    edges = int((w > 0).sum())
    p = _member_p(st, kap) if ring else np.ones(core.size)
    p_c = _pooled_p(st, kap) if ring else 1.0
    obs_w, E = st[0, 0], kap[0] * st[0, 1]
    if ring:
        reasons = (f"{core.size} accounts answer alike against the rest of the crowd: their majority "
                   f"disagreed with the other workers on {disagree:.0%} of {n_both} shared items; "
                   f"{int(obs_w.sum())} matching answers among them (expected {E.sum():.1f})")
    elif s >= n_max:
        reasons = (f"{s} accounts, {s / n_workers:.0%} of all workers: the crowd's main body, "
                   "not tested as a group")
    else:
        reasons = (f"{s} accounts often answer alike but agree with the rest of the crowd "
                   f"({disagree:.0%} disagreement on {n_both} shared items): a cohort, not evidence of collusion")
    cot = int(ip["cotimed"].to_numpy().sum()) if "cotimed" in ip else 0
    if cot:
        reasons += f"; {cot} pairs of answers within seconds of each other"
    row = {
        "community": j, "members": [int(x) for x in c], "core": [int(x) for x in core] if ring else [],
        "size": s, "density": edges / (s * (s - 1) / 2), "mean_weight": float(w.mean()) if w.size else 0.0,
        "coerror_strength": float(nlogco.sum()),
        "majority_vs_outsiders_disagreement": disagree, "cotiming": cot,
        "p_value": p_c, "score": float(-np.log10(max(p_c, 1e-300))), "suspect": bool(ring and p_c < m_alpha),
        "reasons": reasons,
    }
    info = {int(wk): {"community": j, "observed": 0.0, "expected": 0.0, "p": 1.0, "n_items": 0,
                      "community_p": 1.0, "size": s, "disagreement": disagree, "ring": False} for wk in c}
    if ring:
        for k, wk in enumerate(core):
            info[int(wk)] = {"community": j, "observed": float(obs_w[k]), "expected": float(E[k]),
                             "p": float(p[k]), "n_items": int(n_items[0, k]), "community_p": p_c,
                             "suspect": bool(p_c < m_alpha),
                             "size": int(core.size), "disagreement": disagree, "ring": True,
                             "member_disagreement": float(n_items[0, k] / max(n_items[1, k], 1.0)),
                             "n_shared": int(n_items[1, k])}
    return row, info


def graph_layout(pairs: pd.DataFrame, communities: pd.DataFrame, seed: int = 0, top_n: int = 500) -> pd.DataFrame:
    """Node positions for the dashboard's network chart: DataFrame(worker, x, y, community).

    Uses the ``top_n`` heaviest edges (so the chart stays readable and the layout cheap) and
    networkx's seeded ``spring_layout`` with the edge weights; ``community`` is -1 for workers
    outside the scored communities. ``worker`` is the integer worker code.
    """
    cols = ["worker", "x", "y", "community"]
    if pairs is None or len(pairs) == 0:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(cols, ["int32", "float64", "float64", "int64"],
                                                                   strict=True)})
    top = pairs[pairs["weight"] > 0].nlargest(top_n, "weight")
    g = evidence_graph(top)
    if g.number_of_nodes() == 0:
        return graph_layout(pairs.iloc[:0], communities, seed, top_n)
    pos = nx.spring_layout(g, weight="weight", seed=seed)
    comm = {}
    if communities is not None and len(communities):
        for cid, mem in zip(communities["community"], communities["members"], strict=True):
            for wk in mem:
                comm[int(wk)] = int(cid)
    nodes = sorted(pos)
    return pd.DataFrame({
        "worker": np.asarray(nodes, dtype=np.int32),
        "x": [float(pos[n][0]) for n in nodes],
        "y": [float(pos[n][1]) for n in nodes],
        "community": np.asarray([comm.get(n, -1) for n in nodes], dtype=np.int64),
    })
