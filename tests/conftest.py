"""Shared fixtures: paths to the real datasets (skipped cleanly when absent) and temp workspaces."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"


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


@pytest.fixture
def workspace(tmp_path):
    """A fresh, empty workspace folder opened for writing."""
    from analytics.store import open_workspace

    ws = open_workspace(tmp_path / "ws")
    yield ws
    ws.close()
