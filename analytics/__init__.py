"""CrowdTrust analytics engine: ingestion, aggregation, detectors, actions and exports.

Importable without Streamlit; ``python -m analytics`` is the command line.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

__version__ = "0.2.0"


@lru_cache(maxsize=1)
def code_version() -> str:
    """The release and a digest of the analysis code itself: ``0.2.0+<sha256 of every .py file
    of this package, by relative path>``. Recorded with every run; a run is reused only when
    this matches, so changing a detector (or any analysis code) recomputes instead of
    returning a stale result."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return f"{__version__}+{h.hexdigest()[:16]}"
