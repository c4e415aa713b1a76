"""Run every benchmark in turn (`make bench`) and check that each rewrote its results file.

    .venv/bin/python benchmarks/run_all.py [--skip-long] [--only NAME[,NAME...]]

Every file in benchmarks/results/ is written by one script below (with the command, commit
and machine, benchmarks/provenance.py). After each script the run checks that its files were
rewritten, and at the end it lists the seconds each script took. The accuracy benchmarks read
../shared/datasets (or $CROWDTRUST_DATASETS); without it they cannot run, and the run fails
naming the files left stale. ``--skip-long`` leaves out aggregation_speed.py, monitor_alerts.py, scale.py (hours) and
redteam_report.py (the red-team report on the real datasets, tens of minutes) and says which files were not refreshed.
Exit status: 0 when every results file was rewritten, 1 otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from provenance import DATASETS, RESULTS  # noqa: E402

# script, its arguments, the results files it writes, needs the shared datasets, long
BENCHMARKS = [
    ("reproduce_published.py", ["--out", "benchmarks/results/reproduce_published.md"],
     ["reproduce_published.md"], True, False),
    ("accuracy_table.py", [], ["accuracy.md"], True, False),
    ("aggregation_speed.py", [], ["aggregation_speed.md"], False, True),     # crowd-kit's GLAD alone ~30 min
    ("reliability_1m.py", ["--out", "benchmarks/results/reliability_1m.md"], ["reliability_1m.md"], False, False),
    ("behaviour_1m.py", [], ["behaviour_1m.md"], False, False),
    ("collusion_1m.py", [], ["collusion_1m.md"], False, False),
    ("pipeline_1m.py", [], ["pipeline_1m.md"], False, False),
    ("ingest_10m.py", [], ["ingest_10m.md"], False, False),
    ("ingest_10m.py", ["--rows", "56000000", "--append"], ["ingest_10m.md"], False, False),   # the 2 GB file
    ("actions_1m.py", [], ["actions_1m.md"], False, False),
    ("page_render.py", ["--rebuild"], ["page_render.md"], False, False),     # analysed by this commit
    ("honest_crowds.py", [], ["honest_crowds.md"], False, False),
    ("redteam_report.py", ["--relevance"], ["redteam_report.md", "redteam_report.csv"], True, True),
    ("monitor_alerts.py", [], ["monitor_alerts.md", "monitor_alerts.csv"], False, True),
    ("concurrency.py", [], ["concurrency.md"], False, False),
    # 1M to 100M labels in memory and on Dask: hours on 2 cores (docs/scale.md)
    ("scale.py", ["--sizes", "1e6", "1e7", "3e7", "1e8", "--memory-max-labels", "1.5e7"], ["scale.md"], False, True),
]


def _stamp(files: list[str]) -> list[float | None]:
    return [(RESULTS / f).stat().st_mtime if (RESULTS / f).exists() else None for f in files]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-long", action="store_true",
                    help="leave out redteam_report.py and aggregation_speed.py (tens of minutes each)")
    ap.add_argument("--only", default=None, help="comma-separated script names (e.g. collusion_1m.py)")
    args = ap.parse_args(argv)
    only = {n.strip() for n in args.only.split(",")} if args.only else None
    have_data = DATASETS.exists()
    done, stale = [], []
    for name, extra, files, needs_data, long in BENCHMARKS:
        if only is not None and name not in only:
            continue
        if long and args.skip_long:
            print(f"-- {name}: left out (--skip-long); not refreshed: {', '.join(files)}", flush=True)
            stale += files
            continue
        if needs_data and not have_data:
            print(f"-- {name}: cannot run, {DATASETS} is absent; not refreshed: {', '.join(files)}", flush=True)
            stale += files
            continue
        cmd = [sys.executable, str(HERE / name), *extra]
        print(f"-- {' '.join(['.venv/bin/python', f'benchmarks/{name}', *extra])}", flush=True)
        before = _stamp(files)
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, cwd=HERE.parent).returncode
        secs = time.perf_counter() - t0
        after = _stamp(files)
        missed = [f for f, b, a in zip(files, before, after, strict=True) if a is None or a == b]
        done.append((" ".join([name, *extra]) if name == "ingest_10m.py" else name, secs, rc, missed))
        stale += missed
    print(f"\n{'benchmark':40s} seconds  status")
    for name, secs, rc, missed in done:
        status = "ok" if rc == 0 and not missed else (f"exit {rc}" if rc else "") + (
            f" did not rewrite {', '.join(missed)}" if missed else "")
        print(f"{name:40s} {secs:7.0f}  {status.strip()}")
    failed = [n for n, _, rc, missed in done if rc != 0 or missed]
    if stale:
        print(f"not refreshed: {', '.join(sorted(set(stale)))}")
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed or stale else 0


if __name__ == "__main__":
    sys.exit(main())
