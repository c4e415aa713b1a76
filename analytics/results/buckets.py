"""Time buckets for the activity charts: a readable width for a range, and its SQL key."""

from __future__ import annotations

import pandas as pd

from analytics.errors import UserError


def time_bucket(first_at, last_at) -> str:
    """A readable bucket width for a time range: minute, hour, day or week (at most 400 buckets)."""
    if first_at is None or last_at is None:
        return "day"
    seconds = (pd.Timestamp(last_at) - pd.Timestamp(first_at)).total_seconds()
    for unit, width in (("minute", 60), ("hour", 3600), ("day", 86400)):
        if seconds / width <= 400:
            return unit
    return "week"


def _check_unit(unit: str) -> None:
    if unit not in _BUCKET_SECONDS:
        raise UserError(f"unknown time bucket {unit!r}; use {', '.join(_BUCKET_SECONDS)}")


# Bucket widths in seconds and offsets (weeks start on Monday; the Unix epoch was a Thursday).
_BUCKET_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}


_BUCKET_OFFSET = {"week": 345600}


def _bucket_key(unit: str, col: str = "ts") -> tuple[str, str]:
    """(numeric bucket key over ``col``, expression turning key ``b`` back into a UTC timestamp).

    Arithmetic on epoch seconds: ``date_trunc`` on TIMESTAMPTZ goes through the time-zone
    library and is several times slower on a million rows.
    """
    _check_unit(unit)
    w, off = _BUCKET_SECONDS[unit], _BUCKET_OFFSET.get(unit, 0)
    return f"floor((epoch({col}) - {off}) / {w})::BIGINT", f"to_timestamp(b * {w} + {off})"


def _to_ts(v):
    if isinstance(v, int | float) and not isinstance(v, bool):
        return pd.Timestamp(v, unit="s", tz="UTC")
    return pd.Timestamp(v).tz_convert("UTC") if pd.Timestamp(v).tzinfo else pd.Timestamp(v, tz="UTC")
