"""What every file in benchmarks/results/ states about how it was made: the exact command, the
code commit, the machine, the date and how busy the (shared) machine was.

    prov = Provenance()            # at the start of the benchmark: time, commit, load average
    ...
    text = "\n".join(["# Title", "", prov.header(), "", *body])

The header is a short markdown list, the same in every results file.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: The shared datasets: $CROWDTRUST_DATASETS, else ../shared/datasets next to the repository.
DATASETS = Path(os.environ.get("CROWDTRUST_DATASETS") or ROOT.parent / "shared" / "datasets")


def commit() -> str:
    """Short hash of HEAD, marked when tracked files other than the results differ from it (the
    benchmarks run before this one in `make bench` have already rewritten their results)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)benchmarks/results"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{head} with uncommitted changes" if dirty else head


def machine() -> str:
    """CPU model and count, memory, operating system, Python and the main libraries' versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB RAM"
    except (ValueError, OSError):
        mem = "RAM unknown"
    libs = []
    for name in ("numpy", "pandas", "duckdb"):
        mod = sys.modules.get(name)
        if mod is not None:
            libs.append(f"{name} {mod.__version__}")
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem}, {platform.system()} {platform.release()} "
            f"{platform.machine()}, Python {platform.python_version()}" + (", " + ", ".join(libs) if libs else ""))


def command(argv: list[str] | None = None) -> str:
    """The command line that ran this script, as typed from the repository root."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    try:
        argv[0] = str(script.relative_to(ROOT))
    except ValueError:
        pass
    return " ".join([".venv/bin/python", *(shlex.quote(a) for a in argv)])


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


class Provenance:
    """Taken at the start of a benchmark; :meth:`header` is written at its end."""

    def __init__(self, argv: list[str] | None = None):
        self.started = datetime.now(UTC)
        self.t0 = time.perf_counter()
        self.load_start = _load()
        self.commit = commit()
        self.command = command(argv)

    def header(self) -> str:
        secs = time.perf_counter() - self.t0
        return "\n".join([
            f"- Command: `{self.command}` (from the repository root; `make bench` runs every benchmark)",
            f"- Commit: `{self.commit}`",
            f"- Machine: {machine()}",
            f"- Date: {self.started:%Y-%m-%d %H:%M} UTC; the whole script took {secs:,.0f} s",
            f"- Load average (1 min): {self.load_start:.1f} at the start, {_load():.1f} at the end, on "
            f"{os.cpu_count()} CPUs (a shared machine: other people's jobs may have run at the same time, "
            "so wall-clock times are upper bounds)",
        ])
