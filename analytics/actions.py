"""Ban, unban, re-queue and trust decisions, recorded in the tamper-evident audit log.

Every decision is one entry of the hash-chained ``actions`` table (:mod:`analytics.audit`)
and nothing else: the current state is *derived from the log* (the newest ban/unban entry
of a worker decides whether they are banned), so there is no second copy of the truth that
could drift from the record, and undo is a new entry (unban), never a deletion. Actions
never touch ``annotations``: a banned worker's labels stay in the workspace, are left out of
aggregation and exports (``load_project(..., exclude_workers=banned_workers(...))``), and
come back unchanged on unban.

Pairs of actions and their state:

=========  ===========  ==========  ======================================================
action     undo         target      effect
=========  ===========  ==========  ======================================================
ban        unban        worker      labels excluded from aggregation and exports
trust      untrust      worker      vetted: detectors still run, the verdict shows the override
requeue    unrequeue    task        on the re-queue list (export ``requeue``)
=========  ===========  ==========  ======================================================

Scope: ``project`` (the entry carries the project id) or ``workspace`` (``project_id`` is
NULL and the decision applies to every project). A worker is banned in a project when the
newest project-scope entry *or* the newest workspace-scope entry of that worker is a ban;
lifting a workspace ban takes an unban with scope ``workspace``. A ban outranks a trust.

Concurrency: DuckDB lets one process write; inside it, two transactions that append at the
same moment collide on the ``seq`` primary key and one of them fails. Each action runs in
one transaction and is retried (with jittered back-off) on such a conflict, so both land
and the chain stays linear. After the commit the chain head is written to the workspace's
audit anchor (:func:`analytics.audit.write_anchor`), which lets ``audit verify`` notice
deleted *last* entries too.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from analytics import audit
from analytics.access import Identity, requires
from analytics.errors import UserError
from analytics.store import Workspace

SCOPES = ("project", "workspace")

# action -> (target kind, the state it sets, the action that undoes it)
ACTIONS: dict[str, tuple[str, str, str]] = {
    "ban": ("worker", "banned", "unban"),
    "unban": ("worker", "banned", "ban"),
    "trust": ("worker", "trusted", "untrust"),
    "untrust": ("worker", "trusted", "trust"),
    "requeue": ("task", "requeued", "unrequeue"),
    "unrequeue": ("task", "requeued", "requeue"),
}
SETTING = {"ban", "trust", "requeue"}          # the actions that switch a state on


@dataclass
class ActionSettings:
    """How an action behaves when another writer appends to the log at the same moment."""

    max_attempts: int = 30          #: transactions tried before a conflict is reported to the user
    backoff_s: float = 0.01         #: base of the jittered linear back-off between attempts, seconds
    max_targets: int = 100_000      #: largest bulk selection accepted in one action


DEFAULT_SETTINGS = ActionSettings()


@dataclass
class ActionResult:
    """What an action did.

    applied : targets whose state changed (one audit entry each)
    skipped : targets already in the requested state (no entry written)
    seqs : audit sequence numbers of the new entries, in the order of ``applied``
    head : audit-chain head hash after the action
    """

    action: str
    scope: str
    applied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    head: str = audit.GENESIS

    def summary(self) -> str:
        verb = {"ban": "banned", "unban": "unbanned", "trust": "trusted", "untrust": "untrusted",
                "requeue": "re-queued", "unrequeue": "removed from the re-queue list"}[self.action]
        kind = ACTIONS[self.action][0]
        s = f"{verb} {len(self.applied)} {kind}{'s' if len(self.applied) != 1 else ''}"
        if self.seqs:
            s += f" (audit entries {self.seqs[0]}-{self.seqs[-1]})" if len(self.seqs) > 1 else f" (audit entry {self.seqs[0]})"
        if self.skipped:
            s += f"; {len(self.skipped)} already in that state: " \
                 + ", ".join(self.skipped[:10]) + (" ..." if len(self.skipped) > 10 else "")
        return s


# -- state ---------------------------------------------------------------------------------

_STATE_SQL = """
WITH ev AS (
    SELECT seq, target, scope, action, actor, reason, created_at, evidence,
           row_number() OVER (PARTITION BY target, scope ORDER BY seq DESC) AS rn
    FROM actions
    WHERE target_kind = $kind AND action IN ($on, $off)
      AND ((scope = 'project' AND project_id = $pid) OR scope = 'workspace')
)
SELECT target, scope, seq, created_at, actor, reason, evidence::VARCHAR AS evidence
FROM ev WHERE rn = 1 AND action = $on
ORDER BY target, scope
"""


def state(con, project_id: int, action: str) -> pd.DataFrame:
    """Targets on which ``action`` (ban, trust or requeue) is in force in the project.

    One row per target and scope, with the entry that set it: ``target, scope, seq,
    created_at, actor, reason, evidence``.
    """
    if action not in SETTING:
        raise ValueError(f"state() takes one of {sorted(SETTING)}, not {action!r}")
    kind, _, off = ACTIONS[action]
    return con.execute(_STATE_SQL, {"kind": kind, "on": action, "off": off, "pid": int(project_id)}).df()


def _targets(con, project_id: int, action: str) -> list[str]:
    df = state(con, project_id, action)
    return sorted(set(df["target"].astype(str)))


def banned_workers(con, project_id: int) -> list[str]:
    """Workers whose labels are excluded in this project (project or workspace bans), sorted."""
    return _targets(con, project_id, "ban")


def trusted_workers(con, project_id: int) -> list[str]:
    """Workers marked as vetted in this project (project or workspace scope), sorted."""
    return _targets(con, project_id, "trust")


def requeued_tasks(con, project_id: int) -> list[str]:
    """Tasks on the project's re-queue list, sorted."""
    return _targets(con, project_id, "requeue")


