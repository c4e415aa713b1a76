"""Weekly batches of a labelled project, and an attack planted into one of them.

The monitoring check (issue 15) replays a project as it arrived: the labels are cut into
weekly batches by submit time (:func:`weekly_batches`; ISO weeks, Monday 00:00 UTC, empty
weeks skipped), and an attack is planted into one late batch only (:func:`plant_in_batch`):
:func:`analytics.redteam.attacks.inject` runs on that batch alone, so the attackers' volumes,
answers and times are drawn from that week's own crowd and timeline, and every planted label
falls inside the week. The batches are then ingested one after the other.

Data without timestamps gets a weekly timeline first (:func:`synthetic_weeks`): items are
served in order, a share ``1/n_weeks`` of them per week, and each label is submitted during
working hours of its item's week inside a session of its worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.dataset import from_frame
from analytics.errors import UserError

WEEK_S = 604800
_MONDAY_OFFSET_S = 345600     # the Unix epoch was a Thursday


@dataclass
class Batch:
    """One week of labels: ``start`` (Monday 00:00 UTC) and the rows submitted in that week."""

    start: pd.Timestamp
    frame: pd.DataFrame

    @property
    def name(self) -> str:
        return f"week_{self.start:%Y-%m-%d}"


@dataclass
class PlantedBatch:
    """A batch with an attack planted into it, and the answer key.

    frame : the attacked batch (original rows plus planted rows; takeover: modified rows)
    workers : planted (or taken-over) worker ids, sorted
    onset : time of the first planted label (UTC)
    """

    frame: pd.DataFrame
    workers: list[str]
    onset: pd.Timestamp
    attack: str
    share: float
    seed: int
    params: dict = field(default_factory=dict)


def _epoch(col: pd.Series) -> np.ndarray:
    ts = pd.to_datetime(col, utc=True, errors="coerce")
    return ((ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds()).to_numpy(dtype=float, na_value=np.nan)


def weekly_batches(labels: pd.DataFrame, time_col: str = "submitted_at") -> list[Batch]:
    """Cut ``labels`` into ISO weeks of ``time_col``; rows without a time raise UserError."""
    if time_col not in labels.columns:
        raise UserError(f"the labels have no {time_col!r} column to cut into weeks")
    t = _epoch(labels[time_col])
    if not np.isfinite(t).all():
        raise UserError(f"{int((~np.isfinite(t)).sum())} rows have no {time_col}; drop them or synthesise times")
    week = np.floor((t - _MONDAY_OFFSET_S) / WEEK_S).astype(np.int64)
    out = []
    for w in np.unique(week):
        start = pd.Timestamp(int(w) * WEEK_S + _MONDAY_OFFSET_S, unit="s", tz="UTC")
        out.append(Batch(start, labels.loc[week == w].reset_index(drop=True)))
    return out


def synthetic_weeks(labels: pd.DataFrame, n_weeks: int = 8, seed: int = 0,
                    start: str = "2025-01-06", median_s: float = 30.0) -> pd.DataFrame:
    """A copy of ``labels`` (task, worker, label, ...) with ``started_at``/``submitted_at``.

    Items are shuffled and served in ``n_weeks`` equal groups, one per week; a worker's labels
    in a week form one or more sessions starting on a weekday between 08:00 and 20:00 UTC,
    labels ``duration_s`` apart (kept where given, else lognormal around ``median_s``) plus
    an exponential pause of 5 s on average. ``start`` must be a Monday.
    """
    if n_weeks < 1:
        raise UserError("n_weeks must be at least 1")
    rng = np.random.default_rng(seed)
    df = labels.copy().reset_index(drop=True)
    tasks = pd.unique(df["task"].astype(str))
    order = rng.permutation(len(tasks))
    week_of_task = pd.Series(np.arange(len(tasks)) * n_weeks // max(len(tasks), 1), index=tasks[order])
    wk = week_of_task.reindex(df["task"].astype(str)).to_numpy()
    if "duration_s" in df.columns and pd.to_numeric(df["duration_s"], errors="coerce").notna().any():
        dur = pd.to_numeric(df["duration_s"], errors="coerce").to_numpy(dtype=float)
        fill = np.nanmedian(dur)
        dur = np.where(np.isfinite(dur) & (dur > 0), dur, fill)
    else:
        dur = rng.lognormal(np.log(median_s), 0.5, len(df))
    df["_wk"], df["_d"] = wk, dur
    df["_r"] = rng.random(len(df))
    df = df.sort_values(["worker", "_wk", "_r"]).reset_index(drop=True)
    pos = df.groupby(["worker", "_wk"]).cumcount().to_numpy()
    sess = pos // 40                                             # at most 40 labels per session
    keys = pd.DataFrame({"worker": df["worker"], "_wk": df["_wk"], "s": sess}).drop_duplicates()
    keys["s0"] = (pd.Timestamp(start, tz="UTC").value / 1e9 + keys["_wk"] * WEEK_S
                  + rng.integers(0, 5, len(keys)) * 86400 + rng.uniform(8, 20, len(keys)) * 3600)
    df["s"] = sess
    df = df.merge(keys, on=["worker", "_wk", "s"], how="left")
    step = df["_d"] + rng.exponential(5.0, len(df))
    df["submitted_at"] = df["s0"] + step.groupby([df["worker"], df["_wk"], df["s"]]).cumsum()
    df["started_at"] = df["submitted_at"] - df["_d"]
    for c in ("submitted_at", "started_at"):
        df[c] = pd.to_datetime(df[c], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    df["duration_s"] = df["_d"].round(1)
    return df.drop(columns=["_wk", "_d", "_r", "s", "s0"]).sort_values("submitted_at", kind="stable") \
        .reset_index(drop=True)


def plant_in_batch(batch: pd.DataFrame, attack: str, share: float, seed: int, gold: pd.DataFrame | None = None,
                   avoid_workers=(), **params) -> PlantedBatch:
    """Plant ``attack`` into one batch (task, worker, label, submitted_at[, duration_s]).

    ``share`` = attacker accounts per worker of the batch; ``params`` go to the attack;
    ``gold`` (task, label) is the reference the planted honest answers start from; planted
    ids never reuse an id of ``avoid_workers`` (workers of the other batches).
    """
    from analytics.redteam.attacks import inject

    cols = ["task", "worker", "label", "submitted_at"] + (["duration_s"] if "duration_s" in batch.columns else [])
    df = batch[cols].copy()
    df["submitted_at"] = _epoch(df["submitted_at"])
    df = df.drop_duplicates(["task", "worker"], keep="last").reset_index(drop=True)
    for c in ("task", "worker", "label"):
        df[c] = df[c].astype(str)
    data = from_frame(df, gold=gold)
    att = inject(data, attack, share=share, seed=seed, **params)
    d = att.data
    out = pd.DataFrame({"task": d.task_ids[d.task].astype(str), "worker": d.worker_ids[d.worker].astype(str),
                        "label": d.classes[d.label].astype(str)})
    sub = d.submitted_at if d.submitted_at is not None else np.full(d.n, np.nan)
    dur = d.duration_s if d.duration_s is not None else np.full(d.n, np.nan)
    key = att.key[att.key["planted"]]
    workers = sorted(key["worker"].astype(str))
    new_ids = set(key.loc[~key["modified_original"], "worker"].astype(str))
    clash = sorted(new_ids & {str(w) for w in avoid_workers})
    if clash:
        rename = {w: f"{w}x{seed}" for w in clash}
        out["worker"] = out["worker"].replace(rename)
        workers = sorted(rename.get(w, w) for w in workers)
    out["submitted_at"] = pd.to_datetime(sub, unit="s", utc=True)
    if "duration_s" in batch.columns:
        out["duration_s"] = np.round(dur, 3)
        out["started_at"] = out["submitted_at"] - pd.to_timedelta(np.nan_to_num(dur, nan=0.0), unit="s")
    onset = out.loc[att.planted_label, "submitted_at"].min()
    for c in ("submitted_at", "started_at"):
        if c in out.columns:
            out[c] = out[c].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = out.sort_values("submitted_at", kind="stable").reset_index(drop=True)
    return PlantedBatch(frame=out, workers=workers, onset=pd.Timestamp(onset), attack=attack, share=float(share),
                        seed=int(seed), params=dict(params))
