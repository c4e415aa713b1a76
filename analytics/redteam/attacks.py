"""The injector: plant data-poisoning attacks into a copy of a project's labels.

Attack catalogue (detection-methods.md §4, §6.2 table, A1-A10); each attack's parameters are a
frozen dataclass in :data:`PARAMS` (:mod:`analytics.redteam.attack_params`), passed as keyword arguments to :func:`inject`:

========== ===================================================================================
name       attacker
========== ===================================================================================
random     A1 random spammer: uniform random answers
constant   A2 one answer for everything, or a repeating pattern such as ``ABAB``
sloppy     A3 honest but careless: correct with probability ``accuracy`` (default 1/K + 0.1)
flipper    A4 class-biased flipper: (sensitivity, specificity) on a positive class, or a
           class permutation applied with probability ``flip_prob``
disguised  A5 disguised targeted attacker (Miao et al., WWW 2018): honest on a share gamma of
           its items, pushes class c* on a target item set T, optionally crowding into T
colluders  A6 copy-with-noise groups: followers copy a leader's answer with probability 1 - eps
sybils     A7 TDSSA-style swarm of low-volume accounts pushing one answer on shared items
burst      A8 bot labelling at k times the usual rate, optionally co-timed as a group
takeover   A9 an honest original worker turns bad at t0 = 50% of their history
campaign   A10 targeted campaign: accounts that seek out items of one class and give them
           one wrong class, while answering like good honest workers elsewhere
all        every attack above at once, the attacker budget split evenly
========== ===================================================================================

Conventions (after Tahmasebian et al., DBSec 2020, and the §6 protocol):

* ``share`` = number of attacker accounts / number of original workers (at least one).
* Each attacker's volume is drawn with replacement from the real workers' per-worker label
  counts, among workers with at least ``min_volume`` labels (the same population the
  scorecard compares against); sybils are low-volume by design. Items are sampled without
  replacement with probability proportional to their current number of labels (so attackers
  land where everybody else does).
* "Honest" answers of planted workers start from the reference answer, gold where the base
  data has gold and otherwise the Dawid-Skene consensus of the clean data, and are correct
  with probability ``honest_accuracy`` (default: the median accuracy of the original workers
  against that reference), else a uniformly drawn other class.
* Planted ids imitate the real ids (a random real id as template, every letter and digit
  redrawn from the characters of its class that real ids use, e.g. a-f for hex ids, the
  prefix shared by all real ids kept), so a
  detector cannot tell them by name; ids sort among the real ones.
* Times: see :mod:`analytics.redteam.timing`. The attacked copy and the returned clean copy
  share the same timeline for the original labels.
* Deterministic for a seed (rows are put in (task, worker) order first, so the order the
  rows were read in does not matter); the input arrays are never modified.
"""

from __future__ import annotations

import dataclasses
import string
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.dataset import LabelArrays, from_frame
from analytics.errors import UserError
from analytics.redteam import timing
from analytics.redteam.attack_params import (  # noqa: F401  (re-exported: the catalogue's names)
    ATTACKS,
    PARAMS,
    TARGETED,
    BurstParams,
    CampaignParams,
    ColludersParams,
    ConstantParams,
    DisguisedParams,
    FlipperParams,
    RandomParams,
    SloppyParams,
    SybilsParams,
    TakeoverParams,
    make_params,
)

# --------------------------------------------------------------------------- result

