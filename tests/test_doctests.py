"""The runnable examples in the docstrings of the detectors (analytics/behaviour/,
analytics/collusion/) and of the bundled example data run as doctests, on the tiny crowd
bundled in analytics/examples/ (planted workers named after what they do)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for pkg in ("analytics/behaviour", "analytics/collusion", "analytics/examples")
    for p in (ROOT / pkg).glob("*.py"))
#: Modules whose docstrings must carry a runnable example (each detector, the package overviews).
WITH_EXAMPLES = {"analytics.behaviour", "analytics.behaviour.burst", "analytics.behaviour.churn",
                 "analytics.behaviour.drift", "analytics.behaviour.patterns", "analytics.behaviour.skew",
                 "analytics.behaviour.speed", "analytics.collusion.detector", "analytics.examples"}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    mod = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in doctest.DocTestFinder().find(mod):
        runner.run(test, out=report.append)
    res = runner.summarize(verbose=False)
    assert res.failed == 0, "".join(report)
    if name in WITH_EXAMPLES:
        assert res.attempted > 0, f"{name} has no runnable example"


def test_no_example_is_skipped():
    skipped = [f"{p.relative_to(ROOT)}:{i}" for pkg in ("analytics/behaviour", "analytics/collusion")
               for p in sorted((ROOT / pkg).glob("*.py"))
               for i, line in enumerate(p.read_text().splitlines(), 1) if "doctest: +SKIP" in line]
    assert skipped == []


def test_the_bundled_crowd_is_what_its_builder_writes():
    from analytics.examples import TINY_CROWD
    from analytics.examples.build import build

    assert build().to_csv(index=False) == TINY_CROWD.read_text()
