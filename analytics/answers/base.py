"""The interface between a kind of answers and the analysis: what model to use, what extra
evidence to add, and how to turn results about coded tasks back into results about items."""

from __future__ import annotations

import numpy as np
import pandas as pd


class Encoding:
    """How a project's answers were coded for the analysis. The single-choice coding is the identity."""

    kind: str = "single"

    def method(self, requested: str) -> str:
        """The aggregation model to run (a kind may need a particular one)."""
        return requested

    #: Detectors whose input is the order or distribution of class codes, which this coding does not
    #: preserve: their signals are still computed and shown, with weight 0 in the verdict.
    order_blind: tuple[str, ...] = ()

    def adjust(self, settings):
        """The analysis settings for this coding (a copy): the models it needs (:meth:`method`, for
        the labels and for the evidence's reference) and :attr:`order_blind` signals weighted 0."""
        from analytics.settings import as_settings

        s = as_settings(settings)
        changes = {name: self.method(getattr(s.trust, name)) for name in ("method", "evidence_method")
                   if self.method(getattr(s.trust, name)) != getattr(s.trust, name)}
        if self.order_blind:
            changes["signal_weights"] = {**s.trust.signal_weights, **{k: 0.0 for k in self.order_blind}}
        return s.replace(**changes) if changes else s

    def evidence(self, data) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """Extra (scores, signals) of detectors that only make sense for this kind, or None."""
        return None

    def decode(self, result, data):
        """The analysis of the coded arrays as results about the project's items (in place)."""
        result.summary["answer_kind"] = self.kind
        return result

    def labels_frame(self, data, consensus) -> pd.DataFrame:
        """Per item: task, label, confidence, one ``p_<class>`` column per class, n_labels."""
        cls = np.asarray(data.classes, dtype=object)
        frame = pd.DataFrame({"task": data.task_ids, "label": cls[consensus.labels],
                              "confidence": consensus.confidence})
        frame = pd.concat([frame, pd.DataFrame(consensus.probas, columns=[f"p_{c}" for c in cls])], axis=1)
        frame["n_labels"] = np.bincount(data.task, minlength=data.n_tasks)
        return frame

    def item_codes(self, data) -> np.ndarray:
        """Per coded task, the index of its item in :meth:`item_ids`."""
        return np.arange(data.n_tasks)

    def item_ids(self, data) -> np.ndarray:
        return np.asarray(data.task_ids, dtype=object)


class SingleChoice(Encoding):
    kind = "single"
