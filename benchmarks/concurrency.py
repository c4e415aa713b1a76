"""Several writers on one workspace: two processes issuing 200 bans each, and a command-line
analysis while another process reads and bans.

Each ban opens the workspace, bans one worker in one transaction and closes it (what a
click in the dashboard or one `python -m analytics ban` does), so the two processes take
turns on DuckDB's file lock; the check is that all 400 entries land and `audit verify`
passes. The second part runs `python -m analytics analyze` (Dawid-Skene) on a 10,000-worker
project and measures how long another process waits to read and to ban meanwhile.

Writes benchmarks/results/concurrency.md (machine, date, load).

    .venv/bin/python benchmarks/concurrency.py [--per-process 200] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provenance import Provenance  # noqa: E402

from analytics import actions, audit  # noqa: E402
from analytics.access import Identity, add_account, bootstrap_admin  # noqa: E402
from analytics.store import open_workspace  # noqa: E402

PASSWORD = "bench-password-1"
BANNER = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {root!r})
    from analytics import actions
    from analytics.signin import authenticate
    from analytics.store import open_workspace
    path, name, workers = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open_workspace(path, wait_s=120) as ws:
        me = authenticate(ws, name, {password!r}, record=False)
    print("ready", flush=True)
    sys.stdin.readline()
    lat = []
    for w in workers:
        t = time.perf_counter()
        with open_workspace(path, wait_s=120) as ws:
            actions.ban(ws, "p", [w], "concurrent ban", me)
        lat.append(time.perf_counter() - t)
    print(json.dumps(lat), flush=True)
""")


def build(path: Path, n_workers: int, per_worker: int = 6, n_tasks: int = 2000) -> None:
    rng = np.random.default_rng(5)
    workers = np.repeat([f"w{i:05d}" for i in range(n_workers)], per_worker)
    tasks = rng.integers(0, n_tasks, workers.size)
    df = pd.DataFrame({"task": [f"t{t:05d}" for t in tasks], "worker": workers,
                       "label": np.where(rng.random(workers.size) < 0.8, "a", "b"),
                       "source_row": np.arange(1, workers.size + 1)})
    with open_workspace(path) as ws:
        admin = bootstrap_admin(ws, "admin", PASSWORD)
        for name, role in (("m1", "manager"), ("m2", "manager"), ("ann", "analyst")):
            add_account(ws, name, role, admin, password=PASSWORD)
        pid = ws.project_id("p", create=True)
        with ws.transaction() as con:
            con.execute("INSERT INTO ingests (project_id, file_name, size_bytes, sha256, format, rows_read, rows_loaded,"
                        " rows_quarantined, rows_duplicate, actor) VALUES (?, 'x', 1, 'x', 'csv', ?, ?, 0, 0, 'bench')",
                        [pid, len(df), len(df)])
            con.register("_df", df)
            con.execute("INSERT INTO annotations (project_id, ingest_id, source_row, task, worker, label)"
                        " SELECT ?, 1, source_row, task, worker, label FROM _df", [pid])
            con.unregister("_df")


def two_banners(tmp: Path, per: int) -> dict:
    path = tmp / "bans"
    build(path, 2 * per)
    script = tmp / "banner.py"
    script.write_text(BANNER.format(root=str(ROOT), password=PASSWORD))
    workers = [f"w{i:05d}" for i in range(2 * per)]
    with open_workspace(path, read_only=True) as ws:
        before = audit.verify(ws.con).n_entries
    procs = [subprocess.Popen([sys.executable, str(script), str(path), name, *chunk], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, chunk in (("m1", workers[0::2]), ("m2", workers[1::2]))]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    t0 = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=3600) for p in procs]
    wall = time.perf_counter() - t0
    if any(p.returncode for p in procs):
        raise RuntimeError(outs)
    import json

    lat = np.array([x for o in outs for x in json.loads(o[0].strip().splitlines()[-1])])
    with open_workspace(path, read_only=True) as ws:
        res = audit.verify(ws.con, path / audit.ANCHOR_NAME)
        n_bans = ws.con.execute("SELECT count(*) FROM actions WHERE action = 'ban'").fetchall()[0][0]
        banned = len(actions.banned_workers(ws.con, ws.project_id("p")))
    return {"wall": wall, "lat": lat, "entries": res.n_entries - before, "bans": n_bans, "banned": banned,
            "ok": res.ok, "message": res.message}


