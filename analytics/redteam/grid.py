"""Parameter sweeps: the scorecard as a function of one attack parameter (share, gamma, ...).

detection-methods.md §6.2 step 5: accuracy and attack success against the attacker share
(and the disguise gamma), with and without the defence (banning the flagged workers and
re-aggregating). :func:`sweep` returns one summary row per (attack type, value), ready for
the dashboard's red-team charts (app/charts.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from analytics.dataset import LabelArrays
from analytics.errors import UserError
from analytics.redteam.attacks import ATTACKS, PARAMS
from analytics.redteam.scorecard import Analyze, ScoreSettings, evaluate, summarize


def parse_value(text: str):
    """'true'/'false' -> bool, '3' -> int, '0.5' -> float, '1,0' -> tuple of ints, else the text."""
    t = str(text).strip()
    if t.lower() in ("true", "yes", "on"):
        return True
    if t.lower() in ("false", "no", "off"):
        return False
    if "," in t:
        parts = [p.strip() for p in t.split(",") if p.strip()]
        try:
            return tuple(int(p) for p in parts)
        except ValueError:
            return t
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            continue
    return t


def parse_grid(spec: str) -> tuple[str, list]:
    """``'share=0.05,0.1,0.2'`` -> ('share', [0.05, 0.1, 0.2])."""
    name, sep, vals = str(spec).partition("=")
    values = [parse_value(v) for v in vals.split(",") if v.strip()]
    if not sep or not name.strip() or not values:
        raise UserError(f"--grid must look like share=0.05,0.1,0.2 (a parameter, '=', comma-separated values), got {spec!r}")
    return name.strip(), values


def sweep(data: LabelArrays, attack: str, param: str, values, *, share: float = 0.1, seeds=3,
          analyze: Analyze | None = None, score_settings: ScoreSettings | None = None,
          progress: Callable[[float, str], None] | None = None, **params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the scorecard for every value of ``param`` ('share' or a field of the attack's parameters).

    Returns (summary, per-seed rows); both carry a column named ``param``.
    """
    score_settings = score_settings or ScoreSettings()
    attacks = list(ATTACKS) if attack == "all" else [attack]
    if param != "share":
        import dataclasses
        for a in attacks:
            if a not in PARAMS or param not in {f.name for f in dataclasses.fields(PARAMS[a])}:
                raise UserError(f"cannot sweep {param!r}: attack {a!r} has no such parameter (sweep 'share' or one of "
                                f"{', '.join(f.name for f in dataclasses.fields(PARAMS[a])) or 'none'})")
    values = list(values)
    if not values:
        raise UserError("the grid needs at least one value")
    frames = []
    for i, v in enumerate(values):
        def sub(frac, msg, i=i, v=v):
            if progress:
                progress((i + frac) / len(values), f"{param}={v}: {msg}")
        kw = dict(params)
        sh = share
        if param == "share":
            sh = float(v)
        else:
            kw[param] = v
        rows = evaluate(data, attack, share=sh, seeds=seeds, analyze=analyze, score_settings=score_settings,
                        progress=sub, **kw)
        rows[param] = v
        frames.append(rows)
    rows = pd.concat(frames, ignore_index=True)
    summary = summarize(rows, by=("attack", param), interval=score_settings.interval)
    if param == "share":
        summary[param] = summary[param].astype(float)
    return summary, rows


def long_form(summary: pd.DataFrame, param: str, metrics: tuple[str, ...]) -> pd.DataFrame:
    """Plotly-ready long table: attack, ``param``, metric, value, lo, hi."""
    out = []
    for m in metrics:
        if m not in summary.columns:
            continue
        out.append(pd.DataFrame({"attack": summary["attack"], param: summary[param], "metric": m,
                                 "value": summary[m], "lo": summary.get(f"{m}_lo", np.nan),
                                 "hi": summary.get(f"{m}_hi", np.nan)}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(
        columns=["attack", param, "metric", "value", "lo", "hi"])
