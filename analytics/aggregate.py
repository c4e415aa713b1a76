"""Compatibility import path: the aggregation models live in :mod:`analytics.aggregation`, one per module."""

from analytics.aggregation import (  # noqa: F401
    MAX_BYTES,
    MAX_SECONDS,
    MODELS,
    aggregate,
    crowdkit_errors,
    dawid_skene,
    estimate_cost,
    majority_vote,
)
