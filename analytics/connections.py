"""Opening the workspace's DuckDB file: plain or encrypted, one writer at a time.

DuckDB lets one process write a database file, or several read it; inside a process, every
connection to a file shares one database instance. This module adds what CrowdTrust needs
on top:

* **One writer per workspace in a process** (:class:`WriterGate`): sessions of the dashboard
  that want to write queue on a gate instead of racing on the audit chain; across
  processes, DuckDB's file lock does the same job and callers retry while it is held.
* **Encrypted files** (:class:`EncryptedHost`): DuckDB encrypts a file only when it is
  ATTACHed with ``ENCRYPTION_KEY``, and writes it only with the httpfs extension's OpenSSL
  module loaded. One in-memory DuckDB per process loads the extension once (checking its
  signature costs ~0.1 s), attaches each encrypted workspace it opens, and hands out
  connections (:class:`Connection`) whose default catalog, and their cursors', is that
  workspace, so the rest of the code runs unchanged.

:func:`connect` makes one attempt and raises :class:`Busy` when another process or another
connection of this process holds the file in a conflicting mode; :func:`analytics.store.open_workspace`
retries.
"""

from __future__ import annotations

import contextlib
import glob
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import duckdb

from analytics.errors import UserError, WorkspaceLockedError


class Busy(WorkspaceLockedError):
    """The file is held in a conflicting mode right now; try again shortly."""


class NotEncrypted(UserError):
    """A key was given for a database file that is not encrypted."""


def is_clash(exc: Exception) -> bool:
    """True for DuckDB's in-process conflicts (the file is open here with another mode)."""
    msg = str(exc).lower()
    return "different configuration" in msg or "already open" in msg or "unique file handle" in msg \
        or "already attached" in msg


def is_lock(exc: Exception) -> bool:
    return "lock" in str(exc).lower()


# -- one writer per workspace and process -------------------------------------------------------

class WriterGate:
    """A re-entrant gate (the owner thread may pass again) that any thread may release."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, timeout: float) -> bool:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            if not self._cond.wait_for(lambda: self._owner is None, timeout=max(timeout, 0.0)):
                return False
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth <= 0:
                self._owner, self._depth = None, 0
                self._cond.notify_all()


_GATES: dict[Path, WriterGate] = {}
_GATES_LOCK = threading.Lock()


def writer_gate(db: Path) -> WriterGate:
    with _GATES_LOCK:
        return _GATES.setdefault(Path(db).resolve(), WriterGate())


# -- connections to an encrypted workspace ----------------------------------------------------------

class Connection:
    """A workspace's DuckDB connection, as :class:`analytics.store.Workspace` hands it out.

    It behaves as the DuckDB connection it wraps, with two additions: when the workspace is
    an attached (encrypted) database, that database is the default catalog of the
    connection and of its cursors; and the connection underneath can be replaced
    (:meth:`Workspace.released` gives the file up and takes it back) while code that holds
    ``ws.con`` keeps a working object.
    """

    __slots__ = ("_con", "_alias")

    def __init__(self, con: duckdb.DuckDBPyConnection, alias: str | None = None):
        self._con = con
        self._alias = alias
        if alias is not None:
            con.execute(f'USE "{alias}"')

    def cursor(self) -> Connection:
        return Connection(self._con.cursor(), self._alias)

    def rebind(self, other: Connection) -> None:
        """Continue on ``other``'s connection (after the workspace was reopened)."""
        self._con, self._alias = other._con, other._alias

    @property
    def raw(self) -> duckdb.DuckDBPyConnection:
        return self._con

    def __getattr__(self, name: str):
        return getattr(self._con, name)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._con.close()


def httpfs_extension() -> str:
    """The httpfs extension file shipped by the ``duckdb-extension-httpfs`` package (signed by DuckDB)."""
    try:
        import duckdb_extension_httpfs
    except ImportError:
        raise UserError("encrypted workspaces need the duckdb-extension-httpfs package; run `make install`") from None
    root = Path(duckdb_extension_httpfs.__file__).parent / "extensions"
    found = sorted(glob.glob(str(root / f"v{duckdb.__version__}" / "httpfs.duckdb_extension")))
    if not found:
        raise UserError(f"duckdb-extension-httpfs has no build for DuckDB {duckdb.__version__}; "
                        "install the versions pinned in requirements.txt")
    return found[0]


class _Attached:
    __slots__ = ("alias", "read_only", "refs", "key_id")

    def __init__(self, alias: str, read_only: bool, key_id: str):
        self.alias, self.read_only, self.refs, self.key_id = alias, read_only, 0, key_id


