"""Accounts for tests: one per role in a workspace, with known passwords.

``add_accounts(ws)`` writes the accounts ``admin``, ``analyst``, ``manager``, ``viewer``
(named after their roles) and the people of the older tests (:data:`PEOPLE`) straight into
the ``accounts`` table, like app_fixture writes results: no audit entries, so tests that
count entries see only their own. The account functions themselves (and their audit
entries) are tested in test_access.py. Pass ``me(name)`` as ``actor`` to any analytics
function; it is re-checked against the workspace like a signed-in identity.
"""

from __future__ import annotations

from analytics import access
from analytics.access import ROLES, Identity

#: the named people of the older tests, and their roles
PEOPLE = {"alice": "manager", "bob": "manager", "carol": "manager", "tester": "admin"}
ACCOUNTS = {**{role: role for role in ROLES}, **PEOPLE}
PASSWORDS = {name: f"{name}-password-1" for name in ACCOUNTS}


def me(name: str) -> Identity:
    """The identity of account ``name`` of a workspace prepared with :func:`add_accounts`."""
    return Identity(name, ACCOUNTS[name])


def add_accounts(ws) -> dict[str, Identity]:
    """Write the test accounts (once) and return the per-role identities."""
    if not access.has_accounts(ws.con):
        rows = [[name, role, access.hash_password(PASSWORDS[name])] for name, role in ACCOUNTS.items()]
        with ws.transaction() as con:
            con.executemany("INSERT INTO accounts (name, role, password_hash) VALUES (?, ?, ?)", rows)
    return {role: me(role) for role in ROLES}


def accounts_at(path):
    """Create (or open) the workspace folder ``path`` with the test accounts; returns ``path``
    (for helpers that open the workspace themselves, e.g. the batch replays)."""
    from analytics.store import open_workspace

    with open_workspace(path) as ws:
        add_accounts(ws)
    return path


def cli_env(name: str) -> dict:
    """Environment for a ``python -m analytics`` subprocess that signs in as account ``name``."""
    import os

    return {**os.environ, "CROWDTRUST_USER": name, "CROWDTRUST_PASSWORD": PASSWORDS[name]}
