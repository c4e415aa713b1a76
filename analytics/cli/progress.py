"""A terminal progress bar for long commands (tqdm on stderr, silent when not wanted)."""

from __future__ import annotations

import sys
from collections.abc import Callable


def progress_printer(enabled: bool = True) -> Callable[[float, str], None]:
    """Return ``report(fraction, message)`` drawing a tqdm bar on stderr."""
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
