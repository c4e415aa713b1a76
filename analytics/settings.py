"""One validated settings object for the whole analysis.

:class:`AnalysisSettings` holds every setting an analysis run reads, in four documented groups:

- ``trust``: the verdict (:class:`analytics.trust.TrustSettings`: model, FDR level, weights,
  thresholds);
- ``reliability``: worker reliability and gold evidence (:class:`analytics.workers.WorkerReliability`);
- ``behaviour``: every behaviour detector (:class:`analytics.behaviour.BehaviourSettings`);
- ``collusion``: the collusion detector (:class:`analytics.collusion.CollusionDetector`).

Values are checked at the boundary (:meth:`AnalysisSettings.from_dict`): unknown names, wrong
types and out-of-range values raise a :class:`~analytics.errors.UserError` that names the
setting and what it accepts. The object is recorded with every run (``runs.params``), stored per
project (``projects.settings``), edited on the Settings page and read from a TOML or JSON file
on the command line (``--settings FILE``, :func:`load_settings_file`), e.g.::

    [trust]
    fdr_q = 0.05

    [behaviour.burst]
    min_rate_ratio = 4.0

    [collusion]
    cotiming_window_s = 5.0

A project stored before this object existed kept only the verdict's settings as a flat
dict; :meth:`from_dict` still reads that form.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from analytics.behaviour import DETECTORS, BehaviourSettings
from analytics.collusion import CollusionDetector
from analytics.errors import UserError
from analytics.trust import TrustSettings
from analytics.workers import WorkerReliability

GROUPS = ("trust", "reliability", "behaviour", "collusion")

# Name patterns with a natural range, for the detector settings that have no validate() of
# their own: probabilities and shares lie in (0, 1); counts and sizes are >= 0.
_UNIT = ("alpha", "_p", "fraction", "share", "quantile", "_q", "disagreement", "tolerance")
_NONNEG_PREFIX = ("min_", "max_", "n_")


@dataclass
class AnalysisSettings:
    """Every setting of an analysis run (see the module docstring)."""

    trust: TrustSettings = field(default_factory=TrustSettings)
    reliability: WorkerReliability = field(default_factory=WorkerReliability)
    behaviour: BehaviourSettings = field(default_factory=BehaviourSettings)
    collusion: CollusionDetector = field(default_factory=CollusionDetector)

    # -- the two forms ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain, JSON-serialisable settings (no fitted attributes)."""
        return {"trust": self.trust.to_dict(), "reliability": _plain_fields(self.reliability),
                "behaviour": self.behaviour.to_dict(), "collusion": _plain_fields(self.collusion)}

    @classmethod
    def from_dict(cls, d: dict | None) -> AnalysisSettings:
        """Validated settings from a (partial) dict; missing groups and fields keep their defaults."""
        if not d:
            return cls()
        if not isinstance(d, dict):
            raise UserError("settings must be a table of groups: trust, reliability, behaviour, collusion")
        if not set(d) & set(GROUPS):                   # the flat verdict-only form of older projects
            return cls(trust=TrustSettings.from_dict(d))
        unknown = set(d) - set(GROUPS)
        if unknown:
            raise UserError(f"unknown settings group(s) {', '.join(sorted(unknown))}; "
                            f"choose from {', '.join(GROUPS)}")
        out = cls(
            trust=TrustSettings.from_dict(_table(d, "trust")),
            reliability=_build(WorkerReliability, _table(d, "reliability"), "reliability"),
            behaviour=_behaviour(_table(d, "behaviour")),
            collusion=_build(CollusionDetector, _table(d, "collusion"), "collusion"),
        )
        out.validate()
        return out

    def validate(self) -> None:
        """Check every group; raises UserError naming the first bad setting."""
        self.trust.validate()
        _check_fields(self.reliability, "reliability")
        _check_fields(self.collusion, "collusion")
        self.collusion.validate()
        for name in DETECTORS:
            det = getattr(self.behaviour, name)
            _check_fields(det, f"behaviour.{name}")
            check = getattr(det, "_validate", None)
            if check is not None:
                check()

    @property
    def method(self) -> str:
        return self.trust.method

    def replace(self, **trust_changes) -> AnalysisSettings:
        """A copy with some verdict settings changed (e.g. ``method``, ``use_gold``)."""
        return dataclasses.replace(self, trust=TrustSettings.from_dict({**self.trust.to_dict(), **trust_changes}))