@dataclass(frozen=True)
class Attacked:
    """An attacked copy of a project and its hidden answer key.

    Attributes
    ----------
    data : LabelArrays of the attacked copy; gold is kept for evaluation only, give
        :meth:`blind` to detectors
    clean : the base data with the same timeline as ``data`` (synthetic where the base had none)
    key : one row per worker of ``data``: worker, planted, attack, modified_original, group,
        n_labels, n_attack_labels, takeover_onset_index, takeover_onset_time, targets (list of
        task ids the worker pushed)
    targets : DataFrame task, target_class (class name) of targeted attacks
    planted_label : bool per row of ``data``: the label was written by an attacker (for a
        takeover: the labels after the onset)
    """

    data: LabelArrays
    clean: LabelArrays
    key: pd.DataFrame
    targets: pd.DataFrame
    planted_label: np.ndarray
    attack: str
    share: float
    seed: int
    params: dict = field(default_factory=dict)
    reference: str = "gold"
    synthetic_time: bool = False

    def blind(self) -> LabelArrays:
        """The attacked data without gold: the only thing a detector may see."""
        return strip_gold(self.data)

    def blind_clean(self) -> LabelArrays:
        return strip_gold(self.clean)


def strip_gold(data: LabelArrays) -> LabelArrays:
    return dataclasses.replace(data, gold_task=np.empty(0, np.int32), gold_label=np.empty(0, np.int32))


# --------------------------------------------------------------------------- context

@dataclass
class _Planted:
    attack: str
    tasks: np.ndarray
    labels: np.ndarray | None = None
    times: np.ndarray | None = None
    durs: np.ndarray | None = None
    group: int = -1
    targets: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))


class _Context:
    """Everything the attacks read from the base data, computed once."""

    def __init__(self, data: LabelArrays, rng: np.random.Generator, honest_accuracy: float | None,
                 min_volume: int, synth_time: bool, timeline: timing.TimelineModel):
        from analytics.aggregate import aggregate

        self.data, self.rng = data, rng
        self.K, self.T, self.W = data.n_classes, data.n_tasks, data.n_workers
        gold = data.gold_vector()
        ds = aggregate(strip_gold(data), "ds", use_gold=False).labels
        self.ref = np.where(gold >= 0, gold, ds).astype(np.int64)
        self.reference = "gold" if (gold >= 0).all() else ("gold+ds" if (gold >= 0).any() else "ds")
        n_w = np.bincount(data.worker, minlength=self.W)
        correct = np.bincount(data.worker, weights=(data.label == self.ref[data.task]), minlength=self.W)
        acc = correct / np.maximum(n_w, 1)
        self.n_w, self.acc_w = n_w, acc
        if honest_accuracy is None:
            pool = acc[n_w >= 10] if (n_w >= 10).any() else acc
            honest_accuracy = float(np.clip(np.median(pool), 1.0 / self.K + 0.05, 0.99))
        self.honest_accuracy = float(honest_accuracy)
        vols = n_w[n_w >= min_volume]
        self.volumes = np.minimum(vols if vols.size else n_w, self.T)
        self.item_w = np.bincount(data.task, minlength=self.T).astype(float) + 0.5
        self.ref_counts = np.bincount(self.ref, minlength=self.K)
        times, durs = data.timestamps(), data.durations()
        self.synthetic = False
        if (times is None or not np.isfinite(times).any()) and synth_time:
            times, durs = timing.synthesize(data.task, data.worker, self.T, self.W, rng, timeline, durs)
            self.synthetic = True
        self.times, self.durs = times, durs
        self.has_time = times is not None and bool(np.isfinite(times).any())
        if self.has_time:
            g = timing.within_session_gaps(times, data.worker)
            self.base_gap = float(np.median(g)) if g.size else 30.0
        if durs is not None and np.isfinite(durs).any():
            med = pd.Series(durs).groupby(data.task).median().reindex(range(self.T))
            self.item_median_dur = med.fillna(np.nanmedian(durs)).to_numpy()
        else:
            self.item_median_dur = None

    # ---- helpers
    def volume(self, n: int) -> np.ndarray:
        return self.rng.choice(self.volumes, n).astype(int)

    def pick_items(self, n: int, pool: np.ndarray | None = None) -> np.ndarray:
        """``n`` distinct tasks, weighted by their label counts (Gumbel top-k)."""
        pool = np.arange(self.T) if pool is None else np.asarray(pool)
        n = int(min(n, pool.size))
        keys = np.log(self.item_w[pool]) + self.rng.gumbel(size=pool.size)
        return pool[np.argpartition(-keys, n - 1)[:n]] if n > 0 else pool[:0]

    def honest(self, tasks: np.ndarray) -> np.ndarray:
        return self.noisy(self.ref[tasks], self.honest_accuracy)

    def noisy(self, truth: np.ndarray, acc: float) -> np.ndarray:
        """Keep ``truth`` with probability ``acc``, else a uniformly drawn other class."""
        wrong = (truth + self.rng.integers(1, self.K, truth.size)) % self.K
        return np.where(self.rng.random(truth.size) < acc, truth, wrong).astype(np.int64)

    def random_labels(self, n: int) -> np.ndarray:
        return self.rng.integers(0, self.K, n).astype(np.int64)

    def class_code(self, name: str | None, default: int) -> int:
        if name is None:
            return default
        hit = np.flatnonzero(self.data.classes.astype(str) == str(name))
        if not hit.size:
            raise UserError(f"class {name!r} is not in this project's label set {list(self.data.classes)}")
        return int(hit[0])

    def majority_class(self) -> int:
        return int(np.argmax(self.ref_counts))

    def assign_times(self, p: _Planted) -> None:
        if not self.has_time or p.times is not None:
            return
        p.times, d = timing.blend_times(p.tasks.size, self.times, self.data.worker, self.durs, self.rng)
        if p.durs is None:
            p.durs = d


