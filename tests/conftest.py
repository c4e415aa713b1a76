"""Shared fixtures: paths to the real datasets (skipped cleanly when absent) and temp workspaces.

Tests that need something outside the repository -- the shared datasets (``dataset_path``,
``load_dataset``) or Chromium (``browser_support.require_browser``) -- call :func:`missing`
when it is not there: the test is skipped, or, with ``CROWDTRUST_REQUIRE_DATASETS=1`` (set by
``.ci/run``, where both are installed), it fails, so CI cannot pass with those tests silently
skipped. The end of the run prints how many such tests ran, passed, failed and skipped.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The shared datasets: $CROWDTRUST_DATASETS, else ../shared/datasets next to the repository.
DATASETS = Path(os.environ.get("CROWDTRUST_DATASETS") or ROOT.parent / "shared" / "datasets")
sys.path.insert(0, str(Path(__file__).resolve().parent))
#: The CI switch: when set (to anything but 0/false/no), missing datasets or Chromium fail the test.
REQUIRE_ENV = "CROWDTRUST_REQUIRE_DATASETS"

# Which tests used a shared resource ("datasets", "browser"), and which fixtures did so while
# being set up. One registry even when this file is imported twice (as ``conftest`` by pytest
# and as ``tests.conftest`` by test modules).
_USED = sys.modules.setdefault("_crowdtrust_test_resources", types.ModuleType("_crowdtrust_test_resources"))
if not hasattr(_USED, "tests"):
    _USED.tests = {}          # nodeid -> set of resource kinds
    _USED.fixtures = {}       # (fixture name, scope node id) -> set of resource kinds
    _USED.in_setup = []       # stack of [fixture key, kinds] for fixtures being set up
    _USED.outcome = {}        # nodeid -> (resource kinds, "passed" | "failed" | "skipped" | None)


def required() -> bool:
    """True when the CI switch asks for every shared resource to be present."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def note_use(kind: str) -> None:
    """Record that the running test (or the fixture being set up) needs resource ``kind``."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    if current:
        _USED.tests.setdefault(current.rsplit(" (", 1)[0], set()).add(kind)
    for frame in _USED.in_setup:
        frame[1].add(kind)


def missing(kind: str, reason: str) -> None:
    """Skip the running test because ``reason``; under the CI switch, fail it instead."""
    note_use(kind)
    if required():
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 does not allow skipping this test", pytrace=False)
    pytest.skip(reason)


def dataset_path(name: str, file: str = "labels.csv") -> Path:
    """Path to a file of ../shared/datasets/<name>; skips the test when it is not there (fails
    under ``CROWDTRUST_REQUIRE_DATASETS=1``)."""
    note_use("datasets")
    p = DATASETS / name / file
    if not p.exists():
        missing("datasets", f"{p} not available (../shared/datasets is absent; "
                            "CROWDTRUST_DATASETS=DIR points elsewhere)")
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


# -- reporting which tests used the shared resources ---------------------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    frame = [(fixturedef.argname, request.node.nodeid), set()]
    _USED.in_setup.append(frame)
    try:
        return (yield)
    finally:
        _USED.in_setup.remove(frame)
        if frame[1]:
            _USED.fixtures.setdefault(frame[0], set()).update(frame[1])


def _kinds(item) -> set[str]:
    kinds = set(_USED.tests.get(item.nodeid, ()))
    for (name, scope_id), k in _USED.fixtures.items():
        if name in item.fixturenames and item.nodeid.startswith(scope_id):
            kinds |= k
    return kinds


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    kinds = _kinds(item)
    if kinds:
        rank = {"passed": 0, "skipped": 1, "failed": 2}
        now = "failed" if report.failed else "skipped" if report.skipped else "passed"
        kind_before, before = _USED.outcome.get(item.nodeid, (set(), None))
        if report.when == "call" or now != "passed":
            if before is None or rank[now] > rank[before]:
                before = now
        _USED.outcome[item.nodeid] = (kind_before | kinds, before)
    return report


_LABEL = {"datasets": f"shared datasets ({DATASETS})", "browser": "headless Chromium"}


def pytest_terminal_summary(terminalreporter):
    """One line per shared resource: how many tests needed it and how they ended."""
    counts: dict[str, dict[str, int]] = {}
    for kinds, outcome in _USED.outcome.values():
        for kind in kinds:
            c = counts.setdefault(kind, {"passed": 0, "failed": 0, "skipped": 0})
            c[outcome or "skipped"] += 1
    if not counts:
        return
    terminalreporter.section("tests that need resources outside the repository")
    for kind, c in sorted(counts.items()):
        terminalreporter.write_line(f"{_LABEL.get(kind, kind)}: {sum(c.values())} tests need it: {c['passed']} passed, "
                                    f"{c['failed']} failed, {c['skipped']} skipped")
    terminalreporter.write_line(f"{REQUIRE_ENV}=1: a missing resource fails its tests" if required()
                                else f"{REQUIRE_ENV} is not set: a missing resource skips its tests")
