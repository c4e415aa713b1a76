"""Imports go one way, app -> analytics -> store: nothing under analytics/ imports the UI
(streamlit, plotly) or the app package. Checked on the source with ``ast``, so a lazy import
inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("app", "streamlit", "plotly")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_analytics_imports_no_ui():
    bad = {}
    for path in sorted((ROOT / "analytics").rglob("*.py")):
        hits = sorted(n for n in _imports(path) if n.split(".")[0] in FORBIDDEN)
        if hits:
            bad[str(path.relative_to(ROOT))] = hits
    assert bad == {}


def test_the_check_sees_imports(tmp_path):
    p = tmp_path / "probe.py"
    p.write_text("import plotly.graph_objects as go\nfrom app import charts\n\ndef f():\n    import streamlit\n")
    assert {n.split(".")[0] for n in _imports(p)} == {"plotly", "app", "streamlit"}
