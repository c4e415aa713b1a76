"""Security: every function that changes a workspace or exports data checks the caller's role.

Three tables drive this file:

* the **walker** reads every module of ``analytics`` (the CLI front-end aside) and finds the
  public functions and methods that write — directly (a transaction, an audit append, an
  INSERT/UPDATE/DELETE, a stored file) or through a function of their module that does.
  Each must be guarded with ``@access.requires`` (it is then in ``access.GUARDED``) or be
  listed in :data:`EXEMPT` with the reason it needs no role. A new state-changing function
  without a role check fails :func:`test_every_writer_is_guarded`;
* :data:`EXPECTED` pins the permission of the functions the issue names (ban needs a
  manager, settings an admin ...);
* the **role matrix** calls every guarded function as every role: roles without the
  permission are refused with :class:`AccessDenied` before the body runs, roles with it get
  past the check.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest
from auth_support import add_accounts, me

import analytics
from analytics import access
from analytics.access import GUARDED, PERMISSIONS, ROLES, AccessDenied, Identity, role_can

#: writers that need no role, and why
EXEMPT = {
    "analytics.access.bootstrap_admin": "creates the first admin; refuses once any account exists",
    "analytics.signin.authenticate": "is the sign-in itself (records failures and lockouts)",
    "analytics.signin.sign_out": "records the end of the caller's own session",
    "analytics.signin.oidc_identity": "is the single sign-on itself",
    "analytics.demo.build_demo": "builds a new workspace and its first admin; refuses an existing one",
    "analytics.audit.append": "audit primitive, called inside guarded transactions",
    "analytics.audit.append_many": "audit primitive, called inside guarded transactions",
    "analytics.audit.write_anchor": "records the chain head after a guarded write",
    "analytics.actions.run_in_transaction": "transaction primitive of the guarded actions",
    "analytics.pipeline.write_results": "writes a run's rows for the guarded analyze()",
    "analytics.pipeline.store_run": "stores a finished run inside the guarded analyze() (either engine)",
    "analytics.pipeline.mark_failed": "marks a run failed inside the guarded analyze() (either engine)",
    "analytics.store.open_workspace": "opens a workspace and applies schema migrations",
    "analytics.store.close_interrupted_runs": "housekeeping on open: marks runs of dead processes failed",
    "analytics.store.Workspace.transaction": "transaction primitive",
    "analytics.store.Workspace.project_id": "store primitive (create=True is used by the guarded ingest)",
    "analytics.store.Workspace.write_private": "store primitive of guarded writers",
    "analytics.encryption.write_private": "file primitive of guarded writers",
    "analytics.encryption.write_sidecar": "writes the key salt when an encrypted workspace is created or re-keyed",
    "analytics.ingest.provenance.store_file": "stores an original for the guarded ingest",
    "analytics.ingest.validate.load": "loads the rows of the guarded ingest_file, inside its transaction",
    "analytics.ingest.kinds.settle_kind": "records the answer kind inside the guarded ingest's transaction",
    "analytics.ingest.kinds.recompute_kind": "re-derives the answer kind inside a guarded undo or restore",
    "analytics.ingest.provenance.files_kept_on_success": "removes a failed guarded ingest's own new files",
    "analytics.store.sealer_for": "reads the key salt; only creating a workspace (not this) writes it",
    "analytics.engine.workspace.analyze_partitioned_run": "the body of the guarded analyze(engine='dask'), "
                                                          "called only from it after its check",
    "analytics.engine.output.write_run_tables": "writes a run's rows for the guarded analyze(engine='dask')",
    "analytics.engine.output.write_csvs": "writes `run --engine dask`'s CSV files to its --out folder, no workspace",
    "analytics.engine.layout.from_workspace": "writes the engine's temporary Parquet layout for the guarded analyze()",
    "analytics.engine.layout.from_parquet": "writes the engine's temporary Parquet layout of a file, no workspace",
    "analytics.engine.layout.Layout.save": "writes the metadata of the engine's temporary Parquet layout",
    "analytics.demo.build_weekly_incident": "builds the demo's weekly project through the guarded ingest, analyze, "
                                            "export and incident functions as the given account; writes its key",
    "analytics.export.archive": "file primitive of the guarded record_export",
    "analytics.incidents.records.link": "primitive of the guarded incident steps, inside their transactions",
    "analytics.incidents.records.step": "primitive of the guarded incident steps, inside their transactions",
    "analytics.incidents.records.set_status": "primitive of the guarded incident steps, inside their transactions",
    "analytics.incidents.report.write_report": "writes the incident report to a file the caller names; it changes "
                                               "nothing in the workspace (every role reads incidents)",
    "analytics.monitor.alerts.evaluate_quietly": "calls the guarded evaluate (the role is checked there; a refusal "
                                                 "becomes the ingest's or analysis's warning)",
}

#: the permission of the functions the issue names
EXPECTED = {
    "analytics.ingest.loader.ingest_file": "ingest", "analytics.ingest.loader.ingest_gold": "ingest",
    "analytics.pipeline.analyze": "analyze", "analytics.redteam.workspace.inject_project": "redteam",
    "analytics.actions.ban": "ban", "analytics.actions.unban": "ban",
    "analytics.actions.trust_workers": "trust", "analytics.actions.untrust_workers": "trust",
    "analytics.actions.requeue": "requeue", "analytics.actions.unrequeue": "requeue",
    "analytics.export.build_export": "export", "analytics.export.record_export": "export",
    "analytics.export.write_export": "export", "analytics.pipeline.save_project_settings": "settings",
    "analytics.access.add_account": "accounts", "analytics.access.set_role": "accounts",
    "analytics.access.set_password": "accounts", "analytics.access.set_disabled": "accounts",
    "analytics.access.unlock": "accounts",
    "analytics.rekey.rotate_key": "keys",
    "analytics.lifecycle.withdraw_ingest": "ingest", "analytics.lifecycle.restore_ingest": "ingest",
    "analytics.lifecycle.purge_ingest": "delete", "analytics.lifecycle.delete_project": "delete",
    "analytics.lifecycle.restore_project": "delete", "analytics.lifecycle.purge_project": "delete",
    # issue 15: acknowledging alerts (analysts), incidents (managers), alert rules (admins)
    "analytics.monitor.alerts.acknowledge": "alerts", "analytics.monitor.alerts.evaluate": "analyze",
    "analytics.monitor.alerts.save_settings": "settings",
    "analytics.incidents.records.open_incident": "incident", "analytics.incidents.records.attach": "incident",
    "analytics.incidents.records.close_incident": "incident", "analytics.incidents.response.contain": "incident",
    "analytics.incidents.response.repair": "incident",
}

ROLE_OF = {"viewer": 0, "analyst": 1, "manager": 2, "admin": 3}
WRITE_SQL = re.compile(r"^\s*(INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+[\w\".]+(\s+\w+)?\s+SET|DELETE\s+FROM"
                       r"|DROP\s+(TABLE|VIEW|SEQUENCE)|CREATE\s+(OR\s+REPLACE\s+)?(TABLE|VIEW|SEQUENCE)|ALTER\s+TABLE)",
                       re.IGNORECASE)
WRITE_NAMES = {"transaction", "run_in_transaction", "append", "append_many", "write_anchor", "write_private",
               "store_file", "executemany", "write_sidecar"}
FILE_WRITES = {"write_bytes", "write_text", "unlink"}
OS_WRITES = {"replace", "rename", "remove", "rmtree"}


def _modules() -> list:
    out = []
    for info in pkgutil.walk_packages(analytics.__path__, "analytics."):
        if info.name.startswith("analytics.cli") or info.name == "analytics.__main__":
            continue
        out.append(importlib.import_module(info.name))
    return out


def _call_name(node: ast.Call) -> tuple[str | None, str | None]:
    f = node.func
    if isinstance(f, ast.Name):
        return None, f.id
    if isinstance(f, ast.Attribute):
        base = f.value.id if isinstance(f.value, ast.Name) else None
        return base, f.attr
    return None, None


def _direct_write(fn: ast.AST) -> bool:
    for node in ast.walk(fn):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and WRITE_SQL.match(node.value):
            return True
        if isinstance(node, ast.Call):
            base, name = _call_name(node)
            if name in WRITE_NAMES and (name != "append" and name != "append_many" or base == "audit"):
                return True
            if name in FILE_WRITES or (base in ("os", "shutil") and name in OS_WRITES):
                return True
    return False


def _calls(fn: ast.AST) -> set[str]:
    return {n for node in ast.walk(fn) if isinstance(node, ast.Call) for _, n in [_call_name(node)] if n}


def _writers(module) -> set[str]:
    """Qualified names of the module's public functions and methods that write, directly or
    through a function or method of the same module."""
    tree = ast.parse(Path(module.__file__).read_text())
    defs: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defs[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    defs[f"{node.name}.{item.name}"] = item
    guarded_here = {q.rsplit(".", 1)[-1] for q in GUARDED if q.startswith(module.__name__ + ".")}
    writes = {name for name, fn in defs.items() if _direct_write(fn) or name.rsplit(".", 1)[-1] in WRITE_NAMES}
    changed = True
    while changed:              # close over calls inside the module
        changed = False
        for name, fn in defs.items():
            if name not in writes and (_calls(fn) & ({w.rsplit(".", 1)[-1] for w in writes} | guarded_here)):
                writes.add(name)
                changed = True
    return {f"{module.__name__}.{n}" for n in writes if not n.rsplit(".", 1)[-1].startswith("_")}


MODULES = _modules()          # imported now, so GUARDED is complete when the tests are parametrized


def test_every_writer_is_guarded():
    found = set().union(*(_writers(m) for m in MODULES))
    assert "analytics.actions.ban" in found and "analytics.pipeline.analyze" in found     # the walker sees them
    unguarded = sorted(w for w in found if w not in GUARDED and w not in EXEMPT)
    assert not unguarded, ("these functions change a workspace but check no role: declare them with "
                           f"@analytics.access.requires(PERMISSION) (or justify them in EXEMPT): {unguarded}")
    stale = sorted(set(EXEMPT) - found)
    assert not stale, f"EXEMPT lists functions that no longer write (remove them): {stale}"


def test_the_issue_names_get_their_permissions():
    for name, permission in EXPECTED.items():
        assert GUARDED.get(name) == permission, name
    issue = {"ingest": "analyst", "analyze": "analyst", "redteam": "analyst", "ban": "manager", "trust": "manager",
             "requeue": "manager", "export": "manager", "settings": "admin", "accounts": "admin", "delete": "admin",
             "keys": "admin"}
    assert {p: PERMISSIONS[p] for p in issue} == issue                       # new permissions may be added
    assert PERMISSIONS["alerts"] == "analyst" and PERMISSIONS["incident"] == "manager"     # issue 15


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("permission", sorted(PERMISSIONS))
def test_role_permission_table(role, permission):
    expected = ROLE_OF[role] >= ROLE_OF[PERMISSIONS[permission]]
    assert role_can(role, permission) is expected
    assert Identity("x", role).can(permission) is expected
    assert role_can(role, "read")


def _resolve(qualname: str):
    module, _, name = qualname.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError:
        mod, _, cls = module.rpartition(".")
        return getattr(getattr(importlib.import_module(mod), cls), name)


def _dummy_args(fn, ws, actor) -> dict:
    """``ws`` and ``actor``, and a harmless stand-in for every other required argument."""
    out = {}
    for p in inspect.signature(fn).parameters.values():
        if p.name == "ws":
            out["ws"] = ws
        elif p.name == "actor":
            out["actor"] = actor
        elif p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            out[p.name] = "nobody"
    return out


@pytest.fixture(scope="module")
def matrix_ws(tmp_path_factory):
    from analytics.store import open_workspace

    ws = open_workspace(tmp_path_factory.mktemp("matrix") / "ws")
    add_accounts(ws)
    yield ws
    ws.close()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("qualname", sorted(GUARDED))
def test_every_guarded_function_as_every_role(matrix_ws, qualname, role):
    fn = _resolve(qualname)
    args = _dummy_args(fn, matrix_ws, me(role))
    allowed = role_can(role, GUARDED[qualname])
    try:
        fn(**args)
    except AccessDenied as exc:
        assert not allowed, f"{qualname} refused a {role}: {exc}"
        assert role in str(exc) and "may not" in str(exc)
        return
    except Exception:  # noqa: BLE001 -- past the check, the stand-in arguments fail the body: fine
        pass
    assert allowed, f"{qualname} let a {role} through"


@pytest.mark.parametrize("qualname", sorted(GUARDED))
def test_no_typed_name_and_no_stranger_gets_through(matrix_ws, qualname):
    fn = _resolve(qualname)
    for actor, why in (("admin", "sign in first"), (None, "sign in first"),
                       (Identity("mallory", "admin"), "does not exist")):
        with pytest.raises(AccessDenied, match=why):
            fn(**_dummy_args(fn, matrix_ws, actor))


def test_the_role_is_read_again_from_the_workspace(tmp_path):
    """An identity issued as admin loses its rights as soon as the account is demoted,
    disabled or locked."""
    from analytics import actions
    from analytics.store import open_workspace

    with open_workspace(tmp_path / "ws") as ws:
        add_accounts(ws)
        stale = Identity("tester", "admin")                       # issued before the change
        access.set_role(ws, "tester", "viewer", me("admin"))
        with pytest.raises(AccessDenied, match="tester is a viewer and may not ban"):
            actions.ban(ws, "p", ["w"], "x", stale)
        access.set_role(ws, "tester", "admin", me("admin"))
        access.set_disabled(ws, "tester", me("admin"))
        with pytest.raises(AccessDenied, match="disabled"):
            actions.ban(ws, "p", ["w"], "x", stale)
        ws.con.execute("UPDATE accounts SET must_change = true WHERE name = 'alice'")   # a one-time password
        with pytest.raises(AccessDenied, match="one-time password"):
            actions.ban(ws, "p", ["w"], "x", me("alice"))
        ws.con.execute("UPDATE accounts SET must_change = false, locked_at = now() WHERE name = 'alice'")
        with pytest.raises(AccessDenied, match="locked"):
            actions.ban(ws, "p", ["w"], "x", me("alice"))