def history(con, project_id: int, limit: int | None = 100) -> pd.DataFrame:
    """Audit entries of the project and workspace-wide ones, newest first (account entries,
    such as sign-ins, are listed by :func:`analytics.access.account_events`)."""
    sql = ("SELECT seq, created_at, actor, action, target_kind, target, scope, reason, evidence::VARCHAR AS evidence,"
           " hash FROM actions WHERE (project_id = ? OR project_id IS NULL)"
           " AND target_kind IS DISTINCT FROM 'account' ORDER BY seq DESC")
    params: list = [int(project_id)]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return con.execute(sql, params).df()


# -- actions -------------------------------------------------------------------------------

@requires("ban")
def ban(ws: Workspace, project, workers: Iterable[str], reason: str, actor: Identity, scope: str = "project",
        evidence: dict | None = None, settings: ActionSettings = DEFAULT_SETTINGS) -> ActionResult:
    """Ban ``workers``: their labels leave aggregation and exports; nothing is deleted.

    ``evidence`` is stored with each entry (what the user saw when deciding: a dict, or a
    dict of per-worker dicts keyed by worker id); when omitted, the worker's verdict from the
    project's latest complete run is recorded.
    """
    return _act(ws, project, "ban", workers, reason, actor, scope, evidence, settings)


@requires("ban")
def unban(ws: Workspace, project, workers: Iterable[str], reason: str, actor: Identity, scope: str = "project",
          evidence: dict | None = None, settings: ActionSettings = DEFAULT_SETTINGS) -> ActionResult:
    """Lift bans: the workers' labels count again, exactly as before the ban."""
    return _act(ws, project, "unban", workers, reason, actor, scope, evidence, settings)


@requires("trust")
def trust_workers(ws: Workspace, project, workers: Iterable[str], reason: str, actor: Identity, scope: str = "project",
                  evidence: dict | None = None, settings: ActionSettings = DEFAULT_SETTINGS) -> ActionResult:
    """Mark workers as vetted; detectors still run, the verdict shows the override."""
    return _act(ws, project, "trust", workers, reason, actor, scope, evidence, settings)


