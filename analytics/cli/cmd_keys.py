"""`python -m analytics rotate-key`: re-encrypt a workspace under a new key (or encrypt a plain one).

The current key comes from ``CROWDTRUST_KEY`` or ``--key-file``, the new one from
``CROWDTRUST_NEW_KEY`` or ``--new-key-file``; an admin signs in (``--user``). Afterwards the
workspace opens with the new key only: keep it safe, nothing can recover the data without it.
"""

from __future__ import annotations

from analytics.cli import add_workspace_args
from analytics.cli.common import add_auth_args, open_ws, sign_in
from analytics.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("rotate-key", help="re-encrypt a workspace with a new key (encrypts a plain workspace)",
                       description=__doc__.split("\n\n")[0])
    add_workspace_args(p, project=False)
    p.add_argument("--new-key-file", default=None, metavar="FILE",
                   help="file holding the new key (default: $CROWDTRUST_NEW_KEY)")
    add_auth_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from analytics.encryption import ENV_NEW_KEY, secret_from_env, secret_from_file
    from analytics.rekey import rotate_key

    new_key = secret_from_file(args.new_key_file) if args.new_key_file else secret_from_env(ENV_NEW_KEY)
    if new_key is None:
        raise UserError(f"give the new key with --new-key-file FILE or in {ENV_NEW_KEY} "
                        "(e.g. `openssl rand -hex 32 > new.key`)")
    ws = open_ws(args)
    try:
        actor = sign_in(args, ws)
        res = rotate_key(ws, new_key, actor)
    finally:
        ws.close()
    what = "re-encrypted with the new key" if res.was_encrypted else "encrypted (AES-256-GCM)"
    print(f"workspace {args.workspace} {what}: database, {res.n_files} stored file(s) and {res.n_private} other "
          f"file(s); audit entry {res.audit_seq}. From now on it opens only with the new key.")
    return 0
