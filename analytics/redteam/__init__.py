"""Red team: plant data-poisoning attacks into a copy of real labels and score the defences.

* :mod:`~analytics.redteam.attacks` -- the injector (:func:`inject`) and its attack catalogue;
* :mod:`~analytics.redteam.timing` -- synthetic or blended timestamps for the planted labels;
* :mod:`~analytics.redteam.scorecard` -- detection and downstream metrics (:func:`score`),
  several seeds (:func:`evaluate`, :func:`summarize`);
* :mod:`~analytics.redteam.grid` -- parameter sweeps;
* :mod:`~analytics.redteam.workspace` -- :func:`inject_project`, the attacked copy as a new
  project of the workspace with its answer key on disk.
"""

from analytics.redteam.attacks import ATTACKS, PARAMS, Attacked, inject, make_params

__all__ = ["ATTACKS", "PARAMS", "Attacked", "inject", "make_params"]