@requires("trust")
def untrust_workers(ws: Workspace, project, workers: Iterable[str], reason: str, actor: Identity, scope: str = "project",
                    evidence: dict | None = None, settings: ActionSettings = DEFAULT_SETTINGS) -> ActionResult:
    """Withdraw the vetted mark."""
    return _act(ws, project, "untrust", workers, reason, actor, scope, evidence, settings)


@requires("requeue")
def requeue(ws: Workspace, project, tasks: Iterable[str], reason: str, actor: Identity,
            evidence: dict | None = None, settings: ActionSettings = DEFAULT_SETTINGS) -> ActionResult:
    """Put tasks on the re-queue list (to be labelled again); see ``export requeue``."""
    return _act(ws, project, "requeue", tasks, reason, actor, "project", evidence, settings)


@requires("requeue")
def unrequeue(ws: Workspace, project, tasks: Iterable[str], reason: str, actor: Identity,
              evidence: dict | None = None, settings: ActionSettings = DEFAULT_SETTINGS) -> ActionResult:
    """Take tasks off the re-queue list."""
    return _act(ws, project, "unrequeue", tasks, reason, actor, "project", evidence, settings)


def resolve_project(ws: Workspace, project) -> tuple[int, str]:
    """(id, name) of a project given by name or id."""
    if isinstance(project, int):
        row = ws.con.execute("SELECT name FROM projects WHERE project_id = ?", [project]).fetchone()
        if not row:
            raise UserError(f"no project with id {project} in {ws.path}")
        return project, str(row[0])
    return ws.project_id(str(project)), str(project)


def _clean_targets(targets: Iterable[str], kind: str, settings: ActionSettings) -> list[str]:
    if isinstance(targets, str):
        targets = [targets]
    out = list(dict.fromkeys(str(t) for t in targets))       # dedupe, keep order
    if not out:
        raise UserError(f"no {kind} given: name at least one {kind} id")
    if len(out) > settings.max_targets:
        raise UserError(f"{len(out)} {kind}s in one action is more than the limit of {settings.max_targets}; split the list")
    return out


def _check_known(con, project_id: int, kind: str, scope: str, targets: list[str]) -> None:
    col = "worker" if kind == "worker" else "task"
    where = "" if scope == "workspace" else "WHERE project_id = $pid"
    unknown = [r[0] for r in con.execute(
        f"SELECT t FROM unnest($ids) AS u(t) WHERE t NOT IN (SELECT DISTINCT {col} FROM annotations {where})"
        " ORDER BY t",
        {"ids": targets, **({} if scope == "workspace" else {"pid": project_id})},
    ).fetchall()]
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        place = "the workspace" if scope == "workspace" else "this project"
        raise UserError(f"{len(unknown)} {kind} id(s) have no labels in {place}: {shown}; check the spelling")


def _run_evidence(con, project_id: int, workers: list[str]) -> dict[str, dict]:
    """The latest complete run's verdict per worker: what the user was shown."""
    run = con.execute(
        "SELECT max(run_id) FROM runs WHERE project_id = ? AND status = 'complete'", [project_id]).fetchone()[0]
    if run is None:
        return {}
    df = con.execute(
        "SELECT worker, n_labels, trust, suspect, reasons FROM run_workers WHERE run_id = ? AND list_contains(?, worker)",
        [run, workers]).df()
    return {str(r.worker): {"run_id": int(run), "n_labels": None if pd.isna(r.n_labels) else int(r.n_labels),
                            "trust": None if pd.isna(r.trust) else float(r.trust),
                            "suspect": None if pd.isna(r.suspect) else bool(r.suspect), "reasons": r.reasons}
            for r in df.itertuples(index=False)}


