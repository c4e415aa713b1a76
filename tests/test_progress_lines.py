"""CROWDTRUST_PROGRESS=lines: progress as one line per step when stderr is not a terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def test_progress_lines_when_asked_and_silence_otherwise(tmp_path):
    rng = range(60)
    frame = pd.DataFrame({"task": [f"t{i // 3}" for i in rng], "worker": [f"w{i % 7}" for i in rng],
                          "label": [("a", "b")[(i * 7) % 5 == 0] for i in rng]})
    src = tmp_path / "l.csv"
    frame.to_csv(src, index=False)
    base = [sys.executable, "-m", "analytics", "run", str(src), "--out", str(tmp_path / "o")]
    env = {"PATH": "/usr/bin:/bin", "CROWDTRUST_PROGRESS": "lines"}
    r = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("progress ")]
    assert len(lines) >= 3 and lines[-1] == "progress 100% done"
    pcts = [int(ln.split()[1].rstrip("%")) for ln in lines]
    assert pcts == sorted(pcts)
    quiet = subprocess.run([*base, "--quiet"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    plain = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=300)
    assert "progress " not in quiet.stderr and "progress " not in plain.stderr
