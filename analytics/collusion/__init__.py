"""Collusion and sybil detection (detection-methods.md §3).

Modules: :mod:`.reference` (reference consensus and independence null), :mod:`.pairs`
(co-error and excess agreement per pair, enumerated within items), :mod:`.cotiming`
(permutation null for answers within seconds), :mod:`.graph` (evidence graph, Louvain
communities, community scores, layout), :mod:`.detector` (:class:`CollusionDetector`).
"""

from analytics.collusion.detector import PAIR_COLUMNS, SCORE_COLUMNS, CollusionDetector
from analytics.collusion.graph import graph_layout

__all__ = ["CollusionDetector", "PAIR_COLUMNS", "SCORE_COLUMNS", "graph_layout"]
