"""Replay a project batch by batch, as it arrived: ingest, analyse, deliver, read the alerts.

Used by the monitoring test, its benchmark (``benchmarks/monitor_alerts.py``) and the demo:
each batch is written as a CSV file and ingested (which evaluates the alert rules), then the
project is analysed (which evaluates them again) and optionally a labels export is delivered
(recorded and archived like any export). After every batch the alerts are read back as
``alerts --json`` prints them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Replay:
    """What a replay saw: the alerts after each batch and the delivered exports."""

    alerts: list[list[dict]] = field(default_factory=list)
    deliveries: list[dict] = field(default_factory=list)

    def first_alert_batch(self) -> int | None:
        """Index of the first batch after which an alert existed (None: never)."""
        return next((i for i, a in enumerate(self.alerts) if a), None)


def replay_batches(workspace, project: str, frames: list[pd.DataFrame], names: list[str], files_dir,
                   gold: pd.DataFrame | None = None, deliver_dir=None, actor=None,
                   analyze: bool = True, start: int = 0, into: Replay | None = None, key=None) -> Replay:
    """Ingest ``frames`` (one per batch) into ``project`` one after the other; see the module docstring.

    ``gold`` goes with the first batch; ``deliver_dir`` (optional) receives a labels export
    ``delivery_<i>.csv`` after every batch; ``start`` numbers the batches (for resuming a
    replay on a copy of the workspace); ``actor`` is the signed-in
    :class:`analytics.access.Identity` doing it (an analyst, a manager to deliver), ``key``
    the key of an encrypted workspace.
    """
    from analytics.cli.cmd_alerts import alert_record
    from analytics.export import write_export
    from analytics.ingest import ingest_file
    from analytics.monitor.alerts import alerts_json
    from analytics.pipeline import analyze as run_analysis
    from analytics.store import open_workspace

    files_dir = Path(files_dir)
    files_dir.mkdir(parents=True, exist_ok=True)
    out = into or Replay()
    for j, (frame, name) in enumerate(zip(frames, names, strict=True)):
        i = start + j
        path = files_dir / f"{name}.csv"
        frame.to_csv(path, index=False)
        gpath = None
        if gold is not None and i == 0:
            gpath = files_dir / "gold.csv"
            gold.to_csv(gpath, index=False)
        with open_workspace(workspace, key=key) as ws:
            ingest_file(ws, path, project, gold_path=gpath, actor=actor)
            if analyze:
                run_analysis(ws, project, actor=actor)
            if deliver_dir is not None:
                d = Path(deliver_dir) / f"delivery_{i}.csv"
                d.parent.mkdir(parents=True, exist_ok=True)
                write_export(ws, project, "labels", d, actor=actor)
                out.deliveries.append({"batch": i, "file": d.name, "path": str(d),
                                       "sha256": hashlib.sha256(d.read_bytes()).hexdigest()})
            out.alerts.append([alert_record(a) for a in alerts_json(ws.con, ws.project_id(project))])
    return out
