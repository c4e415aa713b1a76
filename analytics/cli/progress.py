"""A terminal progress bar for long commands (tqdm on stderr, silent when not wanted).

When stderr is not a terminal the bar is off, unless ``CROWDTRUST_PROGRESS=lines``: then each
new step is one line ``progress NN% message`` on stderr (for logs and benchmarks that follow a
long run from outside).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

ENV_PROGRESS = "CROWDTRUST_PROGRESS"


def progress_printer(enabled: bool = True) -> Callable[[float, str], None]:
    """Return ``report(fraction, message)`` drawing a tqdm bar on stderr."""
    if enabled and not sys.stderr.isatty() and os.environ.get(ENV_PROGRESS) == "lines":
        return _line_printer()
    if not enabled or not sys.stderr.isatty():
        return lambda frac, msg: None
    from tqdm import tqdm

    bar = tqdm(total=100, file=sys.stderr, bar_format="{l_bar}{bar}| {desc}", leave=False)

    def report(frac: float, msg: str) -> None:
        bar.n = int(round(100 * min(max(frac, 0.0), 1.0)))
        bar.set_description_str(msg)
        bar.refresh()
        if frac >= 1.0:
            bar.close()

    return report


def _line_printer() -> Callable[[float, str], None]:
    last = [None]

    def report(frac: float, msg: str) -> None:
        key = (msg, frac >= 1.0)         # one line per step, and the end
        if key != last[0]:
            last[0] = key
            print(f"progress {100 * min(max(frac, 0.0), 1.0):.0f}% {msg}", file=sys.stderr, flush=True)

    return report
