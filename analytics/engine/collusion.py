"""Collusion evidence over partitions of items (:class:`analytics.collusion.CollusionDetector`).

Every collusion statistic is about labels that share an item, so it is computed where the
item lives and then summed:

* the reference and null matrices (:func:`~analytics.collusion.reference.build_reference`):
  per-worker soft counts summed over partitions (crowd statistics, settled in three passes);
* the per-worker conditional co-error and agreement tests: per-label moments summed per worker;
* pairs: each partition enumerates the pairs of its items (the same seeded subset of at most
  ``max_workers_per_item`` labels per item: the random stream is advanced to the partition's
  first row) and sums their statistics per pair; the pair sums are then shuffled by pair key
  to ``pair_buckets`` reducers and added up there (one shuffle, O(pairs)); the co-error null
  factor (median over pairs) and the co-timing scale (median over workers) are taken on the
  client from the reducers' and the workers' sums; only pairs with evidence (weight > 0) come
  back to the client;
* co-timing: each item's leave-pair-out rates are local; the period rates are crowd sums;
* communities: Louvain on the evidence pairs on the client, and each community's member tests
  (:func:`~analytics.collusion.graph.member_test_parts`) as sums over item partitions.

The verdict-facing output (``scores_``, ``signals_``, ``pairs_``, ``communities_``) is built by
the detector's own :meth:`~analytics.collusion.CollusionDetector.finish`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from analytics.collusion.cotiming import cotiming_sums, cotiming_tests
from analytics.collusion.detector import PAIR_COLUMNS, worker_sums
from analytics.collusion.graph import (
    combine_member_parts,
    evidence_graph,
    louvain,
    member_test_parts,
    score_communities,
)
from analytics.collusion.pairs import SUM_COLUMNS, enumerate_pairs, pair_frame, pair_row_stats
from analytics.collusion.reference import build_reference
from analytics.crowdstats import Crowd, combine_recorded, same_values
from analytics.engine.core import Engine, PerPart

PAIR_BUCKETS = 16


def _reference(part, q, cons, det, given: dict, record: bool):
    crowd = Crowd(given=given, record=record)
    ref = build_reference(part.data, cons.local(q), det.reference_prior_labels, det.null_prior_labels, crowd)
    return ref, crowd.recorded


def _times(part):
    t = part.data.timestamps()
    return t if t is not None and bool(np.isfinite(t).any()) else None


def _evidence(part, ref, det, crowd_given: dict, record: bool, buckets: int):
    """Worker sums, pair sums cut into buckets by pair key, co-timing worker sums."""
    d = part.data
    W = d.n_workers
    crowd = Crowd(given=crowd_given, record=record)
    rows = enumerate_pairs(d.task, d.worker, det.max_workers_per_item, det.seed, row_offset=part.row_offset)
    times = _times(part)
    cot = None
    if times is not None:
        cot = cotiming_sums(times, d.task, d.worker, rows.la, rows.lb, W, det.cotiming_window_s,
                            det.cotiming_period_s, det.cotiming_prior_pairs, crowd)
        if crowd.provisional:               # the co-timing periods are not the crowd's yet: nothing else to do
            return (None, None), crowd.recorded
    sums = worker_sums(d, ref, det.chunk_rows)
    stats = pair_row_stats(rows, d, ref, det.chunk_rows)
    key = d.worker[rows.la].astype(np.int64) * W + d.worker[rows.lb]
    uniq, inv = np.unique(key, return_inverse=True)
    cols = {c: np.bincount(inv, weights=x, minlength=uniq.size) for c, x in (
        ("n_shared", np.ones(inv.size)), ("co", stats["coerr"].astype(np.float64)), ("eco", stats["q_co"]),
        ("ag", stats["agree"].astype(np.float64)), ("eag", stats["q_agree"]),
        ("vag", stats["q_agree"] * (1.0 - stats["q_agree"])))}
    if cot is not None:
        tight, qr, obs, E, V = cot
        cols["PO"] = np.bincount(inv, weights=tight, minlength=uniq.size)
        cols["PE"] = np.bincount(inv, weights=qr, minlength=uniq.size)
        sums.update({"cot_obs": obs, "cot_E": E, "cot_V": V, "timed": np.array([1])})
    b = (uniq * 2654435761 % buckets).astype(np.int64)
    order = np.argsort(b, kind="stable")
    cut = np.searchsorted(b[order], np.arange(buckets + 1))
    pieces = [{"key": uniq[order[cut[j]:cut[j + 1]]], **{c: v[order[cut[j]:cut[j + 1]]] for c, v in cols.items()}}
              for j in range(buckets)]
    return (sums, pieces), crowd.recorded


def _bucket_sums(*pieces: dict) -> dict:
    keys = np.concatenate([p["key"] for p in pieces])
    uniq, inv = np.unique(keys, return_inverse=True)
    out = {"key": uniq}
    for c in pieces[0]:
        if c != "key":
            out[c] = np.bincount(inv, weights=np.concatenate([p[c] for p in pieces]), minlength=uniq.size)
    return out


def _enough_ratios(bucket: dict, min_expected: float) -> np.ndarray:
    e = bucket["eco"] >= min_expected
    return bucket["co"][e] / bucket["eco"][e]


def _bucket_edges(bucket: dict, W: int, kappa: float, scale: float | None, det) -> pd.DataFrame:
    from analytics.collusion.tails import quasi_poisson_tail

    frame = pair_frame(bucket["key"], {c: bucket[c] for c in SUM_COLUMNS}, W, kappa)
    if scale is not None:
        PO, PE = bucket["PO"], bucket["PE"]
        frame["cotimed"] = PO.astype(np.int32)
        frame["cotiming_p"] = np.where(PO > 0, quasi_poisson_tail(PO, scale * PE, scale * PE), 1.0)
    else:
        frame["cotimed"] = np.zeros(len(frame), np.int32)
        frame["cotiming_p"] = 1.0
    det = dataclasses.replace(det)
    return det.edges(frame)


def _member_parts(part, ref, members):
    return member_test_parts(part.data, ref, members)


def _member_parts_many(part, ref, communities):
    return [member_test_parts(part.data, ref, c) for c in communities]


def fit(eng: Engine, parts: list, q: list, cons, detector, progress=None):
    """The fitted :class:`~analytics.collusion.CollusionDetector` over item partitions."""
    det = dataclasses.replace(detector)
    det.validate()
    L = eng.layout
    W = L.n_workers
    progress = progress or (lambda f, m: None)
    # reference and null matrices: crowd sums, settled
    given: dict = {}
    for _ in range(4):
        res = eng.map(_reference, PerPart(q), cons, det, given, True, parts=parts)
        new = combine_recorded(eng.gather(eng.item(res, 1)))
        if same_values(new, given):
            break
        eng.release(res)
        given = new
    refs = eng.item(res, 0)
    A_null = given.get("collusion.null_counts")
    progress(0.3, "collusion: pairs")
    # evidence: worker sums and pair sums (co-timing periods settle in a second pass)
    cgiven: dict = {}
    for _ in range(4):
        ev = eng.map(_evidence, PerPart(refs), det, cgiven, True, PAIR_BUCKETS, parts=parts)
        new = combine_recorded(eng.gather(eng.item(ev, 1)))
        if same_values(new, cgiven):
            break
        eng.release(ev)
        cgiven = new
    out = eng.item(ev, 0)
    sums = eng.reduce(eng.item(out, 0))
    tests = det.worker_tests(sums)
    piece_lists = eng.item(out, 1)
    buckets = [eng.client.submit(_bucket_sums, *[eng.client.submit(_nth, p, j, pure=False) for p in piece_lists],
                                 pure=False, retries=2) for j in range(PAIR_BUCKETS)]
    ratios = np.concatenate(eng.gather([eng.client.submit(_enough_ratios, b, det.min_expected_for_calibration,
                                                          pure=False) for b in buckets]))
    kappa = float(max(1.0, np.median(ratios))) if ratios.size else 1.0
    ct = None
    scale = None
    if "timed" in sums:
        ct = cotiming_tests(sums["cot_obs"], sums["cot_E"], sums["cot_V"], np.zeros(0), np.zeros(0),
                            det.min_expected_for_calibration)
        scale = ct["scale"]
    edges = eng.gather([eng.client.submit(_bucket_edges, b, W, kappa, scale, det, pure=False) for b in buckets])
    pairs = pd.concat(edges, ignore_index=True)
    pairs = pairs.sort_values(["worker_a", "worker_b"], kind="stable").reset_index(drop=True)
    det.pairs_ = pairs[PAIR_COLUMNS].copy()
    eng.release(buckets, piece_lists, out, ev)
    progress(0.7, "collusion: communities")
    comms = louvain(evidence_graph(pairs), det.seed, det.louvain_resolution)

    # every community's first test in one pass over the partitions; the pruned cores one by one
    kept = [np.asarray(c, dtype=np.int64) for c in comms if len(c) >= det.min_community_size]
    cache = {}
    if kept:
        got = eng.gather(eng.map(_member_parts_many, PerPart(refs), kept, parts=parts))
        for j, c in enumerate(kept):
            cache[tuple(c)] = combine_member_parts([g[j] for g in got])

    def member_tests(members):
        mem = np.asarray(members, dtype=np.int64)
        if tuple(mem) in cache:
            return cache[tuple(mem)]
        return combine_member_parts(eng.gather(eng.map(_member_parts, PerPart(refs), mem, parts=parts)))

    shell = _Shell(W)
    det.communities_, member = score_communities(
        shell, None, pairs, comms, det.min_community_size, det.community_alpha, det.edge_alpha,
        det.min_outsider_disagreement, det.max_community_share, det.prune_alpha, prune_above=det.prune_above,
        swarm=(det.swarm_member_disagreement, det.swarm_min_items), member_tests=member_tests)
    eng.release(refs)
    det.calibration_["coerror_pair_kappa"] = kappa
    det.null_counts_ = A_null
    return det.finish(W, sums, tests, pairs, ct, member)


def _nth(pieces: list, j: int):
    return pieces[j]


@dataclasses.dataclass
class _Shell:
    """What :func:`score_communities` reads of the data when the member tests are given."""

    n_workers: int
