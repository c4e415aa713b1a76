"""Helpers shared by the CLI commands: opening the workspace (with its key, waiting while it is
busy), signing in, and resolving the project."""

from __future__ import annotations

import getpass
import os
import sys

from analytics.access import Identity
from analytics.errors import UserError
from analytics.store import Workspace, open_workspace

#: seconds a command waits for another CrowdTrust process to release the workspace
LOCK_WAIT_S = 60.0
ENV_USER = "CROWDTRUST_USER"
ENV_PASSWORD = "CROWDTRUST_PASSWORD"


def workspace_key(args):
    """The key given with --key-file (None: open_workspace falls back to CROWDTRUST_KEY)."""
    from analytics.encryption import secret_from_file

    path = getattr(args, "key_file", None)
    return secret_from_file(path) if path else None


def busy_notice():
    """``on_wait`` for open_workspace: one line on stderr the first time the workspace is busy."""
    said = []

    def on_wait(waited: float, why: str) -> None:
        if not said and waited >= 1.0:
            print(f"busy, retrying: {why}", file=sys.stderr, flush=True)
            said.append(True)
    return on_wait


def open_ws(args, create: bool = False, read_only: bool = False, wait_s: float | None = None) -> Workspace:
    """Open the command's workspace, waiting up to :data:`LOCK_WAIT_S` while another process writes it."""
    return open_workspace(args.workspace, create=create, read_only=read_only, key=workspace_key(args),
                          encrypt=bool(getattr(args, "encrypt", False)),
                          wait_s=LOCK_WAIT_S if wait_s is None else wait_s, on_wait=busy_notice())


def resolve_project(ws: Workspace, name: str | None) -> tuple[str, int]:
    """The project the user named, or the workspace's first project when none is named."""
    if name:
        return name, ws.project_id(name)
    names = ws.project_names()
    if not names:
        raise UserError(f"workspace {ws.path} has no projects; ingest a file first")
    return names[0], ws.project_id(names[0])


# -- signing in ----------------------------------------------------------------------------------

def add_auth_args(p, new_password: bool = False) -> None:
    """``--user`` and ``--password-stdin`` of every command that changes a workspace."""
    p.add_argument("--user", default=None, metavar="NAME",
                   help=f"the account to act as (default: ${ENV_USER}); its password comes from ${ENV_PASSWORD} "
                        "or a prompt" + ("" if new_password else ", or --password-stdin"))
    p.add_argument("--password-stdin", action="store_true",
                   help=("read the NEW password from the first line of standard input (the acting admin's from "
                         f"${ENV_PASSWORD} or a prompt)") if new_password else
                        "read the password from the first line of standard input")


def read_stdin_line(what: str) -> str:
    line = sys.stdin.readline()
    value = line[:-1] if line.endswith("\n") else line
    if not value:
        raise UserError(f"--password-stdin: standard input has no {what} (one line expected)")
    return value.rstrip("\r")


def prompt(text: str) -> str:
    if not sys.stdin.isatty():
        raise UserError(f"no password given: use --password-stdin or set {ENV_PASSWORD} (standard input is not "
                        "a terminal, so there is no prompt)")
    return getpass.getpass(text)


def sign_in(args, ws: Workspace, stdin_is_password: bool = True) -> Identity:
    """Authenticate the account named by --user or $CROWDTRUST_USER; exit 2 on any failure."""
    from analytics.access import has_accounts
    from analytics.signin import authenticate

    name = getattr(args, "user", None) or os.environ.get(ENV_USER)
    if not has_accounts(ws.con):
        raise UserError(f"workspace {ws.path} has no accounts yet: create the first admin with "
                        f"`python -m analytics users add NAME --role admin --workspace {ws.path}`")
    if not name:
        raise UserError("this command changes the workspace, so it needs an account: give --user NAME (password "
                        f"from a prompt or --password-stdin) or set {ENV_USER} and {ENV_PASSWORD}")
    if stdin_is_password and getattr(args, "password_stdin", False):
        password = read_stdin_line("password")
    elif os.environ.get(ENV_PASSWORD):
        password = os.environ[ENV_PASSWORD]
    else:
        password = prompt(f"password for {name}: ")
    return authenticate(ws, name, password, client="cli", record=False)
