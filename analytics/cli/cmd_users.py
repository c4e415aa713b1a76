"""`python -m analytics users add|passwd|role|disable|enable|unlock|list`: sign-in accounts.

Roles: viewer < analyst (ingest, analyse, red team) < manager (ban, trust, re-queue,
export) < admin (accounts, settings, delete, keys). The first ``users add`` on a workspace
without accounts creates an admin and needs no sign-in (it may also create the workspace,
``--encrypt`` to encrypt it); every later command signs in as an admin (``--user`` or
``CROWDTRUST_USER``, password from ``CROWDTRUST_PASSWORD`` or a prompt). New passwords come
from a prompt or the first line of standard input (``--password-stdin``); ``--one-time``
makes a random one that must be replaced at the first sign-in.
"""

from __future__ import annotations

import os
from pathlib import Path

from analytics.cli import add_workspace_args
from analytics.cli.common import ENV_USER, add_auth_args, open_ws, prompt, read_stdin_line, sign_in
from analytics.errors import UserError


def add_parser(sub) -> None:
    from analytics.access import ROLES

    p = sub.add_parser("users", help="manage sign-in accounts and their roles", description=__doc__.split("\n\n")[0])
    usub = p.add_subparsers(dest="users_command", metavar="SUBCOMMAND")

    a = usub.add_parser("add", help="create an account (the first one of a workspace is an admin, no sign-in)")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--role", choices=ROLES, default=None, help="viewer, analyst, manager or admin")
    a.add_argument("--oidc", default=None, metavar="EMAIL",
                   help="the identity this account signs in with through the OpenID Connect provider")
    a.add_argument("--one-time", action="store_true", help="generate a one-time password and print it")
    add_workspace_args(a, project=False, creates=True)
    add_auth_args(a, new_password=True)
    a.set_defaults(func=add)

    pw = usub.add_parser("passwd", help="set a password: your own, or anyone's as an admin (clears a lockout)")
    pw.add_argument("name", metavar="NAME")
    pw.add_argument("--one-time", action="store_true", help="generate a one-time password and print it")
    add_workspace_args(pw, project=False)
    add_auth_args(pw, new_password=True)
    pw.set_defaults(func=passwd)

    r = usub.add_parser("role", help="change an account's role (recorded in the audit chain)")
    r.add_argument("name", metavar="NAME")
    r.add_argument("new_role", nargs="?", choices=ROLES, metavar="ROLE", help="viewer, analyst, manager or admin")
    r.add_argument("--role", dest="role_opt", choices=ROLES, default=None, help="the same as ROLE")
    add_workspace_args(r, project=False)
    add_auth_args(r)
    r.set_defaults(func=role)

    for name, help_text in (("disable", "disable an account: it can no longer sign in or act"),
                            ("enable", "enable a disabled account again"),
                            ("unlock", "unlock an account locked after too many wrong passwords")):
        d = usub.add_parser(name, help=help_text)
        d.add_argument("name", metavar="NAME")
        add_workspace_args(d, project=False)
        add_auth_args(d)
        d.set_defaults(func=switch, switch=name)

    ls = usub.add_parser("list", help="list the accounts, their roles and status")
    add_workspace_args(ls, project=False)
    add_auth_args(ls)
    ls.set_defaults(func=list_)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _new_password(args, name: str) -> str:
    from analytics.access import check_password, one_time_password

    if args.one_time:
        return one_time_password()
    if args.password_stdin:
        return check_password(read_stdin_line("new password"), name)
    first = prompt(f"new password for {name}: ")
    check_password(first, name)
    if prompt(f"new password for {name} again: ") != first:
        raise UserError("the two passwords differ; nothing was changed")
    return first


def _show_one_time(args, name: str, password: str) -> None:
    if args.one_time:
        print(f"one-time password for {name}: {password}  (to be replaced at the first sign-in; shown only now)")


def add(args) -> int:
    from analytics.access import add_account, bootstrap_admin, has_accounts
    from analytics.store import DB_NAME

    fresh = not (Path(args.workspace) / DB_NAME).exists()
    early = _new_password(args, args.name) if fresh else None     # a bad password leaves no empty workspace
    ws = open_ws(args, create=True)
    try:
        if not has_accounts(ws.con):
            if args.role not in (None, "admin"):
                raise UserError(f"the first account of a workspace is its admin; run `users add {args.name} "
                                "--role admin` first, then add the others")
            password = early or _new_password(args, args.name)
            bootstrap_admin(ws, args.name, password, one_time=args.one_time)
            print(f"created admin {args.name}, the first account of {ws.path}; from now on managing accounts needs "
                  "an admin (--user)")
        else:
            if args.role is None:
                raise UserError("say the new account's role: --role viewer|analyst|manager|admin")
            actor = sign_in(args, ws, stdin_is_password=False)
            password = None if (args.oidc and not args.password_stdin and not args.one_time) \
                else _new_password(args, args.name)
            add_account(ws, args.name, args.role, actor, password=password, oidc=args.oidc, one_time=args.one_time)
            print(f"created {args.role} {args.name}" + (f" (signs in as {args.oidc})" if args.oidc else ""))
        _show_one_time(args, args.name, password or "")
    finally:
        ws.close()
    return 0


def passwd(args) -> int:
    from analytics.access import set_password

    if not args.user and not os.environ.get(ENV_USER):
        args.user = args.name            # changing one's own password: sign in as oneself
    ws = open_ws(args)
    try:
        actor = sign_in(args, ws, stdin_is_password=False)
        password = _new_password(args, args.name)
        set_password(ws, args.name, password, actor, one_time=args.one_time and actor.name != args.name)
        print(f"password of {args.name} changed")
        _show_one_time(args, args.name, password)
    finally:
        ws.close()
    return 0


def role(args) -> int:
    from analytics.access import set_role

    new = args.new_role or args.role_opt
    if new is None:
        raise UserError(f"say the new role: `users role {args.name} ROLE` (viewer, analyst, manager or admin)")
    ws = open_ws(args)
    try:
        old = set_role(ws, args.name, new, sign_in(args, ws))
    finally:
        ws.close()
    print(f"{args.name}: {old} -> {new}")
    return 0


def switch(args) -> int:
    from analytics.access import set_disabled, unlock

    ws = open_ws(args)
    try:
        actor = sign_in(args, ws)
        if args.switch == "unlock":
            unlock(ws, args.name, actor)
        else:
            set_disabled(ws, args.name, actor, disabled=args.switch == "disable")
    finally:
        ws.close()
    print(f"{args.name}: {dict(disable='disabled', enable='enabled', unlock='unlocked')[args.switch]}")
    return 0


def list_(args) -> int:
    from analytics.access import check, list_accounts

    ws = open_ws(args)
    try:
        check(ws, sign_in(args, ws), "accounts")
        df = list_accounts(ws.con)
    finally:
        ws.close()
    for col in ("created_at", "changed_at"):
        df[col] = df[col].dt.strftime("%Y-%m-%d %H:%M").fillna("-")
    df["oidc_subject"] = df["oidc_subject"].fillna("-")
    print(df.to_string(index=False))
    return 0
