"""Shared fixtures: paths to the real datasets (skipped cleanly when absent) and temp workspaces."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def dataset_path(name: str, file: str = "labels.csv") -> Path:
    """Path to a file of ../shared/datasets/<name>; skips the test when it is not there."""
    p = DATASETS / name / file
    if not p.exists():
        pytest.skip(f"{p} not available (../shared/datasets is absent)")
    return p


def load_dataset(name: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """labels.csv (task, worker, label as text, plus time columns) and gold.csv if present."""
    labels = pd.read_csv(dataset_path(name), dtype={"task": str, "worker": str, "label": str})
    gpath = DATASETS / name / "gold.csv"
    gold = pd.read_csv(gpath, dtype={"task": str, "label": str}) if gpath.exists() else None
    return labels, gold


@pytest.fixture(autouse=True, scope="session")
def fast_key_stretching():
    """Cheap Argon2 parameters for the suite's many accounts and keys (production costs are
    checked once in test_access.py; workspaces record the parameters they were made with)."""
    from argon2 import PasswordHasher

    from analytics import access, encryption

    saved = access.PASSWORD_HASHER, dict(encryption.KDF_PARAMS)
    access.PASSWORD_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    encryption.KDF_PARAMS.update(time_cost=1, memory_cost=8, parallelism=1)
    yield
    access.PASSWORD_HASHER = saved[0]
    encryption.KDF_PARAMS.clear()
    encryption.KDF_PARAMS.update(saved[1])


@pytest.fixture
def workspace(tmp_path):
    """A fresh, empty workspace folder opened for writing, with one account per role
    (tests/auth_support.py; ``admin`` is the first)."""
    from auth_support import add_accounts

    from analytics.store import open_workspace

    ws = open_workspace(tmp_path / "ws")
    add_accounts(ws)
    yield ws
    ws.close()


@pytest.fixture
def admin():
    """The identity of the ``admin`` account of :func:`workspace` (and of every workspace prepared
    with tests/auth_support.py)."""
    from analytics.access import Identity

    return Identity("admin", "admin")


@pytest.fixture
def users():
    """Identities of the per-role accounts of tests/auth_support.py, by role."""
    from analytics.access import ROLES, Identity

    return {role: Identity(role, role) for role in ROLES}
