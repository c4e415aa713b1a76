"""Answers worded per item, analysed with models that need no shared classes.

When every item offers its own options (a CrowdFlower relation report: "FLUTAMIDE treats
HIRSUTISM", "HIRSUTISM treats FLUTAMIDE", "no_relation"), there is no class "1" that means
the same thing on two items, so a model with one confusion matrix per worker over shared
classes (Dawid-Skene) has nothing to estimate: 244 "classes" for 151 items is noise. Two
measures still hold, because they only compare answers *within* an item:

* the one-coin model (Dawid & Skene 1979 with a single accuracy per worker; Karger, Oh & Shah
  2011; crowd-kit's ``OneCoinDawidSkene``): worker w gives the true option with probability
  p_w and otherwise one of the item's other options, whatever the words are;
* agreement with the item's consensus (the leave-one-out agreement of
  :mod:`analytics.workers`, Krippendorff's alpha over within-item codes).

Each item's distinct answers (and its gold answer) are coded 1..m_i in alphabetical order of
their text, which carries no information about which is right; the analysis runs on those
codes with ``onecoin`` whatever model the project's settings name, and every result is
decoded back to the answers' own words. Per-worker confusion matrices over codes mean
nothing and are not stored.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analytics.answers.base import Encoding
from analytics.dataset import FINAL_ANSWERS_SQL, from_frame

MODEL = "onecoin"


def load_item_specific(con, project_id: int, exclude_workers):
    """Arrays with per-item answer codes, and the :class:`ItemSpecific` encoding that decodes them."""
    params: dict = {"project_id": project_id}
    extra = ""
    if exclude_workers:
        extra = "AND NOT list_contains($excluded, worker)"
        params["excluded"] = list(exclude_workers)
    df = con.execute(FINAL_ANSWERS_SQL.format(extra_filter=extra), params).df()
    for col in ("started_at", "submitted_at", "duration_s"):
        if df[col].isna().all():
            df = df.drop(columns=col)
    gold = con.execute("SELECT task, label FROM gold WHERE project_id = ?", [project_id]).df()
    gold = gold[gold["task"].isin(set(df["task"]))]
    options = (pd.concat([df[["task", "label"]], gold[["task", "label"]]])
               .drop_duplicates().sort_values(["task", "label"], kind="stable").reset_index(drop=True))
    options["code"] = options.groupby("task").cumcount()
    k = int(options["code"].max()) + 1 if len(options) else 1
    classes = [f"{i + 1:02d}" for i in range(max(k, 2))]
    codes = np.asarray(classes, dtype=object)
    coded = df.merge(options, on=["task", "label"], how="left")
    coded["label"] = codes[coded["code"].to_numpy()]
    g = gold.merge(options, on=["task", "label"], how="left")
    g["label"] = codes[g["code"].to_numpy()]
    data = from_frame(coded.drop(columns=["code"]), gold=g[["task", "label"]], classes=classes)
    return data, ItemSpecific(options)


class ItemSpecific(Encoding):
    """Per-item answer codes (see the module docstring)."""

    kind = "item-specific"
    # codes are alphabetical positions within each item: runs of one code, a worker's code
    # distribution and patterns over codes say nothing about the answers
    order_blind = ("straightline", "pattern", "skew")

    def __init__(self, options: pd.DataFrame):
        self.options = options            # task, label (text), code

    def method(self, requested: str) -> str:
        return MODEL

    def _text(self, data, codes: np.ndarray) -> np.ndarray:
        """Answer text of code ``codes[t]`` on coded task t."""
        key = pd.MultiIndex.from_arrays([np.asarray(data.task_ids, dtype=object), codes])
        lookup = self.options.set_index(["task", "code"])["label"]
        return lookup.reindex(key).to_numpy(dtype=object)

    def _long(self, data, probas: np.ndarray) -> pd.DataFrame:
        opts = self.options
        pos = pd.Index(np.asarray(data.task_ids, dtype=object)).get_indexer(opts["task"])
        ok = pos >= 0
        o = opts[ok]
        return pd.DataFrame({"task": o["task"].to_numpy(), "label": o["label"].to_numpy(),
                             "p": probas[pos[ok], o["code"].to_numpy()]})

    def labels_frame(self, data, consensus) -> pd.DataFrame:
        frame = pd.DataFrame({"task": data.task_ids, "label": self._text(data, consensus.labels),
                              "confidence": consensus.confidence})
        frame["n_options"] = self.options.groupby("task").size().reindex(frame["task"]).fillna(0).astype(int).to_numpy()
        frame["n_labels"] = np.bincount(data.task, minlength=data.n_tasks)
        return frame

    def _reasons_in_words(self, data, reasons: pd.Series) -> np.ndarray:
        """Item reasons with the per-item codes ('label 02 ... would be 03') replaced by the answers."""
        lookup = self.options.assign(c=[f"{c + 1:02d}" for c in self.options["code"]]).set_index(["task", "c"])["label"]
        tasks = np.asarray(data.task_ids, dtype=object)
        out = reasons.fillna("").to_numpy(dtype=object).copy()
        for i in np.flatnonzero(pd.Series(out).str.contains(r"\b\d\d\b", regex=True).to_numpy()):
            task = tasks[i]
            out[i] = re.sub(r"\b(label|be) (\d\d)\b",
                            lambda m, t=task: f"{m.group(1)} '{lookup.get((t, m.group(2)), m.group(2))}'", out[i])
        return out

    def decode(self, result, data):
        text = self._text(data, result.consensus.labels)
        result.probs = self._long(data, result.consensus.probas)
        result.labels = pd.DataFrame({"task": data.task_ids, "label": text,
                                      "confidence": result.labels["confidence"].to_numpy()})
        result.items["label"] = text
        result.items["reasons"] = self._reasons_in_words(data, result.items["reasons"])
        result.confusion = result.confusion.iloc[0:0]
        per_item = self.options.groupby("task").size()
        s = result.summary
        s.update({"answer_kind": self.kind, "classes": [], "n_classes": None,
                  "mean_options_per_item": float(per_item.mean()) if len(per_item) else None,
                  "model_note": "answers are worded per item: one-coin model on per-item options"})
        return result
