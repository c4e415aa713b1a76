"""Behavioural anomaly detectors (detection-methods.md §2; issue 4, item 1).

One detector per module, each a dataclass whose fields are its documented settings and
whose ``fit(data, consensus)`` sets ``scores_`` and ``signals_`` as
:mod:`analytics.evidence` specifies:

========================  ===============  ==================================================
module / class            signal           test
========================  ===============  ==================================================
burst.BurstDetector       ``burst``        busiest 1/5/15-min window vs own rate (Poisson /
                                           negative binomial, scan-corrected) and vs crowd
                                           (robust z)
speed.TooFastDetector     ``fast``         item-aware speed (median polish) *and* agreement
                                           of the fast answers (binomial)
speed.FastSubmitRule      ``toloka_fast``  Toloka "k of the last N under T seconds" rule
patterns.StraightLining   ``straightline`` longest run vs chance (Poisson clumping)
patterns.RepeatingPattern ``pattern``      lag-L repeats (ABAB...) vs chance
skew.LabelSkewDetector    ``skew``         G-test + Jensen-Shannon vs crowd-predicted histogram
drift.DriftDetector       ``drift``        Bernoulli CUSUM with simulated ARL0, onset
churn.EditChurnDetector   ``churn``        beta-binomial share of changed answers
========================  ===============  ==================================================

:func:`fit_behaviour` fits all of them sharing one :class:`BehaviourContext` (sort order,
leave-worker-out posteriors); :func:`run_behaviour` also stacks their outputs with :func:`collect`. Detectors that need
timestamps or durations return NaN scores and no signals when the log has none.

Example
-------
>>> from analytics.aggregate import aggregate
>>> from analytics.dataset import from_frame
>>> from analytics.examples import tiny_crowd_frame
>>> data = from_frame(tiny_crowd_frame())   # task, worker, label, submitted_at, duration_s, n_edits
>>> scores, signals = run_behaviour(data, aggregate(data, "ds"))
>>> fired = signals.query("fired")
>>> sorted(zip(data.worker_ids[fired["worker"]], fired["signal"]))
[('bot', 'burst'), ('bot', 'fast'), ('constant', 'skew'), ('constant', 'straightline'), ('cycler', 'pattern'), ('drifter', 'drift')]
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import pandas as pd

from analytics.behaviour.burst import BurstDetector
from analytics.behaviour.churn import EditChurnDetector
from analytics.behaviour.context import BehaviourContext
from analytics.behaviour.drift import DriftDetector
from analytics.behaviour.patterns import RepeatingPattern, StraightLining
from analytics.behaviour.skew import LabelSkewDetector
from analytics.behaviour.speed import FastSubmitRule, TooFastDetector
from analytics.consensus import Consensus
from analytics.dataset import LabelArrays
from analytics.errors import UserError
from analytics.evidence import SIGNAL_COLUMNS, empty_signals

__all__ = [
    "BehaviourContext", "BehaviourSettings", "BurstDetector", "DriftDetector", "EditChurnDetector",
    "FastSubmitRule", "LabelSkewDetector", "RepeatingPattern", "StraightLining", "TooFastDetector",
    "collect", "fit_behaviour", "run_behaviour",
]


@dataclass
class BehaviourSettings:
    """Settings of every behaviour detector, one documented dataclass each.

    Attributes
    ----------
    enabled : names of the detectors to run (keys of :data:`DETECTORS`)
    burst, fast, toloka_fast, straightline, pattern, skew, drift, churn : the detectors'
        own settings (see each class)
    """

    enabled: tuple[str, ...] = ("burst", "fast", "toloka_fast", "straightline", "pattern", "skew",
                                "drift", "churn")
    burst: BurstDetector = field(default_factory=BurstDetector)
    fast: TooFastDetector = field(default_factory=TooFastDetector)
    toloka_fast: FastSubmitRule = field(default_factory=FastSubmitRule)
    straightline: StraightLining = field(default_factory=StraightLining)
    pattern: RepeatingPattern = field(default_factory=RepeatingPattern)
    skew: LabelSkewDetector = field(default_factory=LabelSkewDetector)
    drift: DriftDetector = field(default_factory=DriftDetector)
    churn: EditChurnDetector = field(default_factory=EditChurnDetector)

    def to_dict(self) -> dict:
        """Plain settings (no fitted attributes), JSON-serialisable."""
        out: dict = {"enabled": list(self.enabled)}
        for name in DETECTORS:
            det = getattr(self, name)
            out[name] = {f.name: _plain(getattr(det, f.name)) for f in fields(det) if f.init}
        return out

    @classmethod
    def from_dict(cls, d: dict) -> BehaviourSettings:
        """Inverse of :meth:`to_dict`; unknown names raise a UserError."""
        kw: dict = {}
        for key, val in d.items():
            if key == "enabled":
                bad = set(val) - set(DETECTORS)
                if bad:
                    raise UserError(f"unknown behaviour detector(s) {sorted(bad)}; choose from {list(DETECTORS)}")
                kw["enabled"] = tuple(val)
            elif key in DETECTORS:
                klass = DETECTORS[key]
                names = {f.name for f in fields(klass) if f.init}
                bad = set(val) - names
                if bad:
                    raise UserError(f"unknown setting(s) {sorted(bad)} for behaviour detector {key}")
                kw[key] = klass(**{k: tuple(v) if isinstance(v, list) else v for k, v in val.items()})
            else:
                raise UserError(f"unknown behaviour settings key {key!r}")
        return cls(**kw)


def _plain(v):
    return list(v) if isinstance(v, tuple) else v


DETECTORS = {
    "burst": BurstDetector, "fast": TooFastDetector, "toloka_fast": FastSubmitRule,
    "straightline": StraightLining, "pattern": RepeatingPattern, "skew": LabelSkewDetector,
    "drift": DriftDetector, "churn": EditChurnDetector,
}


def run_behaviour(data: LabelArrays, consensus: Consensus, settings: BehaviourSettings | None = None,
                  progress=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit every enabled behaviour detector and return ``(scores, signals)`` stacked by
    :func:`collect`: scores indexed by worker code, signals in :data:`SIGNAL_COLUMNS`."""
    return collect(fit_behaviour(data, consensus, settings, progress))


def fit_behaviour(data: LabelArrays, consensus: Consensus, settings: BehaviourSettings | None = None,
                  progress=None) -> list:
    """Fit every enabled behaviour detector on fresh copies of the configured ones.

    ``progress``, if given, is called as ``progress(name, i, n)`` before each detector.
    Returns the fitted detectors in :data:`DETECTORS` order.
    """
    settings = settings or BehaviourSettings()
    ctx = BehaviourContext.build(data, consensus)
    names = [n for n in DETECTORS if n in settings.enabled]
    out = []
    for i, name in enumerate(names):
        if progress is not None:
            progress(name, i, len(names))
        proto = getattr(settings, name)
        det = type(proto)(**{f.name: getattr(proto, f.name) for f in fields(proto) if f.init})
        out.append(det.fit(data, consensus, context=ctx))
    return out


def collect(detectors: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Join the detectors' ``scores_`` column-wise and stack their ``signals_``."""
    if not detectors:
        return pd.DataFrame(), empty_signals()
    scores = pd.concat([d.scores_ for d in detectors], axis=1)
    sigs = [d.signals_ for d in detectors if len(d.signals_)]
    signals = pd.concat(sigs, ignore_index=True)[SIGNAL_COLUMNS] if sigs else empty_signals()
    return scores, signals