# --------------------------------------------------------------------------- attack behaviours

def _flip(ctx: _Context, truth: np.ndarray, prm: FlipperParams) -> np.ndarray:
    K = ctx.K
    mode = prm.mode or ("sens_spec" if K == 2 else "permutation")
    if mode == "sens_spec":
        pos = ctx.class_code(prm.positive, K - 1)
        is_pos = truth == pos
        u = ctx.rng.random(truth.size)
        other = (pos + ctx.rng.integers(1, K, truth.size)) % K
        return np.where(is_pos, np.where(u < prm.sens, pos, other),
                        np.where(u < prm.spec, truth, pos)).astype(np.int64)
    if mode == "permutation":
        perm = np.asarray(prm.permutation if prm.permutation is not None else (np.arange(K) + 1) % K)
        if perm.shape != (K,) or sorted(perm.tolist()) != list(range(K)):
            raise UserError(f"permutation must list each of the {K} class codes 0..{K - 1} once, got {perm.tolist()}")
        return np.where(ctx.rng.random(truth.size) < prm.flip_prob, perm[truth], truth).astype(np.int64)
    raise UserError(f"flipper mode must be 'sens_spec' or 'permutation', got {mode!r}")


def _pattern_labels(ctx: _Context, n: int, prm: ConstantParams) -> np.ndarray:
    if prm.pattern == "constant":
        return np.full(n, ctx.class_code(prm.label, ctx.majority_class()), np.int64)
    pat = prm.pattern.upper()
    if not pat or not pat.isalpha() or max(ord(c) - 65 for c in pat) >= ctx.K:
        raise UserError(f"pattern must be 'constant' or letters A..{chr(64 + ctx.K)} such as 'ABAB', got {prm.pattern!r}")
    cyc = np.array([ord(c) - 65 for c in pat])
    return cyc[np.arange(n) % cyc.size].astype(np.int64)


def _simple(ctx: _Context, attack: str, n_att: int, prm) -> list[_Planted]:
    """random / constant / sloppy / flipper: independent accounts with real volumes."""
    out = []
    for v in ctx.volume(n_att):
        p = _Planted(attack, ctx.pick_items(v))
        ctx.assign_times(p)
        if p.times is not None:          # label order = time order (matters for patterns)
            o = np.argsort(p.times, kind="stable")
            p.tasks, p.times = p.tasks[o], p.times[o]
            p.durs = None if p.durs is None else p.durs[o]
        truth = ctx.ref[p.tasks]
        if attack == "random":
            p.labels = ctx.random_labels(v)
        elif attack == "constant":
            p.labels = _pattern_labels(ctx, p.tasks.size, prm)
        elif attack == "sloppy":
            acc = prm.accuracy if prm.accuracy is not None else 1.0 / ctx.K + 0.1
            p.labels = ctx.noisy(truth, acc)
        else:
            p.labels = _flip(ctx, truth, prm)
        out.append(p)
    return out


