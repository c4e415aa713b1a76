"""The attack catalogue's parameters: one frozen dataclass per attack of
:mod:`analytics.redteam.attacks` (detection-methods.md §4, §6.2), validated by :func:`make_params`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from analytics.errors import UserError

ATTACKS: tuple[str, ...] = ("random", "constant", "sloppy", "flipper", "disguised", "colluders",
                            "sybils", "burst", "takeover", "campaign")
TARGETED: frozenset[str] = frozenset({"disguised", "sybils", "campaign"})


# --------------------------------------------------------------------------- parameters

@dataclass(frozen=True)
class RandomParams:
    """A1: every answer uniformly random over the classes."""


@dataclass(frozen=True)
class ConstantParams:
    """A2: ``pattern='constant'`` answers ``label`` (default: the most common reference class)
    everywhere; a letter pattern such as ``'ABAB'`` or ``'AABB'`` cycles classes[0], classes[1],
    ... in time order."""

    pattern: str = "constant"   #: 'constant' or a pattern of letters A, B, C ... (A = first class)
    label: str | None = None    #: the constant answer (a class name); None = most common class


@dataclass(frozen=True)
class SloppyParams:
    """A3: correct with probability ``accuracy`` (None = 1/K + 0.1), else a random other class."""

    accuracy: float | None = None


@dataclass(frozen=True)
class FlipperParams:
    """A4: class-biased flipper.

    Mode ``'sens_spec'`` (default for two classes): on items whose reference is ``positive``
    answer it with probability ``sens`` (else a random other class), elsewhere keep the
    reference with probability ``spec`` (else answer ``positive``). Mode ``'permutation'``
    (default for more classes): answer ``permutation[c]`` with probability ``flip_prob``
    (default permutation: c -> c+1 mod K), else the reference.
    """

    mode: str | None = None                    #: 'sens_spec' | 'permutation' | None (by K)
    sens: float = 0.0                          #: P(answer positive | reference positive)
    spec: float = 0.9                          #: P(keep reference | reference not positive)
    positive: str | None = None                #: positive class name (None = the last class)
    permutation: tuple[int, ...] | None = None  #: class code mapping (None = shift by one)
    flip_prob: float = 0.9                     #: permutation mode: P(answer the permuted class)


@dataclass(frozen=True)
class DisguisedParams:
    """A5: honest on a share ``gamma`` of its items; pushes ``target_class`` (c*) on the
    target set T (a share ``target_share`` of items whose reference is not c*). Malicious
    slots go to T first, the rest push c* on other non-c* items. ``crowd=True``: on every
    target with r labels the attackers take floor(r/2)+1 of the r slots (honest labels
    displaced), so they hold a local majority (detection-methods.md §4.3)."""

    gamma: float = 0.7
    target_share: float = 0.05
    target_class: str | None = None   #: None = the most common reference class
    crowd: bool = False


@dataclass(frozen=True)
class ColludersParams:
    """A6: groups of ``group_size`` accounts; the leader answers as ``leader`` ('random' or
    'wrong': always a wrong class), each follower labels a share ``overlap`` of the leader's
    items and copies its answer with probability 1 - ``noise``, else answers at random."""

    group_size: int = 5
    noise: float = 0.2
    leader: str = "random"
    overlap: float = 1.0


@dataclass(frozen=True)
class SybilsParams:
    """A7 (TDSSA-like, Yuan et al.): each sybil labels ``labels_per_sybil`` items of a shared
    target set, answering ``target_class`` with probability 1 - ``noise``; the target set is
    sized so that every target gets about ``per_item`` sybil labels (default: as many as the
    item's usual number of labels, capped by the number of sybils), enough to contest it."""

    labels_per_sybil: int = 5
    per_item: int | None = None       #: sybil labels per target; None = median labels per item
    noise: float = 0.0
    target_class: str | None = None   #: None = the most common reference class


@dataclass(frozen=True)
class BurstParams:
    """A8: a bot answering (``answers`` 'random' or 'constant') all its labels in one burst at
    ``rate_factor`` times the usual within-session rate, with durations of the item's median
    divided by ``rate_factor``; ``cotimed=True`` forms groups of ``group_size`` bots that label
    the same items within ``window_s`` seconds of each other."""

    rate_factor: float = 10.0
    answers: str = "random"
    cotimed: bool = False
    group_size: int = 5
    window_s: float = 5.0


@dataclass(frozen=True)
class TakeoverParams:
    """A9: original workers with at least ``min_labels`` labels whose accuracy against the
    reference is at least chance + 0.2 are taken over at the label with index
    ``floor(onset * n)`` of their time-ordered history; from there they answer as ``after``
    ('flipper' with :class:`FlipperParams` defaults, 'random' or 'constant')."""

    onset: float = 0.5
    after: str = "flipper"
    min_labels: int = 20


@dataclass(frozen=True)
class CampaignParams:
    """A10: a targeted campaign. Each account draws a share ``seek_share`` of its items from
    those whose reference is ``source_class`` (default: the most common reference class, so
    that there are enough items to seek out), answers ``target_class`` there (default: the
    next most common class) with probability ``flip_prob``, and answers every other item like a good honest
    worker, correct with probability ``honest_accuracy`` (default: the 90th percentile of the
    original workers' accuracy). Unlike the disguised attacker it is honest wherever it is not
    attacking, and it does not crowd items; unlike the flipper it concentrates on one class."""

    source_class: str | None = None
    target_class: str | None = None
    seek_share: float = 0.5
    flip_prob: float = 0.9
    honest_accuracy: float | None = None


PARAMS: dict[str, type] = {
    "random": RandomParams, "constant": ConstantParams, "sloppy": SloppyParams,
    "flipper": FlipperParams, "disguised": DisguisedParams, "colluders": ColludersParams,
    "sybils": SybilsParams, "burst": BurstParams, "takeover": TakeoverParams, "campaign": CampaignParams,
}


def make_params(attack: str, **params):
    """Validate ``attack`` and build its parameter dataclass (UserError on unknown names)."""
    if attack not in PARAMS:
        raise UserError(f"unknown attack {attack!r}; choose one of {', '.join(ATTACKS)} or 'all'")
    cls = PARAMS[attack]
    names = {f.name for f in dataclasses.fields(cls)}
    bad = sorted(set(params) - names)
    if bad:
        allowed = ", ".join(sorted(names)) or "none"
        raise UserError(f"attack {attack!r} has no parameter {bad[0]!r} (its parameters: {allowed})")
    return cls(**params)
