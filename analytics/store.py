"""The DuckDB workspace: schema, migrations, connections and transactions.

A workspace is a folder::

    <workspace>/workspace.duckdb    all tables below
    <workspace>/files/<sha256>      every ingested file, content-addressed
    <workspace>/encryption.json     only when encrypted: the key's salt and cost (no secret)

Projects inside a workspace are isolated: every table carries ``project_id`` and every
query filters on it. The schema is versioned in ``meta``; :func:`open_workspace` applies the
pending migrations in one transaction and refuses a workspace from a newer version.

Write paths use :meth:`Workspace.transaction`, so a failure leaves the workspace exactly as
it was (DuckDB transactions are atomic and isolated). One writer at a time: a writable
workspace holds the process's writer gate and the file's lock until it is closed (or
:meth:`Workspace.released` lets others in while it computes); :func:`open_workspace` waits
for them with ``wait_s``. An encrypted workspace (:mod:`analytics.encryption`) is opened
with its key from ``key`` or ``CROWDTRUST_KEY``.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from analytics import connections, encryption
from analytics.errors import SchemaTooNewError, UserError, WorkspaceLockedError

SCHEMA_VERSION = 5
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
    # 3 -> 4: sign-in accounts (analytics.access).
    """
    CREATE TABLE IF NOT EXISTS accounts (
        name           TEXT PRIMARY KEY,
        role           TEXT NOT NULL,        -- viewer | analyst | manager | admin
        password_hash  TEXT,                 -- argon2id (PHC string); NULL: no password sign-in
        oidc_subject   TEXT,                 -- identity of an OpenID Connect provider (e-mail), or NULL
        disabled       BOOLEAN NOT NULL DEFAULT false,
        must_change    BOOLEAN NOT NULL DEFAULT false,   -- one-time password: change it at sign-in
        failed_count   INTEGER NOT NULL DEFAULT 0,       -- consecutive wrong passwords
        last_failed_at TIMESTAMPTZ,
        locked_at      TIMESTAMPTZ,          -- set after too many wrong passwords; an admin unlocks
        created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
        changed_at     TIMESTAMPTZ
    );
    """,
    # 4 -> 5: monitoring and incident response (analytics.monitor, analytics.incidents); idempotent, so a
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

#: Seconds a writable open waits for the process's other writer, or another process, by default.
WAIT_S = 0.0
#: Seconds :meth:`Workspace.released` waits to get the workspace back after computing.
REACQUIRE_WAIT_S = 300.0


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
    """An open workspace: a folder with one DuckDB file and the stored source files.

    ``sealer`` is set when the workspace is encrypted: stored files are sealed with it.
    """

    path: Path
    con: duckdb.DuckDBPyConnection
    read_only: bool = False
    sealer: encryption.Sealer | None = None
    _closer: Callable[[], None] | None = field(default=None, repr=False)
    _reopen: Callable[[], tuple] | None = field(default=None, repr=False)

    @property
    def files_dir(self) -> Path:
        return self.path / "files"

    @property
    def encrypted(self) -> bool:
        return self.sealer is not None

    def write_private(self, relative: str, data: bytes) -> Path:
        """Write a file of project data into the workspace folder (sealed when encrypted)."""
        path = self.path / relative
        encryption.write_private(path, data, self.sealer)
        return path

    def read_private(self, relative: str) -> bytes:
        return encryption.read_private(self.path / relative, self.sealer)

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        """Give the workspace up while a block computes without it, then take it back.

        Other sessions and processes can read and write in the meantime (an analysis holds
        the file only to read its input and to write its results). Waits up to
        :data:`REACQUIRE_WAIT_S` to get it back.
        """
        if self._reopen is None or self.read_only:
            yield
            return
        self._close_now()
        try:
            yield
        finally:
            con, self._closer = self._reopen()
            self.con.rebind(con)        # whoever holds ws.con goes on with the new connection

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

    def _close_now(self) -> None:
        closer, self._closer = self._closer, None
        if closer is not None:
            closer()
        elif self.con is not None:
            self.con.close()

    def close(self) -> None:
        self._close_now()

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
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            " AND table_catalog = current_database() ORDER BY 1"
        ).fetchall()]
        return {n: int(first_row(self.con.execute(f'SELECT count(*) FROM "{n}"'))[0]) for n in names}


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = first_row(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta' AND table_catalog = current_database()"
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


def _key_material(root: Path, exists: bool, key: encryption.Secret | None, encrypt: bool, read_only: bool,
                  create: bool) -> list:
    """Candidate key material to open ``root`` with: ``[None]`` for a plain workspace.

    An encrypted workspace gives one candidate, or two while a key rotation
    (:mod:`analytics.rekey`) is between swapping the sidecar and the database file: the new
    salt first, then the previous one (``None`` when it was plain). Creates the sidecar of a
    new encrypted workspace.
    """
    encrypted = encryption.is_encrypted(root)
    if encrypt and exists and not encrypted:
        raise UserError(f"workspace {root} already exists and is not encrypted; encrypt it with "
                        f"`python -m analytics rotate-key --workspace {root}` (the new key from CROWDTRUST_NEW_KEY "
                        "or --new-key-file)")
    if not encrypted and not (encrypt and not exists):
        return [None]
    key = key or encryption.secret_from_env()
    if key is None:
        what = "is encrypted" if encrypted else "is to be encrypted (--encrypt)"
        raise encryption.EncryptionKeyError(f"workspace {root} {what}: give its key in the CROWDTRUST_KEY "
                                            "environment variable or with --key-file FILE")
    if not encrypted:
        if read_only or not create:
            return [None]
        root.mkdir(parents=True, exist_ok=True)
        encryption.write_sidecar(root, encryption.new_sidecar_doc())
    doc = encryption.read_sidecar(root)
    out = [encryption.derive(key, doc)]
    prev = doc.get("previous")
    if prev == "plain":
        out.append(None)
    elif isinstance(prev, dict):
        out.append(encryption.derive(key, prev))
    return out


def sealer_for(root: str | os.PathLike, key: encryption.Secret | None = None) -> encryption.Sealer | None:
    """The sealer of workspace ``root`` (None when it is not encrypted), with ``key`` or CROWDTRUST_KEY."""
    km = _key_material(Path(root), True, key, False, True, False)[0]
    return encryption.Sealer(km) if km is not None else None


def _attempts(what: Callable, wait_s: float, on_wait: Callable[[float, str], None] | None):
    """Call ``what()`` until it stops raising :class:`connections.Busy` or ``wait_s`` has passed."""
    t0 = time.monotonic()
    delay = 0.02
    while True:
        try:
            return what()
        except connections.Busy as exc:
            waited = time.monotonic() - t0
            if waited >= wait_s:
                waited_for = "" if wait_s <= 0 else f" (waited {wait_s:.0f} s)"
                raise WorkspaceLockedError(f"{exc}{waited_for}: let the other CrowdTrust window or command finish "
                                           "and try again") from None
            if on_wait is not None:
                on_wait(waited, str(exc))
            # jittered and capped, so two writers that keep coming back both get their turns
            time.sleep(min(delay * (0.5 + random.random()), max(wait_s - waited, 0.0)))
            delay = min(delay * 1.5, 0.2)


def _connect_any(db: Path, read_only: bool, candidates: list) -> tuple:
    """(connection, close, key material) with the first candidate key that opens ``db``."""
    first: Exception | None = None
    for km in candidates:
        try:
            con, close = connections.connect(db, read_only, km)
            return con, close, km
        except (encryption.EncryptionKeyError, connections.NotEncrypted) as exc:
            first = first or exc
    raise first


def _open_connection(root: Path, db: Path, candidates: list, read_only: bool, wait_s: float, on_wait) -> tuple:
    """(connection, closer, key material): the writer gate (when writing) and the file, waiting up to ``wait_s``."""
    gate = None if read_only else connections.writer_gate(db)

    def attempt():
        if gate is not None and not gate.acquire(timeout=0.05):
            raise connections.Busy(f"workspace {root} is being written by another session of this process")
        try:
            con, close, km = _connect_any(db, read_only, candidates)
        except BaseException:
            if gate is not None:
                gate.release()
            raise
        if gate is None:
            return con, close, km

        def closer():
            try:
                close()
            finally:
                gate.release()
        return con, closer, km

    return _attempts(attempt, wait_s, on_wait)


def open_workspace(path: str | os.PathLike | None = None, create: bool = True, read_only: bool = False, *,
                   key: encryption.Secret | None = None, encrypt: bool = False, wait_s: float | None = None,
                   on_wait: Callable[[float, str], None] | None = None) -> Workspace:
    """Open (and by default create) the workspace folder ``path``, migrating it if needed.

    ``key`` opens an encrypted workspace (default: ``CROWDTRUST_KEY``); ``encrypt`` creates a
    new workspace encrypted. ``wait_s`` is how long to wait for another writer (this
    process's or another's), calling ``on_wait(seconds waited, why)`` meanwhile. Raises
    :class:`WorkspaceLockedError` when the workspace stays busy, :class:`SchemaTooNewError`
    when it was written by a newer version, and a one-line :class:`UserError` for a
    missing or wrong key.
    """
    root = Path(path) if path is not None else DEFAULT_WORKSPACE
    db = root / DB_NAME
    exists = db.exists()
    if not exists:
        if read_only or not create:
            raise UserError(f"no workspace at {root}: create one with "
                            f"`python -m analytics users add NAME --role admin --workspace {root}`")
        root.mkdir(parents=True, exist_ok=True)
    candidates = _key_material(root, exists, key, encrypt, read_only, create)
    wait = WAIT_S if wait_s is None else float(wait_s)
    con, closer, km = _open_connection(root, db, candidates, read_only, wait, on_wait)
    try:
        version = schema_version(con)
        if version > SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"workspace {root} has schema version {version}, newer than this CrowdTrust "
                f"(version {SCHEMA_VERSION}); upgrade CrowdTrust to open it"
            )
        if not read_only:
            _migrate(con, root)
            close_interrupted_runs(con)
    except BaseException:
        closer()
        raise
    if read_only and version < SCHEMA_VERSION:
        # written by an older CrowdTrust: migrate once (a short write), then read as usual
        closer()
        open_workspace(root, create=False, key=key, wait_s=wait, on_wait=on_wait).close()
        con, closer, km = _open_connection(root, db, [km], True, wait, on_wait)
    (root / "files").mkdir(exist_ok=True)
    sealer = encryption.Sealer(km) if km is not None else None
    ws = Workspace(path=root, con=con, read_only=read_only, sealer=sealer, _closer=closer)
    ws._reopen = lambda: _open_connection(root, db, [km], read_only, max(wait, REACQUIRE_WAIT_S), on_wait)[:2]
    return ws
