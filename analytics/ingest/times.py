"""Timestamp parsing to UTC, as DuckDB SQL expressions (applied in bulk, never row by row).

Each platform writes times its own way:

* canonical files: ISO-8601 (``2024-05-01 12:00:00``, ``2024-05-01T12:00:00Z``,
  ``...+02:00``) or Unix epoch seconds / milliseconds. A time without an offset is taken as UTC.
* MTurk batch results: ``Mon Sep 25 09:38:35 PDT 2017``; the zone abbreviation is mapped to
  its UTC offset with :data:`TZ_ABBREVIATIONS` (PDT = UTC-7, PST = UTC-8, ...).
* CrowdFlower / Figure Eight full reports: ``7/13/2014 13:48:35`` (``M/D/YYYY``), in UTC.
* Toloka and Label Studio: ISO-8601 in UTC.

A non-empty value that none of the parsers accepts becomes NULL; the validator turns it
into a quarantined row with reason ``unparseable <column>``.
"""

from __future__ import annotations

# Offsets in minutes east of UTC for the abbreviations platforms print. Ambiguous ones
# (IST, CST in China, BST in Bangladesh) are resolved to the meaning MTurk requesters use.
TZ_ABBREVIATIONS: dict[str, int] = {
    "UTC": 0, "GMT": 0, "UT": 0, "Z": 0,
    "PST": -480, "PDT": -420, "MST": -420, "MDT": -360, "CST": -360, "CDT": -300,
    "EST": -300, "EDT": -240, "AKST": -540, "AKDT": -480, "HST": -600,
    "WET": 0, "WEST": 60, "BST": 60, "CET": 60, "CEST": 120, "EET": 120, "EEST": 180,
    "MSK": 180, "IST": 330, "JST": 540, "KST": 540, "AEST": 600, "AEDT": 660,
}

_EPOCH = r"^\d{9,13}(\.\d+)?$"


def blank_to_null(col: str) -> str:
    return f"nullif(trim({col}), '')"


def iso_utc(col: str) -> str:
    """ISO-8601 or epoch text -> TIMESTAMPTZ. ``col`` must be a plain column reference.

    Relies on the session time zone being UTC while ingesting (the loader sets it), so a
    time without an offset is read as UTC and one with an offset is converted exactly.
    Numbers of 9-13 digits are Unix epoch seconds (milliseconds from 12 digits on). The
    cheap ``contains(.., '-')`` test (every ISO date has one, no epoch number does) spares
    the regular expression on ISO times, where DuckDB would otherwise run it on every row.
    """
    v = blank_to_null(col)
    num = f"TRY_CAST({v} AS DOUBLE)"
    return (
        f"coalesce(TRY_CAST({v} AS TIMESTAMPTZ), "
        f"CASE WHEN NOT contains({v}, '-') AND regexp_matches({v}, '{_EPOCH}') THEN "
        f"to_timestamp(CASE WHEN {num} >= 1e11 THEN {num} / 1000.0 ELSE {num} END) END)"
    )


def session_utc(con):
    """Context manager: the connection's TimeZone is UTC inside, restored after."""
    import contextlib

    @contextlib.contextmanager
    def _cm():
        old = con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
        con.execute("SET SESSION TimeZone = 'UTC'")
        try:
            yield
        finally:
            con.execute(f"SET SESSION TimeZone = '{old}'")

    return _cm()


def _abbrev_case(token: str) -> str:
    whens = " ".join(f"WHEN '{k}' THEN {m}" for k, m in TZ_ABBREVIATIONS.items())
    return f"(CASE {token} {whens} END)"


def mturk_utc(col: str) -> str:
    """``Mon Sep 25 09:38:35 PDT 2017`` -> TIMESTAMPTZ in UTC; falls back to :func:`iso_utc`."""
    v = blank_to_null(col)
    token = f"regexp_extract({v}, '\\s([A-Za-z]{{1,5}})\\s+\\d{{4}}$', 1)"
    local = f"try_strptime(regexp_replace({v}, '\\s[A-Za-z]{{1,5}}(\\s+\\d{{4}})$', '\\1'), '%a %b %d %H:%M:%S %Y')"
    mturk = f"({local}::TIMESTAMPTZ - to_minutes({_abbrev_case('upper(' + token + ')')}))"
    return f"coalesce({mturk}, {iso_utc(col)})"


def crowdflower_utc(col: str) -> str:
    """``7/13/2014 13:48:35`` (UTC) -> TIMESTAMPTZ; falls back to :func:`iso_utc`."""
    v = blank_to_null(col)
    return (
        f"coalesce(try_strptime({v}, '%m/%d/%Y %H:%M:%S')::TIMESTAMPTZ, "
        f"try_strptime({v}, '%m/%d/%Y %H:%M')::TIMESTAMPTZ, {iso_utc(col)})"
    )
