"""`make bench` refreshes every results file: each file in benchmarks/results/ is written by a
script that benchmarks/run_all.py runs, and the shared header names command, commit and machine."""

from __future__ import annotations

import importlib.util
import sys

from conftest import ROOT

BENCH = ROOT / "benchmarks"


def _load(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


def test_every_results_file_has_a_benchmark_in_run_all():
    run_all = _load("run_all")
    listed = {f for _, _, files, _, _ in run_all.BENCHMARKS for f in files}
    on_disk = {p.name for p in (BENCH / "results").iterdir() if p.is_file()}
    assert on_disk <= listed, f"results files no benchmark rewrites: {sorted(on_disk - listed)}"
    for script, *_ in run_all.BENCHMARKS:
        assert (BENCH / script).exists()


def test_header_states_command_commit_and_machine():
    prov = _load("provenance").Provenance(argv=[str(BENCH / "collusion_1m.py"), "--out", "x.md"])
    h = prov.header()
    assert "`.venv/bin/python benchmarks/collusion_1m.py --out x.md`" in h
    assert "- Commit: `" in h and "- Machine: " in h and "CPUs" in h and "Load average" in h
