"""The bundled demo workspace.

Two projects:

``act-cf-weather`` (real data)
    The weather-sentiment judgments of Venanzi et al. re-collected on Amazon Mechanical
    Turk, as shipped by the ActiveCrowdToolkit (Apache-2.0; see data/demo/README.md):
    6,030 labels, 110 workers, 300 tasks, 5 classes, gold for every task, time spent per
    label (no timestamps).

``reviews-simulated`` (generated here, seed 7)
    A three-class review-moderation project simulated by :func:`simulate_reviews` with real
    timestamps: honest workers with their own confusion matrices and working sessions, plus
    planted attackers so every detector has something to show - random spammers, a
    constant answerer, a label flipper, a burst bot, a colluding ring that copies its leader
    within seconds, and an account taken over half-way. The answer key is written next to
    the workspace as ``demo_key.csv``; the analysis never sees it.

``moderation-weekly`` (generated here, seed 7): a poisoned batch after clean weeks
    Six weeks of an honest crowd (:func:`analytics.redteam.weekly_crowds.weekly_crowd`) arrive one
    weekly batch at a time; after each, the project is analysed and its labels are delivered
    as an export (``<workspace>/deliveries/``; in an encrypted workspace only the sealed archive
    copies are kept). The last week carries planted random spammers
    (:func:`analytics.redteam.batches.plant_in_batch`): the alert rules fire after that batch,
    and an incident opened from the alert is contained and repaired (corrected exports in
    ``<workspace>/incidents/1/``), so the Monitoring and Incidents pages and the incident
    report have something to show. Its answer key is ``weekly_key.json``.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
REAL_PROJECT = "act-cf-weather"
SIM_PROJECT = "reviews-simulated"
WEEKLY_PROJECT = "moderation-weekly"
CLASSES = np.array(["negative", "neutral", "positive"])


def _hexid(rng: np.random.Generator, n: int) -> np.ndarray:
    """Worker ids shaped like MTurk's (A + 12-13 upper-case alphanumerics)."""
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    return np.array(["A" + "".join(rng.choice(alphabet, size=13)) for _ in range(n)])


