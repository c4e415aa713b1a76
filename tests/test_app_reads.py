"""How pages read: ``state.read(fn, ...)`` with the function itself (cached per workspace
stamp, function and arguments), the deprecated ``state.q("module:name", ...)`` shim over it,
and no page on main still naming a query in a string."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import app_fixture  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fixture_ws(tmp_path_factory) -> Path:
    return app_fixture.build(tmp_path_factory.mktemp("reads") / "fixture")


def _script():
    import streamlit as st

    from analytics import catalog, results
    from app import state

    calls = st.session_state.setdefault("calls", [])

    def counted(con, project_id):
        calls.append(project_id)
        return results.project_stats(con, project_id)

    counted.__qualname__ = "counted_stats"
    a = state.read(results.projects)
    b = state.q("projects")                                   # the shim: same function, same cache entry
    st.write(f"same={a.equals(b)} n={len(a)}")
    st.write(f"stats={state.read(results.project_stats, 1)['labels']}")
    st.write(f"q_stats={state.q('project_stats', 1)['labels']}")
    st.write(f"history={len(state.read(catalog.ingest_history, 1))} q_history={len(state.q('catalog:ingest_history', 1))}")
    state.read(counted, 1)
    state.read(counted, 1)                                    # served from the cache
    state.read(counted, 2)                                    # other arguments: a new call
    st.write(f"calls={calls}")
    state.close_run_connection()


def test_read_calls_the_function_and_q_still_resolves_names(fixture_ws):
    at = AppTest.from_function(_script, default_timeout=60)
    at.session_state["workspace_path"] = str(fixture_ws)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    out = "\n".join(m.value for m in at.markdown)
    assert "same=True" in out and "n=0" not in out
    stats = re.search(r"stats=(\d+)", out).group(1)
    assert f"q_stats={stats}" in out and int(stats) > 0
    hist = re.search(r"history=(\d+)", out).group(1)
    assert f"q_history={hist}" in out
    assert "calls=[1, 2]" in out


def test_no_page_reads_through_the_string_dispatcher():
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "app").rglob("*.py")) if p.name != "state.py"
            for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"\bstate\.q\(|\bq\(\"", line)]
    assert hits == []