def _disguised(ctx: _Context, n_att: int, prm: DisguisedParams, drop: np.ndarray) -> tuple[list[_Planted], np.ndarray, int]:
    if not 0.0 <= prm.gamma < 1.0:
        raise UserError(f"gamma (the honest share) must be in [0, 1), got {prm.gamma}")
    cstar = ctx.class_code(prm.target_class, ctx.majority_class())
    eligible = np.flatnonzero(ctx.ref != cstar)
    n_t = max(1, int(round(prm.target_share * ctx.T)))
    T = np.sort(ctx.rng.choice(eligible, min(n_t, eligible.size), replace=False))
    vols = ctx.volume(n_att)
    mal: list[np.ndarray] = [np.empty(0, np.int64) for _ in range(n_att)]
    if prm.crowd:
        by_task = np.argsort(ctx.data.task, kind="stable")
        bounds = np.searchsorted(ctx.data.task[by_task], np.stack([T, T + 1]))
        for i, lo, hi in zip(T, bounds[0], bounds[1], strict=True):
            rows = by_task[lo:hi]
            rows = rows[~drop[rows]]
            m = min(rows.size // 2 + 1, n_att)
            drop[ctx.rng.choice(rows, min(m, rows.size), replace=False)] = True
            load = np.array([a.size for a in mal]) + ctx.rng.random(n_att)   # least loaded first
            for a in np.argsort(load)[:m]:
                mal[a] = np.append(mal[a], i)
    out = []
    for a in range(n_att):
        v = int(vols[a])
        if prm.crowd:
            n_h = int(round(prm.gamma / (1.0 - prm.gamma) * mal[a].size)) if mal[a].size else v
        else:
            n_mal = int(round((1.0 - prm.gamma) * v))
            on_t = ctx.pick_items(min(n_mal, T.size), T)
            rest = n_mal - on_t.size
            others = np.setdiff1d(eligible, T, assume_unique=True)
            mal[a] = np.concatenate([on_t, ctx.pick_items(rest, others)]) if rest > 0 else on_t
            n_h = v - mal[a].size
        honest_pool = np.setdiff1d(np.arange(ctx.T), np.concatenate([T, mal[a]]))
        h = ctx.pick_items(n_h, honest_pool)
        tasks = np.concatenate([mal[a], h]).astype(np.int64)
        labels = np.concatenate([np.full(mal[a].size, cstar, np.int64), ctx.honest(h)])
        order = ctx.rng.permutation(tasks.size)
        p = _Planted("disguised", tasks[order], labels[order], targets=np.intersect1d(mal[a], T))
        ctx.assign_times(p)
        out.append(p)
    return out, T, cstar


def _colluders(ctx: _Context, n_att: int, prm: ColludersParams) -> list[_Planted]:
    if prm.group_size < 2:
        raise UserError(f"group_size must be at least 2, got {prm.group_size}")
    sizes = [prm.group_size] * (n_att // prm.group_size)
    if n_att % prm.group_size:
        sizes.append(max(n_att % prm.group_size, 2))
    out = []
    for g, s in enumerate(sizes):
        lead_tasks = ctx.pick_items(int(ctx.volume(1)[0]))
        if prm.leader == "random":
            lead = ctx.random_labels(lead_tasks.size)
        elif prm.leader == "wrong":
            lead = ctx.noisy(ctx.ref[lead_tasks], 0.0)
        else:
            raise UserError(f"leader must be 'random' or 'wrong', got {prm.leader!r}")
        out.append(_Planted("colluders", lead_tasks, lead, group=g))
        for _ in range(s - 1):
            k = max(1, int(round(prm.overlap * lead_tasks.size)))
            sel = np.sort(ctx.rng.choice(lead_tasks.size, k, replace=False))
            copy = np.where(ctx.rng.random(k) < 1.0 - prm.noise, lead[sel], ctx.random_labels(k))
            out.append(_Planted("colluders", lead_tasks[sel], copy.astype(np.int64), group=g))
    for p in out:
        ctx.assign_times(p)
    return out


def _sybils(ctx: _Context, n_att: int, prm: SybilsParams) -> tuple[list[_Planted], np.ndarray, int]:
    cstar = ctx.class_code(prm.target_class, ctx.majority_class())
    eligible = np.flatnonzero(ctx.ref != cstar)
    L = int(max(1, prm.labels_per_sybil))
    per_item = prm.per_item if prm.per_item is not None else int(np.median(np.bincount(ctx.data.task)))
    per_item = int(np.clip(per_item, 1, n_att))
    n_t = int(np.clip(int(np.ceil(n_att * L / per_item)), L, eligible.size))
    T = ctx.rng.choice(eligible, n_t, replace=False)          # cyclic order: each target ~per_item sybils
    out = []
    for j in range(n_att):
        tasks = T[(j * L + np.arange(min(L, n_t))) % n_t]
        labels = np.where(ctx.rng.random(tasks.size) < 1.0 - prm.noise, cstar, ctx.random_labels(tasks.size))
        p = _Planted("sybils", tasks.astype(np.int64), labels.astype(np.int64), targets=np.sort(tasks))
        ctx.assign_times(p)
        out.append(p)
    return out, np.sort(T), cstar


def _campaign(ctx: _Context, n_att: int, prm: CampaignParams) -> tuple[list[_Planted], np.ndarray, int]:
    if not 0.0 < prm.seek_share <= 1.0 or not 0.0 <= prm.flip_prob <= 1.0:
        raise UserError("campaign needs 0 < seek_share <= 1 and 0 <= flip_prob <= 1")
    if ctx.K < 2:
        raise UserError("a campaign needs at least two classes")
    order = np.argsort(-ctx.ref_counts, kind="stable")
    src = ctx.class_code(prm.source_class, int(order[0]))
    dst = ctx.class_code(prm.target_class, int(next(c for c in order if c != src)))
    if dst == src:
        raise UserError("the campaign's target class must differ from its source class")
    acc = prm.honest_accuracy
    if acc is None:
        pool = ctx.acc_w[ctx.n_w >= 10] if (ctx.n_w >= 10).any() else ctx.acc_w
        acc = float(np.clip(np.quantile(pool, 0.9), 1.0 / ctx.K + 0.05, 0.99))
    source_items = np.flatnonzero(ctx.ref == src)
    other_items = np.flatnonzero(ctx.ref != src)
    out, hit = [], []
    for v in ctx.volume(n_att):
        n_src = min(int(round(prm.seek_share * v)), source_items.size)
        on = ctx.pick_items(n_src, source_items)
        off = ctx.pick_items(int(v) - on.size, other_items)
        lab_on = np.where(ctx.rng.random(on.size) < prm.flip_prob, dst, ctx.noisy(ctx.ref[on], acc))
        tasks = np.concatenate([on, off]).astype(np.int64)
        labels = np.concatenate([lab_on, ctx.noisy(ctx.ref[off], acc)]).astype(np.int64)
        order_t = ctx.rng.permutation(tasks.size)
        p = _Planted("campaign", tasks[order_t], labels[order_t], targets=np.sort(on))
        ctx.assign_times(p)
        out.append(p)
        hit.append(on)
    T = np.unique(np.concatenate(hit)) if hit else np.empty(0, np.int64)
    return out, T, dst


def _burst(ctx: _Context, n_att: int, prm: BurstParams) -> list[_Planted]:
    if prm.rate_factor <= 1.0:
        raise UserError(f"rate_factor must be above 1 (how many times faster than usual), got {prm.rate_factor}")
    if not ctx.has_time:
        raise UserError("the burst attack needs timestamps: keep synth_time on for a project without times")
    group = prm.group_size if prm.cotimed else 1
    times = ctx.times[np.isfinite(ctx.times)]
    out: list[_Planted] = []
    g = 0
    while len(out) < n_att:
        tasks = ctx.pick_items(int(ctx.volume(1)[0]))
        tasks = tasks[ctx.rng.permutation(tasks.size)]
        t0 = timing.burst_times(tasks.size, float(ctx.rng.choice(times)), ctx.base_gap, prm.rate_factor, ctx.rng)
        for _ in range(min(group, n_att - len(out))):
            t = t0 + ctx.rng.uniform(0.0, prm.window_s, t0.size) if prm.cotimed else t0
            if prm.answers == "random":
                lab = ctx.random_labels(tasks.size)
            elif prm.answers == "constant":
                lab = np.full(tasks.size, ctx.majority_class(), np.int64)
            else:
                raise UserError(f"burst answers must be 'random' or 'constant', got {prm.answers!r}")
            d = None
            if ctx.item_median_dur is not None:
                d = ctx.item_median_dur[tasks] / prm.rate_factor * ctx.rng.uniform(0.8, 1.2, tasks.size)
            out.append(_Planted("burst", tasks.copy(), lab, times=t, durs=d, group=g if prm.cotimed else -1))
        g += 1
    return out


def _takeover(ctx: _Context, n_att: int, prm: TakeoverParams, labels: np.ndarray,
              mask: np.ndarray) -> list[dict]:
    """Modify original workers in place of ``labels``; returns key rows per victim."""
    if not 0.0 < prm.onset < 1.0:
        raise UserError(f"onset must be a fraction of the history in (0, 1), got {prm.onset}")
    ok = ctx.n_w >= prm.min_labels
    cand = np.flatnonzero(ok & (ctx.acc_w >= 1.0 / ctx.K + 0.2))
    if cand.size == 0:
        cand = np.flatnonzero(ok)
    if cand.size == 0:
        raise UserError(f"no original worker has {prm.min_labels} labels to take over; lower min_labels")
    victims = np.sort(ctx.rng.choice(cand, min(n_att, cand.size), replace=False))
    data = ctx.data
    t = ctx.times if ctx.has_time else np.arange(data.n, dtype=float)
    flip = FlipperParams()
    rows = []
    for w in victims:
        idx = np.flatnonzero(data.worker == w)
        idx = idx[np.lexsort((idx, t[idx]))]          # time order, ties by row
        k = int(np.floor(prm.onset * idx.size))
        post = idx[k:]
        truth = ctx.ref[data.task[post]]
        if prm.after == "flipper":
            new = _flip(ctx, truth, flip)
        elif prm.after == "random":
            new = ctx.random_labels(post.size)
        elif prm.after == "constant":
            new = np.full(post.size, ctx.majority_class(), np.int64)
        else:
            raise UserError(f"takeover 'after' must be 'flipper', 'random' or 'constant', got {prm.after!r}")
        labels[post] = new
        mask[post] = True
        rows.append({"w": int(w), "onset_index": k, "onset_time": float(t[idx[k]]) if ctx.has_time else np.nan,
                     "n_attack": int(post.size)})
    return rows


# --------------------------------------------------------------------------- ids

def new_worker_ids(existing: np.ndarray, n: int, rng: np.random.Generator) -> list[str]:
    """``n`` fresh ids shaped like the real ones (see the module docstring)."""
    ex = [str(x) for x in existing]
    taken = set(ex)
    prefix = ex[0] if ex else ""
    for s in ex[1:]:
        while not s.startswith(prefix):
            prefix = prefix[:-1]
    used = set("".join(ex))                      # draw each class from the characters real ids use
    up = "".join(sorted(c for c in used if c.isupper())) or string.ascii_uppercase
    low = "".join(sorted(c for c in used if c.islower())) or string.ascii_lowercase
    digits = "".join(sorted(c for c in used if c.isdigit())) or string.digits
    lead = digits.replace("0", "") or digits
    out: list[str] = []
    tries = 0
    while len(out) < n:
        tmpl = ex[rng.integers(len(ex))] if ex else "w0000000"
        chars = list(tmpl)
        for j in range(len(prefix), len(chars)):
            c = chars[j]
            run_start = j == 0 or j == len(prefix) or not chars[j - 1].isdigit()
            if c.isdigit():
                pool = lead if (run_start and c != "0") else digits
                chars[j] = pool[rng.integers(len(pool))]
            elif c.isupper():
                chars[j] = up[rng.integers(len(up))]
            elif c.islower():
                chars[j] = low[rng.integers(len(low))]
        cand = "".join(chars)
        tries += 1
        if tries > 50 * (n + 10):          # id space of the template too small: lengthen
            cand += str(rng.integers(10, 100))
        if cand not in taken:
            taken.add(cand)
            out.append(cand)
    return out


# --------------------------------------------------------------------------- inject

def canonical_order(data: LabelArrays) -> LabelArrays:
    """The same labels sorted by (task, worker): a seed then gives the same attack whatever
    order the rows were read in (SQL gives no order)."""
    order = np.lexsort((data.worker, data.task))
    if (order == np.arange(data.n)).all():
        return data
    pick = {f: getattr(data, f)[order] for f in ("task", "worker", "label", "submitted_at", "started_at",
                                                 "duration_s", "n_edits") if getattr(data, f) is not None}
    return dataclasses.replace(data, **pick)


def inject(data: LabelArrays, attack: str, *, share: float, seed: int,
           honest_accuracy: float | None = None, min_volume: int = 10, synth_time: bool = True,
           timeline: timing.TimelineModel | None = None, **params) -> Attacked:
    """Plant ``attack`` into a copy of ``data``; the input is never modified.

    ``share`` = attacker accounts / original workers (for ``takeover``: victims / workers);
    ``params`` are the fields of the attack's dataclass in :data:`PARAMS` (for ``all``: none).
    Returns an :class:`Attacked` with the copy, the clean copy on the same timeline, and the key.
    """
    if not 0.0 < share <= 5.0:
        raise UserError(f"share (attackers per original worker) must be in (0, 5], got {share}")
    attacks = list(ATTACKS) if attack == "all" else [attack]
    if attack == "all" and params:
        raise UserError("attack 'all' takes no attack parameters; run one attack to set them")
    prms = {a: make_params(a, **(params if attack != "all" else {})) for a in attacks}
    data = canonical_order(data)
    rng = np.random.default_rng(seed)
    ctx = _Context(data, rng, honest_accuracy, min_volume, synth_time, timeline or timing.TimelineModel())
    W = data.n_workers
    per = share / len(attacks)
    n_each = {a: max(1, int(round(per * W))) for a in attacks}
    labels = data.label.astype(np.int64).copy()
    mask_orig = np.zeros(data.n, dtype=bool)
    drop = np.zeros(data.n, dtype=bool)
    planted: list[_Planted] = []
    target_rows: list[pd.DataFrame] = []
    takeover_rows: list[dict] = []
    for a in attacks:
        prm = prms[a]
        if a in ("random", "constant", "sloppy", "flipper"):
            planted += _simple(ctx, a, n_each[a], prm)
        elif a == "disguised":
            ps, T, c = _disguised(ctx, n_each[a], prm, drop)
            planted += ps
            target_rows.append(pd.DataFrame({"task": data.task_ids[T], "target_class": data.classes[c], "attack": a}))
        elif a in ("sybils", "campaign"):
            ps, T, c = (_sybils if a == "sybils" else _campaign)(ctx, n_each[a], prm)
            planted += ps
            target_rows.append(pd.DataFrame({"task": data.task_ids[T], "target_class": data.classes[c], "attack": a}))
        elif a == "colluders":
            planted += _colluders(ctx, n_each[a], prm)
        elif a == "burst":
            planted += _burst(ctx, n_each[a], prm)
        elif a == "takeover":
            takeover_rows = _takeover(ctx, n_each[a], prm, labels, mask_orig)
    names = new_worker_ids(data.worker_ids, len(planted), rng)
    keep = ~drop
    # ---- assemble frames: originals (kept rows) then planted rows
    orig = pd.DataFrame({"task": data.task_ids[data.task], "worker": data.worker_ids[data.worker]})
    cols = {"task": [orig["task"].to_numpy()[keep]], "worker": [orig["worker"].to_numpy()[keep]],
            "label": [data.classes[labels][keep]]}
    if ctx.has_time:
        cols["submitted_at"] = [ctx.times[keep]]
    has_d = ctx.durs is not None
    if has_d:
        cols["duration_s"] = [ctx.durs[keep]]
    pmask = [mask_orig[keep]]
    for name, p in zip(names, planted, strict=True):
        cols["task"].append(data.task_ids[p.tasks])
        cols["worker"].append(np.full(p.tasks.size, name, dtype=object))
        cols["label"].append(data.classes[p.labels])
        if ctx.has_time:
            cols["submitted_at"].append(p.times)
        if has_d:
            cols["duration_s"].append(p.durs if p.durs is not None else np.full(p.tasks.size, np.nan))
        pmask.append(np.ones(p.tasks.size, dtype=bool))
    df = pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})
    gold = pd.DataFrame({"task": data.task_ids[data.gold_task], "label": data.classes[data.gold_label]})
    classes = list(data.classes)
    attacked = from_frame(df, gold=gold, classes=classes)
    clean_cols = {"task": orig["task"].to_numpy(), "worker": orig["worker"].to_numpy(),
                  "label": data.classes[data.label]}
    if ctx.has_time:
        clean_cols["submitted_at"] = ctx.times
    if has_d:
        clean_cols["duration_s"] = ctx.durs
    clean = from_frame(pd.DataFrame(clean_cols), gold=gold, classes=classes)
    # ---- answer key
    n_lab = np.bincount(attacked.worker, minlength=attacked.n_workers)
    key = pd.DataFrame({"worker": attacked.worker_ids.astype(str), "planted": False, "attack": "",
                        "modified_original": False, "group": -1, "n_labels": n_lab, "n_attack_labels": 0,
                        "takeover_onset_index": -1, "takeover_onset_time": np.nan})
    key["targets"] = [[] for _ in range(len(key))]
    pos = {w: i for i, w in enumerate(key["worker"])}
    for name, p in zip(names, planted, strict=True):
        i = pos[name]
        key.loc[i, ["planted", "attack", "group", "n_attack_labels"]] = [True, p.attack, p.group, p.tasks.size]
        key.at[i, "targets"] = [str(x) for x in data.task_ids[p.targets]]
    for r in takeover_rows:
        i = pos[str(data.worker_ids[r["w"]])]
        key.loc[i, ["planted", "attack", "modified_original", "n_attack_labels", "takeover_onset_index",
                    "takeover_onset_time"]] = [True, "takeover", True, r["n_attack"], r["onset_index"], r["onset_time"]]
    key = key.astype({"planted": bool, "modified_original": bool, "group": int, "n_attack_labels": int,
                      "takeover_onset_index": int, "takeover_onset_time": float})
    targets = (pd.concat(target_rows, ignore_index=True) if target_rows
               else pd.DataFrame({"task": pd.Series(dtype=object), "target_class": pd.Series(dtype=object),
                                  "attack": pd.Series(dtype=object)}))
    pl = {a: dataclasses.asdict(prms[a]) for a in attacks}
    return Attacked(data=attacked, clean=clean, key=key, targets=targets,
                    planted_label=np.concatenate(pmask), attack=attack, share=float(share), seed=int(seed),
                    params=pl if attack == "all" else pl[attack], reference=ctx.reference,
                    synthetic_time=ctx.synthetic)