def _act(ws: Workspace, project, action: str, targets: Iterable[str], reason: str, actor: Identity, scope: str,
         evidence: dict | None, settings: ActionSettings) -> ActionResult:
    kind, _, undo = ACTIONS[action]
    if ws.read_only:
        raise UserError("the workspace is open read-only; open it for writing to record actions")
    if scope not in SCOPES:
        raise UserError(f"scope must be 'project' or 'workspace', not {scope!r}")
    if not isinstance(reason, str) or not reason.strip():
        raise UserError(f"a reason is required to {action}: say why, it is kept in the audit log")
    reason = reason.strip()
    items = _clean_targets(targets, kind, settings)
    pid, pname = resolve_project(ws, project)
    setting = action in SETTING
    on = action if setting else undo

    def body(con) -> ActionResult:
        if setting:
            _check_known(con, pid, kind, scope, items)
        current = state(con, pid, on)
        in_scope = set(current.loc[current["scope"] == scope, "target"].astype(str))
        if not setting and scope == "project":
            ws_only = set(current.loc[current["scope"] == "workspace", "target"].astype(str)) - in_scope
            blocked = [t for t in items if t in ws_only]
            if blocked:
                raise UserError(f"{', '.join(blocked[:5])} {'is' if len(blocked) == 1 else 'are'} under a workspace-wide "
                                f"{on}; {action} with scope 'workspace' to lift it")
        todo = [t for t in items if (t in in_scope) != setting]
        skipped = [t for t in items if (t in in_scope) == setting]
        ev_auto = _run_evidence(con, pid, todo) if (evidence is None and kind == "worker") else {}
        res = ActionResult(action=action, scope=scope, skipped=skipped)
        batch = []
        for t in todo:
            if evidence is not None and isinstance(evidence.get(t), dict):
                ev = dict(evidence[t])
            elif evidence is not None:
                ev = dict(evidence)
            else:
                ev = dict(ev_auto.get(t, {}))
            ev.setdefault("project", pname)
            if len(todo) > 1:
                ev.setdefault("batch_size", len(todo))
            batch.append({"actor": actor.name, "action": action, "project_id": pid if scope == "project" else None,
                          "target_kind": kind, "target": t, "scope": scope, "reason": reason, "evidence": ev})
        written = audit.append_many(con, batch)
        res.applied = [e["target"] for e in batch]
        res.seqs = [s for s, _ in written]
        res.head = written[-1][1] if written else audit.chain_head(con)[1]
        return res

    result = run_in_transaction(ws, body, settings)
    if result.applied:
        audit.write_anchor(ws.path, ws.con)
    return result


_CONFLICT = (duckdb.TransactionException, duckdb.ConstraintException)


def run_in_transaction(ws: Workspace, body: Callable, settings: ActionSettings = DEFAULT_SETTINGS):
    """Run ``body(con)`` in one transaction, retrying when a concurrent writer got there first.

    DuckDB detects two transactions appending the same audit ``seq`` (a primary-key
    conflict, at insert or at commit); the loser is rolled back whole and tried again on
    the new head. Anything else propagates unchanged.
    """
    last: Exception | None = None
    for attempt in range(settings.max_attempts):
        try:
            with ws.transaction() as con:
                return body(con)
        except _CONFLICT as exc:
            last = exc
            _rollback_quietly(ws)
            time.sleep(settings.backoff_s * (attempt + 1) * (0.5 + random.random()))
    raise UserError(f"the audit log stayed busy after {settings.max_attempts} attempts ({str(last).splitlines()[0]}); "
                    "try again")


def _rollback_quietly(ws: Workspace) -> None:
    try:
        ws.con.execute("ROLLBACK")
    except duckdb.Error:
        pass


def review_queue(con, project_id: int, run_id: int | None) -> pd.DataFrame:
    """Workers of the latest run for the Actions page: suspects first (lowest trust first),
    with their reasons and current state (``banned`` / ``trusted`` / empty)."""
    if run_id is None:
        return pd.DataFrame(columns=["worker", "n_labels", "trust", "suspect", "reasons", "status"])
    df = con.execute(
        "SELECT worker, n_labels, trust, suspect, coalesce(reasons, '') AS reasons FROM run_workers WHERE run_id = ?"
        " ORDER BY suspect DESC, trust NULLS LAST, worker", [int(run_id)]).df()
    banned, trusted = set(banned_workers(con, project_id)), set(trusted_workers(con, project_id))
    df["status"] = np.where(df["worker"].isin(banned), "banned", np.where(df["worker"].isin(trusted), "trusted", ""))
    return df
