"""Run every benchmark in turn (`make bench`); each writes its own file in benchmarks/results/.

The accuracy benchmarks read ../shared/datasets and are skipped with a note when it is absent.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "reproduce_published.py", "reliability_1m.py", "behaviour_1m.py", "collusion_1m.py", "pipeline_1m.py",
    "ingest_10m.py", "actions_1m.py", "page_render.py", "redteam_report.py", "monitor_alerts.py",
]
NEEDS_DATASETS = {"reproduce_published.py", "redteam_report.py"}


def main() -> int:
    failed = []
    have_data = (HERE.parent.parent / "shared" / "datasets").exists()
    for name in ORDER:
        if name in NEEDS_DATASETS and not have_data:
            print(f"-- {name}: skipped (../shared/datasets is absent)")
            continue
        print(f"-- {name}", flush=True)
        if subprocess.run([sys.executable, str(HERE / name)], cwd=HERE.parent).returncode != 0:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