class EncryptedHost:
    """One in-memory DuckDB per process holding the encrypted workspaces it has open."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._dbs: dict[Path, _Attached] = {}
        self._n = 0

    def _host(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            con = duckdb.connect(config={"allow_unsigned_extensions": "false",
                                         "autoinstall_known_extensions": "false"})
            con.execute(f"LOAD '{httpfs_extension()}'")
            # spilled intermediates are encrypted too, and kept out of the working directory
            con.execute("SET temp_file_encryption = true")
            con.execute(f"SET temp_directory = '{_sql_str(str(Path(tempfile.gettempdir()) / 'crowdtrust-duckdb'))}'")
            self._con = con
        return self._con

    def open(self, db: Path, db_key: str, key_id: str, read_only: bool) -> tuple[Connection, Callable[[], None]]:
        db = Path(db).resolve()
        with self._lock:
            host = self._host()
            a = self._dbs.get(db)
            if a is not None:
                if a.key_id != key_id:
                    raise _wrong_key(db)
                if a.read_only and not read_only:
                    raise Busy(f"workspace {db.parent} is being read in this process")
            else:
                self._n += 1
                a = _Attached(f"ws{self._n}", read_only, key_id)
                mode = ", READ_ONLY" if read_only else ""
                try:
                    host.execute(f"ATTACH '{_sql_str(str(db))}' AS \"{a.alias}\" "
                                 f"(ENCRYPTION_KEY '{db_key}', ENCRYPTION_CIPHER 'GCM'{mode})")
                except duckdb.Error as exc:
                    raise _attach_error(exc, db) from None
                self._dbs[db] = a
            a.refs += 1
            try:
                con = Connection(host.cursor(), a.alias)
            except BaseException:
                self._release(db)
                raise
        return con, lambda: self._close(db, con)

    def _close(self, db: Path, con: Connection) -> None:
        with contextlib.suppress(duckdb.Error):
            con.close()
        with self._lock:
            self._release(db)

    def _release(self, db: Path) -> None:
        a = self._dbs.get(db)
        if a is None:
            return
        a.refs -= 1
        if a.refs <= 0:
            del self._dbs[db]
            with contextlib.suppress(duckdb.Error):
                self._host().execute(f'DETACH "{a.alias}"')


HOST = EncryptedHost()


def _sql_str(s: str) -> str:
    return s.replace("'", "''")


def _wrong_key(db: Path) -> UserError:
    from analytics.encryption import EncryptionKeyError

    return EncryptionKeyError(f"the key does not open workspace {db.parent} (wrong key); give the key it was "
                              "created with in CROWDTRUST_KEY or --key-file")


def _attach_error(exc: duckdb.Error, db: Path) -> Exception:
    msg = str(exc)
    low = msg.lower()
    if "wrong encryption key" in low or "could not verify" in low:
        return _wrong_key(db)
    if "not encrypted" in low:
        return NotEncrypted(f"workspace {db.parent} is not encrypted but has an encryption.json; remove that file "
                            "or restore the encrypted database")
    if is_clash(exc):
        return Busy(f"workspace {db.parent} is open in this process with another mode")
    if is_lock(exc):
        return Busy(f"workspace {db.parent} is in use by another process")
    return UserError(f"cannot open workspace {db.parent}: {msg.splitlines()[0]}")


def connect(db: Path, read_only: bool, key=None) -> tuple[Connection, Callable[[], None]]:
    """One attempt to open ``db``; returns ``(connection, close)``.

    ``key`` is the :class:`analytics.encryption.KeyMaterial` of an encrypted workspace, or None.
    A plain reader that meets a writer of this process shares the writer's instance (it
    still sees committed data only).
    """
    if key is not None:
        return HOST.open(db, key.db_key, key.key_id, read_only)
    con, close = _connect_plain(db, read_only)
    return Connection(con), close


def _connect_plain(db: Path, read_only: bool) -> tuple[duckdb.DuckDBPyConnection, Callable[[], None]]:
    try:
        con = duckdb.connect(str(db), read_only=read_only)
    except duckdb.Error as exc:
        if is_clash(exc):
            if read_only:
                try:
                    con = duckdb.connect(str(db))
                    return con, con.close
                except duckdb.Error:
                    pass
            raise Busy(f"workspace {db.parent} is open in this process with another mode") from None
        msg = str(exc)
        if "without a key" in msg or "encrypted" in msg.lower():
            from analytics.encryption import EncryptionKeyError

            raise EncryptionKeyError(f"workspace {db.parent} is encrypted: give its key in CROWDTRUST_KEY "
                                     "or with --key-file FILE") from None
        if isinstance(exc, duckdb.IOException) and is_lock(exc):
            raise Busy(f"workspace {db.parent} is in use by another process") from None
        if isinstance(exc, duckdb.IOException):
            raise UserError(f"cannot open workspace {db.parent}: {msg.splitlines()[0]}") from None
        raise UserError(f"{db} is not a CrowdTrust workspace file ({msg.splitlines()[0]})") from None
    return con, con.close
