"""The DuckDB workspace: schema, migrations, connections and transactions.

A workspace is a folder::

    <workspace>/workspace.duckdb    all tables below
    <workspace>/files/<sha256>      every ingested file, content-addressed

Projects inside a workspace are isolated: every table carries ``project_id`` and every
query filters on it. The schema is versioned in ``meta``; :func:`open_workspace` applies the
pending migrations in one transaction and refuses a workspace from a newer version.

Write paths use :meth:`Workspace.transaction`, so a failure leaves the workspace exactly as
it was (DuckDB transactions are atomic and isolated).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from analytics.errors import SchemaTooNewError, UserError, WorkspaceLockedError

SCHEMA_VERSION = 4
DEFAULT_WORKSPACE = Path(__file__).resolve().parent.parent / "data" / "workspaces" / "demo"
DB_NAME = "workspace.duckdb"

# Each migration takes the schema from version i to i+1. Append, never edit a shipped one.
MIGRATIONS: list[str] = [
    # 0 -> 1: the initial schema.
    """
    CREATE SEQUENCE project_seq START 1;
    CREATE SEQUENCE ingest_seq START 1;
    CREATE SEQUENCE run_seq START 1;
    CREATE SEQUENCE action_seq START 1;

    CREATE TABLE projects (
        project_id   INTEGER PRIMARY KEY DEFAULT nextval('project_seq'),
        name         TEXT NOT NULL UNIQUE,
        label_set    TEXT[],            -- declared label set; NULL = inferred from the data
        created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
        description  TEXT,
        parent_project_id INTEGER,      -- set for red-team copies
        settings     JSON               -- trust settings overrides, NULL = defaults
    );

    CREATE TABLE ingests (
        ingest_id        INTEGER PRIMARY KEY DEFAULT nextval('ingest_seq'),
        project_id       INTEGER NOT NULL,
        file_name        TEXT NOT NULL,
        size_bytes       BIGINT NOT NULL,
        sha256           TEXT NOT NULL,
        format           TEXT NOT NULL,
        rows_read        BIGINT NOT NULL,
        rows_loaded      BIGINT NOT NULL,
        rows_quarantined BIGINT NOT NULL,
        rows_duplicate   BIGINT NOT NULL,
        rows_updates     BIGINT NOT NULL DEFAULT 0,
        gold_loaded      BIGINT NOT NULL DEFAULT 0,
        actor            TEXT NOT NULL,
        loaded_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
        stored_path      TEXT,          -- relative to the workspace folder
        options          JSON           -- format, mapping, label field, force ...
    );

    CREATE TABLE annotations (
        project_id   INTEGER NOT NULL,
        ingest_id    INTEGER NOT NULL,
        source_row   BIGINT NOT NULL,   -- 1-based data row in the source file
        task         TEXT NOT NULL,
        worker       TEXT NOT NULL,
        label        TEXT NOT NULL,
        started_at   TIMESTAMPTZ,
        submitted_at TIMESTAMPTZ,
        duration_s   DOUBLE,
        assignment   TEXT,
        event        TEXT NOT NULL DEFAULT 'create',   -- create | update | delete
        extra        JSON
    );

    CREATE TABLE quarantine (
        project_id  INTEGER NOT NULL,
        ingest_id   INTEGER NOT NULL,
        source_row  BIGINT NOT NULL,
        reason      TEXT NOT NULL,
        raw         JSON
    );

    CREATE TABLE gold (
        project_id  INTEGER NOT NULL,
        task        TEXT NOT NULL,
        label       TEXT NOT NULL,
        source      TEXT NOT NULL,       -- file name or 'platform golden column'
        ingest_id   INTEGER,
        PRIMARY KEY (project_id, task)
    );

    CREATE TABLE runs (
        run_id            INTEGER PRIMARY KEY DEFAULT nextval('run_seq'),
        project_id        INTEGER NOT NULL,
        method            TEXT NOT NULL,
        params            JSON NOT NULL,
        input_fingerprint TEXT NOT NULL,
        code_version      TEXT NOT NULL,
        started_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
        finished_at       TIMESTAMPTZ,
        duration_s        DOUBLE,
        status            TEXT NOT NULL DEFAULT 'running',   -- running | complete | failed
        summary           JSON,          -- headline numbers (alpha, accuracy, counts)
        error             TEXT
    );

    -- Per-run results. Core columns are fixed; every component score is a row in the
    -- *_scores tables (long form) so detectors can add scores without a migration.
    CREATE TABLE run_tasks (
        run_id      INTEGER NOT NULL,
        task        TEXT NOT NULL,
        label       TEXT,
        confidence  DOUBLE,
        n_labels    INTEGER,
        suspect     BOOLEAN,
        reasons     TEXT,
        PRIMARY KEY (run_id, task)
    );
    CREATE TABLE run_task_probs (
        run_id  INTEGER NOT NULL,
        task    TEXT NOT NULL,
        label   TEXT NOT NULL,
        p       DOUBLE NOT NULL
    );
    CREATE TABLE run_task_scores (
        run_id  INTEGER NOT NULL,
        task    TEXT NOT NULL,
        name    TEXT NOT NULL,
        value   DOUBLE
    );
    CREATE TABLE run_workers (
        run_id    INTEGER NOT NULL,
        worker    TEXT NOT NULL,
        n_labels  INTEGER,
        trust     DOUBLE,
        suspect   BOOLEAN,
        reasons   TEXT,
        PRIMARY KEY (run_id, worker)
    );
    CREATE TABLE run_worker_scores (
        run_id  INTEGER NOT NULL,
        worker  TEXT NOT NULL,
        name    TEXT NOT NULL,
        value   DOUBLE
    );
    -- One row per detector signal per worker: what fired, how strongly, and the evidence.
    CREATE TABLE run_signals (
        run_id    INTEGER NOT NULL,
        worker    TEXT NOT NULL,
        signal    TEXT NOT NULL,
        score     DOUBLE,
        p_value   DOUBLE,
        fired     BOOLEAN NOT NULL,
        reason    TEXT,
        evidence  JSON
    );
    CREATE TABLE run_confusion (
        run_id     INTEGER NOT NULL,
        worker     TEXT NOT NULL,
        true_label TEXT NOT NULL,
        label      TEXT NOT NULL,
        p          DOUBLE NOT NULL
    );
    CREATE TABLE run_pairs (
        run_id     INTEGER NOT NULL,
        worker_a   TEXT NOT NULL,
        worker_b   TEXT NOT NULL,
        kind       TEXT NOT NULL,   -- 'agreement' (kappa matrix) or 'collusion' (evidence edge)
        n_shared   INTEGER,
        value      DOUBLE,          -- kappa, or the edge weight
        details    JSON
    );
    CREATE TABLE run_communities (
        run_id     INTEGER NOT NULL,
        community  INTEGER NOT NULL,
        members    TEXT[] NOT NULL,
        score      DOUBLE,
        suspect    BOOLEAN,
        reasons    TEXT,
        details    JSON
    );

    CREATE TABLE actions (
        seq          BIGINT PRIMARY KEY,
        project_id   INTEGER,           -- NULL for workspace-wide entries
        created_at   TIMESTAMPTZ NOT NULL,
        actor        TEXT NOT NULL,
        action       TEXT NOT NULL,     -- ban | unban | requeue | trust | untrust | ingest | analyze | export ...
        target_kind  TEXT,              -- worker | task | file | run | export
        target       TEXT,
        scope        TEXT,              -- project | workspace
        reason       TEXT,
        evidence     JSON,
        prev_hash    TEXT NOT NULL,
        hash         TEXT NOT NULL
    );

    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
    """,
    # 1 -> 2: which process runs an analysis, so a run whose process died is not shown as running.
    """
    ALTER TABLE runs ADD COLUMN host TEXT;
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    """,
    # 2 -> 3: the kind of answers a project holds (single choice, multi-select, worded per item),
    # and undoable ingests and project deletions (held back until the user confirms them).
    """
    ALTER TABLE projects ADD COLUMN IF NOT EXISTS kind TEXT;             -- NULL/'single' | 'multilabel' | 'item-specific'
    ALTER TABLE projects ADD COLUMN IF NOT EXISTS kind_options JSON;     -- e.g. {"options": [...], "separator": "|"}
    ALTER TABLE projects ADD COLUMN IF NOT EXISTS deleted_at TIMESTAMPTZ;  -- deletion pending: hidden, restorable until confirmed
    ALTER TABLE ingests ADD COLUMN IF NOT EXISTS withdrawn_at TIMESTAMPTZ; -- undone: its rows wait in trash_* until confirmed
    CREATE TABLE IF NOT EXISTS trash_annotations AS SELECT * FROM annotations LIMIT 0;
    CREATE TABLE IF NOT EXISTS trash_quarantine AS SELECT * FROM quarantine LIMIT 0;
    CREATE TABLE IF NOT EXISTS trash_gold AS SELECT * FROM gold LIMIT 0;
    """,
    # 3 -> 4: monitoring and incident response (analytics.monitor, analytics.incidents); idempotent, so a
    # workspace whose version stamp was lowered (or a half-applied copy) migrates cleanly.
    """
    CREATE SEQUENCE IF NOT EXISTS alert_seq START 1;
    CREATE SEQUENCE IF NOT EXISTS incident_seq START 1;
    CREATE TABLE IF NOT EXISTS alert_rules (
        project_id  INTEGER PRIMARY KEY,
        settings    JSON NOT NULL          -- AlertSettings overrides
    );
    -- What the rules have already looked at: ingests (data rules) and runs (run rules).
    CREATE TABLE IF NOT EXISTS monitor_state (
        project_id        INTEGER PRIMARY KEY,
        data_ingest_id    INTEGER,         -- newest ingest the data rules evaluated
        run_ingest_id     INTEGER,         -- newest ingest the run rules evaluated
        run_id            INTEGER,         -- run the run rules last evaluated
        evaluated_at      TIMESTAMPTZ
    );
    CREATE TABLE IF NOT EXISTS alerts (
        alert_id      INTEGER PRIMARY KEY DEFAULT nextval('alert_seq'),
        project_id    INTEGER NOT NULL,
        rule          TEXT NOT NULL,
        severity      TEXT NOT NULL,       -- warning | critical
        period_unit   TEXT NOT NULL,       -- day | week | ingest
        period        BIGINT NOT NULL,
        period_name   TEXT,
        period_start  TIMESTAMPTZ,
        period_end    TIMESTAMPTZ,
        raised_at     TIMESTAMPTZ NOT NULL,
        run_id        INTEGER,
        ingest_id     INTEGER,
        value         DOUBLE,
        threshold     DOUBLE,
        message       TEXT NOT NULL,
        evidence      JSON,
        workers       TEXT[],
        status        TEXT NOT NULL DEFAULT 'open',   -- open | acknowledged
        acked_by      TEXT,
        acked_at      TIMESTAMPTZ,
        ack_note      TEXT,
        audit_seq     BIGINT,
        UNIQUE (project_id, rule, period_unit, period)
    );
    CREATE TABLE IF NOT EXISTS incidents (
        incident_id   INTEGER PRIMARY KEY DEFAULT nextval('incident_seq'),
        project_id    INTEGER NOT NULL,
        title         TEXT NOT NULL,
        severity      TEXT NOT NULL,       -- low | medium | high | critical
        status        TEXT NOT NULL,       -- open | contained | repaired | closed
        opened_at     TIMESTAMPTZ NOT NULL,
        opened_by     TEXT NOT NULL,
        closed_at     TIMESTAMPTZ,
        closed_by     TEXT,
        close_note    TEXT
    );
    -- What an incident is about and what it did: alerts, workers, tasks, exports, steps.
    CREATE TABLE IF NOT EXISTS incident_links (
        incident_id   INTEGER NOT NULL,
        kind          TEXT NOT NULL,       -- alert | worker | requeued | corrected_export | step
        ref           TEXT NOT NULL,
        detail        JSON,
        audit_seq     BIGINT,
        created_at    TIMESTAMPTZ NOT NULL
    );
    """,
]


def first_row(cursor) -> tuple | None:
    """The first row of a query result, fetching the whole result.

    ``fetchone()`` leaves the rest of a result pending on the connection, and DuckDB 2.0 then
    refuses the next Arrow/pandas fetch on that connection (ResourceInUse); single-row
    queries use this instead.
    """
    rows = cursor.fetchall()
    return rows[0] if rows else None


@dataclass
class Workspace:
    """An open workspace: a folder with one DuckDB file and the stored source files."""

    path: Path
    con: duckdb.DuckDBPyConnection
    read_only: bool = False

    @property
    def files_dir(self) -> Path:
        return self.path / "files"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block in one transaction: commit on success, roll back on any error."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- projects -----------------------------------------------------------------
    def project_id(self, name: str, create: bool = False) -> int:
        """Return the id of project ``name``; create it when ``create`` is true.

        A project whose deletion is pending (:mod:`analytics.lifecycle`) is not found and not
        re-created: the user restores it or confirms the deletion first.
        """
        row = first_row(self.con.execute("SELECT project_id, deleted_at FROM projects WHERE name = ?", [name]))
        if row and row[1] is not None:
            raise UserError(f"project {name!r} is waiting to be deleted; restore it or confirm the deletion "
                            "(Data page, or `python -m analytics project restore|purge`) before using the name")
        if row:
            return int(row[0])
        if not create:
            known = [r[0] for r in self.con.execute(
                "SELECT name FROM projects WHERE deleted_at IS NULL ORDER BY name").fetchall()]
            hint = f"known projects: {', '.join(known)}" if known else "the workspace has no projects yet"
            raise UserError(f"no project named {name!r} in {self.path} ({hint}); ingest a file into it first")
        return int(
            first_row(self.con.execute("INSERT INTO projects (name) VALUES (?) RETURNING project_id", [name]))[0]
        )

    def project_names(self) -> list[str]:
        return [r[0] for r in self.con.execute(
            "SELECT name FROM projects WHERE deleted_at IS NULL ORDER BY project_id").fetchall()]

    def table_counts(self) -> dict[str, int]:
        """Row counts of every table: the before/after check for "a failure changes nothing"."""
        names = [r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"
        ).fetchall()]
        return {n: int(first_row(self.con.execute(f'SELECT count(*) FROM "{n}"'))[0]) for n in names}


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = first_row(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ))[0]
    if not exists:
        return 0
    row = first_row(con.execute("SELECT value FROM meta WHERE key = 'schema_version'"))
    return int(row[0]) if row else 0


def process_alive(host: str | None, pid: int | None) -> bool:
    """Whether the process ``pid`` on ``host`` may still be running (other hosts: assume so)."""
    if host is None or pid is None or host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def close_interrupted_runs(con: duckdb.DuckDBPyConnection) -> int:
    """Mark runs left 'running' by a process of this host that no longer exists as failed."""
    rows = con.execute("SELECT run_id, host, pid FROM runs WHERE status = 'running'").fetchall()
    dead = [int(r[0]) for r in rows if not process_alive(r[1], r[2])]
    if dead:
        con.execute("UPDATE runs SET status = 'failed', finished_at = now(), error = "
                    "'interrupted: the process running this analysis stopped before it finished' "
                    f"WHERE run_id IN ({', '.join(map(str, dead))})")
    return len(dead)


def _migrate(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    current = schema_version(con)
    if current > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"workspace {path} has schema version {current}, newer than this CrowdTrust "
            f"(version {SCHEMA_VERSION}); upgrade CrowdTrust to open it"
        )
    if current == SCHEMA_VERSION:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        for version in range(current, SCHEMA_VERSION):
            con.execute(MIGRATIONS[version])
        con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def open_workspace(path: str | os.PathLike | None = None, create: bool = True, read_only: bool = False) -> Workspace:
    """Open (and by default create) the workspace folder ``path``, migrating it if needed.

    Raises :class:`WorkspaceLockedError` when another process holds the file, and
    :class:`SchemaTooNewError` when it was written by a newer version.
    """
    root = Path(path) if path is not None else DEFAULT_WORKSPACE
    db = root / DB_NAME
    if not db.exists():
        if read_only or not create:
            raise UserError(f"no workspace at {root}: create one with `python -m analytics ingest FILE --workspace {root}`")
        root.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(db), read_only=read_only)
    except duckdb.IOException as exc:
        msg = str(exc)
        if "lock" in msg.lower():
            raise WorkspaceLockedError(
                f"workspace {root} is in use by another process (close the other CrowdTrust window or command and try again)"
            ) from None
        raise UserError(f"cannot open workspace {root}: {msg.splitlines()[0]}") from None
    except duckdb.Error as exc:
        raise UserError(f"{db} is not a CrowdTrust workspace file ({str(exc).splitlines()[0]})") from None
    if read_only:
        version = schema_version(con)
        if version > SCHEMA_VERSION:
            con.close()
            raise SchemaTooNewError(
                f"workspace {root} has schema version {version}, newer than this CrowdTrust "
                f"(version {SCHEMA_VERSION}); upgrade CrowdTrust to open it"
            )
    else:
        try:
            _migrate(con, root)
            close_interrupted_runs(con)
        except BaseException:
            con.close()
            raise
    (root / "files").mkdir(exist_ok=True)
    return Workspace(path=root, con=con, read_only=read_only)