def as_settings(settings: AnalysisSettings | TrustSettings | dict | None) -> AnalysisSettings:
    """Accept the whole object, the verdict's part alone, a dict, or None (defaults)."""
    if settings is None:
        return AnalysisSettings()
    if isinstance(settings, AnalysisSettings):
        return settings
    if isinstance(settings, TrustSettings):
        return AnalysisSettings(trust=settings)
    if isinstance(settings, dict):
        return AnalysisSettings.from_dict(settings)
    raise TypeError(f"settings must be AnalysisSettings, TrustSettings or a dict, not {type(settings).__name__}")


def load_settings_file(path: str | Path) -> AnalysisSettings:
    """Read settings from a TOML (``.toml``) or JSON file; a UserError names the file and the problem."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such settings file")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() == ".toml":
            raw = tomllib.loads(text)
        elif p.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            raise UserError(f"{p}: settings files must end in .toml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{p}: not valid {p.suffix.lstrip('.').upper()}: {exc}") from None
    try:
        return AnalysisSettings.from_dict(raw)
    except UserError as exc:
        raise UserError(f"{p}: {exc}") from None


# ----------------------------------------------------------------------------- helpers

def _plain_fields(obj) -> dict:
    return {f.name: (list(v) if isinstance(v := getattr(obj, f.name), tuple) else v)
            for f in fields(obj) if f.init}


def _table(d: dict, name: str) -> dict:
    v = d.get(name) or {}
    if not isinstance(v, dict):
        raise UserError(f"settings group {name} must be a table of name = value")
    return v


def _build(klass, values: dict, group: str):
    names = {f.name for f in fields(klass) if f.init}
    unknown = set(values) - names
    if unknown:
        raise UserError(f"unknown {group} setting(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}")
    obj = klass(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    _check_fields(obj, group)
    return obj


def _behaviour(values: dict) -> BehaviourSettings:
    out = BehaviourSettings.from_dict(values)
    for name in DETECTORS:
        _check_fields(getattr(out, name), f"behaviour.{name}")
    return out


def _check_fields(obj, group: str) -> None:
    """Types against the defaults, and the natural range of probabilities and counts."""
    defaults = type(obj)()
    for f in fields(obj):
        if not f.init:
            continue
        v, d = getattr(obj, f.name), getattr(defaults, f.name)
        where = f"{group} setting {f.name}"
        if v is None and "None" in str(f.type):
            continue
        if isinstance(d, bool):
            if not isinstance(v, bool):
                raise UserError(f"{where} must be true or false, got {v!r}")
        elif isinstance(d, int) and not isinstance(d, bool):
            if isinstance(v, bool) or not isinstance(v, int):
                raise UserError(f"{where} must be a whole number, got {v!r}")
            if f.name.startswith(_NONNEG_PREFIX) and v < 0:
                raise UserError(f"{where} must be >= 0, got {v}")
        elif isinstance(d, float):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (math.isnan(v)):
                raise UserError(f"{where} must be a number, got {v!r}")
            if f.name.endswith(_UNIT) and not (0 < v < 1):
                raise UserError(f"{where} must be between 0 and 1, got {v}")
            if f.name.startswith(_NONNEG_PREFIX) and v < 0:
                raise UserError(f"{where} must be >= 0, got {v}")
        elif isinstance(d, tuple):
            if not isinstance(v, (tuple, list)) or not all(isinstance(x, (int, float, str)) for x in v):
                raise UserError(f"{where} must be a list, got {v!r}")