def analyze_while_others_work(tmp: Path, n_workers: int = 10000) -> dict:
    path = tmp / "analyze"
    build(path, n_workers, per_worker=20, n_tasks=6000)
    env = {**os.environ, "CROWDTRUST_USER": "ann", "CROWDTRUST_PASSWORD": PASSWORD}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "analytics", "analyze", "--workspace", str(path)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reads, bans = [], []
    me = Identity("m1", "manager")
    while proc.poll() is None:
        t = time.perf_counter()
        with open_workspace(path, read_only=True, wait_s=300) as ws:
            ws.con.execute("SELECT count(*) FROM runs").fetchall()
        reads.append(time.perf_counter() - t)
        if len(bans) < 20:
            t = time.perf_counter()
            with open_workspace(path, wait_s=300) as ws:
                actions.ban(ws, "p", [f"w{len(bans):05d}"], "during the analysis", me)
            bans.append(time.perf_counter() - t)
        time.sleep(0.2)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(err)
    with open_workspace(path, read_only=True) as ws:
        ok = audit.verify(ws.con, path / audit.ANCHOR_NAME).ok
        status = ws.con.execute("SELECT status, duration_s FROM runs").fetchall()
    return {"wall": wall, "reads": np.array(reads), "bans": np.array(bans), "ok": ok, "status": status,
            "labels": n_workers * 20, "out": out.strip()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-process", type=int, default=200)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    prov = Provenance()
    with tempfile.TemporaryDirectory(prefix="crowdtrust-conc-") as tmp:
        a = two_banners(Path(tmp), args.per_process)
        print(f"two processes: {a['bans']} bans, {a['entries']} new entries, verify ok={a['ok']}, "
              f"{a['wall']:.1f} s", flush=True)
        b = analyze_while_others_work(Path(tmp))
        print(f"analyze: {b['out']}; reads {len(b['reads'])}, bans {len(b['bans'])}, ok={b['ok']}", flush=True)
    q = lambda x, p: float(np.percentile(x, p)) if len(x) else float("nan")   # noqa: E731
    md = f"""# Several writers on one workspace

{prov.header()}

## Two processes issuing {args.per_process} bans each

Each ban opens the workspace, bans one worker in its own transaction and closes it; the two
processes take turns on DuckDB's file lock (`open_workspace(wait_s=120)`).

| measure | value |
|---|---:|
| bans recorded | {a['bans']} of {2 * args.per_process} |
| new audit entries | {a['entries']} |
| workers banned | {a['banned']} |
| `audit verify` | {'intact' if a['ok'] else 'BROKEN: ' + a['message']} |
| wall time | {a['wall']:.1f} s |
| one ban (open + ban + close), median / 95th pct / max | {q(a['lat'], 50):.2f} / {q(a['lat'], 95):.2f} / {a['lat'].max():.2f} s |

The tail is waiting, not work: both processes poll the file lock (jittered back-off up to
0.2 s), so one can win several turns in a row while the other waits; nothing is lost.

## `python -m analytics analyze` while another process reads and bans

{b['labels']:,} labels. The analysis gives the workspace up while it computes
(`Workspace.released`), so the other process only waits for its short read and write phases.

| measure | value |
|---|---:|
| analysis wall time (subprocess, including start-up) | {b['wall']:.1f} s |
| run | {b['status'][0][0]}, {b['status'][0][1]:.1f} s of analysis |
| reads by the other process during it | {len(b['reads'])}; wait median / max {q(b['reads'], 50):.2f} / {b['reads'].max():.2f} s |
| bans by the other process during it | {len(b['bans'])}; wait median / max {q(b['bans'], 50):.2f} / {(b['bans'].max() if len(b['bans']) else float('nan')):.2f} s |
| `audit verify` afterwards | {'intact' if b['ok'] else 'BROKEN'} |
"""
    print(md)
    if not args.no_write:
        (ROOT / "benchmarks" / "results" / "concurrency.md").write_text(md)
    return 0 if a["ok"] and a["entries"] == 2 * args.per_process and b["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