def simulate_reviews(seed: int = 7, n_tasks: int = 1500, n_honest: int = 70, redundancy: int = 5,
                     start: str = "2026-10-05") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Simulate a labelled project with timestamps and planted attackers.

    Returns (labels, gold, key): labels in canonical columns (task, worker, label,
    started_at, submitted_at), gold for 15% of tasks, and the answer key (worker, attack).
    """
    rng = np.random.default_rng(seed)
    K = len(CLASSES)
    truth = rng.choice(K, size=n_tasks, p=[0.3, 0.25, 0.45])
    task_ids = np.array([f"rev-{i:05d}" for i in range(n_tasks)])
    effort = rng.lognormal(np.log(25), 0.35, size=n_tasks)        # median seconds per item

    # Honest workers: accuracy 0.65-0.95, errors spread over the other classes; volume lognormal.
    acc = rng.uniform(0.65, 0.95, size=n_honest)
    speed = rng.lognormal(0, 0.3, size=n_honest)
    weights = rng.lognormal(0, 0.8, size=n_honest)
    honest_ids = _hexid(rng, n_honest)
    # Each task gets `redundancy` distinct honest workers (Gumbel top-k by volume weight).
    g = np.log(weights)[None, :] + rng.gumbel(size=(n_tasks, n_honest))
    slots = np.argsort(-g, axis=1)[:, :redundancy]
    t_idx = np.repeat(np.arange(n_tasks), redundancy)
    w_idx = slots.ravel()
    correct = rng.random(t_idx.size) < acc[w_idx]
    wrong = (truth[t_idx] + rng.integers(1, K, size=t_idx.size)) % K
    lab = np.where(correct, truth[t_idx], wrong)
    rows = pd.DataFrame({"t": t_idx, "w": honest_ids[w_idx], "y": lab, "speed": speed[w_idx]})

    key = [(w, "honest") for w in honest_ids]
    attackers: list[pd.DataFrame] = []

    def plant(kind: str, n_items: int, answer_fn, speed_mult: float = 1.0, items=None) -> str:
        wid = _hexid(rng, 1)[0]
        its = items if items is not None else rng.choice(n_tasks, size=n_items, replace=False)
        attackers.append(pd.DataFrame({"t": its, "w": wid, "y": answer_fn(its), "speed": speed_mult}))
        key.append((wid, kind))
        return wid

    for _ in range(3):
        plant("random", int(rng.integers(60, 160)), lambda its: rng.integers(0, K, size=its.size), 0.5)
    plant("constant", 120, lambda its: np.full(its.size, 2), 0.4)
    plant("flipper", 140, lambda its: np.where(rng.random(its.size) < 0.85, (truth[its] + 1) % K, truth[its]))
    bot = plant("burst", 150, lambda its: rng.integers(0, K, size=its.size), 0.08)
    # Colluding ring: 4 accounts push "positive" on 60 shared items, copying a leader within seconds.
    ring_items = rng.choice(n_tasks, size=60, replace=False)
    ring = [plant("colluder", 0, lambda its: np.full(its.size, 2), 0.6, items=ring_items) for _ in range(4)]
    frame = pd.concat([rows, *attackers], ignore_index=True)
    frame["w"] = frame["w"].astype(str)

    # Timestamps: each worker works in sessions; consecutive items are one duration apart.
    t0 = pd.Timestamp(start, tz="UTC").value / 1e9
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    frame["dur"] = effort[frame["t"]] * frame["speed"] * rng.lognormal(0, 0.25, size=len(frame))
    frame["seq"] = frame.groupby("w").cumcount()
    frame["session"] = frame["seq"] // 25
    sessions = frame[["w", "session"]].drop_duplicates().reset_index(drop=True)
    day = rng.integers(0, 21, size=len(sessions))
    hour = np.clip(rng.normal(15, 3, size=len(sessions)), 6, 23)
    sessions["s0"] = t0 + day * 86400 + hour * 3600
    frame = frame.merge(sessions, on=["w", "session"])
    frame = frame.sort_values(["w", "seq"]).reset_index(drop=True)
    gap = frame["dur"] + rng.exponential(4, size=len(frame))
    frame["submitted"] = frame["s0"] + gap.groupby([frame["w"], frame["session"]]).cumsum()
    # The burst bot answers everything within one 12-minute window.
    is_bot = frame["w"] == bot
    nb = int(is_bot.sum())
    frame.loc[is_bot, "submitted"] = t0 + 9 * 86400 + 20 * 3600 + np.sort(rng.uniform(0, 720, size=nb))
    frame.loc[is_bot, "dur"] = rng.uniform(1.5, 4, size=nb)
    # The ring submits each shared item within seconds of its leader.
    leader = frame[frame["w"] == ring[0]].set_index("t")["submitted"]
    for member in ring[1:]:
        m = frame["w"] == member
        frame.loc[m, "submitted"] = leader.reindex(frame.loc[m, "t"]).to_numpy() + rng.uniform(2, 25, size=int(m.sum()))
    # Takeover: the busiest honest worker answers "positive" on everything after their median time.
    victim = frame[frame["w"].isin(honest_ids)].groupby("w").size().idxmax()
    v = frame["w"] == victim
    cut = frame.loc[v, "submitted"].median()
    late = v & (frame["submitted"] > cut)
    frame.loc[late, "y"] = 2
    frame.loc[late, "dur"] *= 0.3
    key = [(w, "takeover" if w == victim else k) for w, k in key]

    frame["started"] = frame["submitted"] - frame["dur"]
    to_ts = lambda s: pd.to_datetime(s, unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    labels = pd.DataFrame({
        "task": task_ids[frame["t"]], "worker": frame["w"], "label": CLASSES[frame["y"]],
        "started_at": to_ts(frame["started"]), "submitted_at": to_ts(frame["submitted"]),
    }).sort_values("submitted_at", kind="stable").reset_index(drop=True)
    gold_idx = np.sort(rng.choice(n_tasks, size=int(0.15 * n_tasks), replace=False))
    gold = pd.DataFrame({"task": task_ids[gold_idx], "label": CLASSES[truth[gold_idx]]})
    key_df = pd.DataFrame(key, columns=["worker", "attack"])
    return labels, gold, key_df


@dataclass
class Demo:
    """What :func:`build_demo` made: the projects and the admin account to sign in with."""

    projects: list[str]
    admin: str
    password: str
    one_time: bool


def build_demo(workspace: str | Path, admin: str = "admin", password: str | None = None, analyze: bool = True,
               progress=None, encrypt: bool = False, key=None) -> Demo:
    """Create the demo workspace at ``workspace`` (it must not exist yet).

    Its first account is the admin ``admin``; without ``password`` it gets a random
    one-time password (to be replaced at the first sign-in), returned for the terminal.
    """
    from analytics.access import bootstrap_admin, one_time_password
    from analytics.ingest import ingest_file
    from analytics.pipeline import analyze as run_analysis
    from analytics.store import open_workspace

    workspace = Path(workspace)
    if (workspace / "workspace.duckdb").exists():
        from analytics.errors import UserError

        raise UserError(f"{workspace} already holds a workspace; remove it (make clean-demo) to rebuild the demo")
    one_time = password is None
    password = password or one_time_password()
    ws = open_workspace(workspace, encrypt=encrypt, key=key)
    try:
        me = bootstrap_admin(ws, admin, password)
        real = DEMO_DIR / "act_cf_amt"
        ingest_file(ws, real / "labels.csv", REAL_PROJECT, format="canonical", mapping={"duration_s": "time_spent_s"},
                    gold_path=real / "gold.csv", actor=me)
        labels, gold, key_df = simulate_reviews()
        with tempfile.TemporaryDirectory() as tmp:
            lp, gp = Path(tmp) / "reviews_labels.csv", Path(tmp) / "reviews_gold.csv"
            labels.to_csv(lp, index=False)
            gold.to_csv(gp, index=False)
            ingest_file(ws, lp, SIM_PROJECT, format="canonical", gold_path=gp, actor=me,
                        label_set=list(CLASSES))
        ws.write_private("demo_key.csv", key_df.to_csv(index=False).encode())
        if analyze:
            for name in (REAL_PROJECT, SIM_PROJECT):
                run_analysis(ws, name, actor=me, progress=progress)
    except BaseException:
        ws.close()
        shutil.rmtree(workspace, ignore_errors=True)
        raise
    ws.close()
    projects = [REAL_PROJECT, SIM_PROJECT]
    try:
        if analyze:     # replayed week by week (it opens the workspace itself), then its incident
            if progress:
                progress(0.9, f"{WEEKLY_PROJECT}: six weekly batches, alerts and the incident")
            build_weekly_incident(workspace, actor=me, key=key)
            projects.append(WEEKLY_PROJECT)
        if one_time:        # the demo was built with it; from now on it must be replaced at sign-in
            with open_workspace(workspace, key=key) as ws, ws.transaction() as con:
                con.execute("UPDATE accounts SET must_change = true WHERE name = ?", [admin])
    except BaseException:
        shutil.rmtree(workspace, ignore_errors=True)
        raise
    return Demo(projects, admin, password, one_time)


def build_weekly_incident(workspace: str | Path, actor, seed: int = 7, incident: bool = True,
                          key=None) -> int | None:
    """The ``moderation-weekly`` project and its incident (see the module docstring), acting as
    ``actor`` (a manager's or admin's :class:`analytics.access.Identity`); returns the incident's
    number (None with ``incident=False``: the alerts are raised, nobody has acted yet)."""
    import json

    from analytics.incidents.records import open_incident
    from analytics.incidents.response import contain, repair
    from analytics.redteam.batches import plant_in_batch, weekly_batches
    from analytics.redteam.replay import replay_batches
    from analytics.redteam.weekly_crowds import weekly_crowd
    from analytics.store import open_workspace

    workspace = Path(workspace)
    labels, gold = weekly_crowd("steady", seed=seed, n_weeks=6, items_per_week=250, classes=list(CLASSES),
                                start="2026-09-07")
    batches = weekly_batches(labels)
    planted = plant_in_batch(batches[-1].frame, "random", share=0.3, seed=seed, gold=gold,
                             avoid_workers=set(labels["worker"]))
    frames = [b.frame for b in batches[:-1]] + [planted.frame]
    with tempfile.TemporaryDirectory() as tmp:
        # delivered files stay next to the workspace unless it is encrypted (its archive keeps sealed copies)
        with open_workspace(workspace, key=key) as ws:
            deliver = Path(tmp) / "deliveries" if ws.encrypted else workspace / "deliveries"
        rep = replay_batches(workspace, WEEKLY_PROJECT, frames, [f"moderation_{b.name}" for b in batches], tmp,
                             gold=gold, deliver_dir=deliver, actor=actor, key=key)
    if not rep.alerts[-1] or rep.first_alert_batch() != len(batches) - 1:
        raise RuntimeError("the demo's poisoned batch did not raise exactly one week's alerts; check the alert rules")
    with open_workspace(workspace, key=key) as ws:
        ws.write_private("weekly_key.json", json.dumps(
            {"project": WEEKLY_PROJECT, "attack": planted.attack, "share": planted.share, "workers": planted.workers,
             "onset": planted.onset.isoformat(), "poisoned_week": str(batches[-1].start.date())}, indent=1).encode())
        if not incident:
            return None
        iid = open_incident(ws, WEEKLY_PROJECT, alert_ids=[rep.alerts[-1][-1]["id"]],
                            title="Spam accounts in the week's batch", actor=actor)
        contain(ws, WEEKLY_PROJECT, iid, actor=actor)
        repair(ws, WEEKLY_PROJECT, iid, actor=actor)
    return iid
