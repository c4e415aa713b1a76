"""Multi-label answers analysed per option: the binary-relevance decomposition.

A multi-select answer is a set S of options. Each answer of worker w on item i becomes one
yes/no judgement per option o offered on the item, on the pseudo-task (i, o): ``yes`` when
o is in S (Tsoumakas & Katakis 2007, "Multi-label classification: an overview", binary
relevance; Nowak & Rüger 2010 use it for crowd multi-label agreement). Every model and
detector then runs unchanged on two classes; per-option results are collapsed back to items:

* the item's label is the set of options whose P(yes) >= 0.5 (``(no option)`` when none is);
* its confidence is the product over options of max(P(yes), P(no)): the probability that the
  whole set is right when the options are taken as independent;
* one probability per option (exports get one ``p_<option>`` column per option, never one
  per combination);
* per option: prevalence and Krippendorff's alpha of the yes/no judgements.

Options offered on an item are the options seen in the files the item came from (a batch
that offered 8 relations is not read as 'no' on the 11 it never showed). Timestamps and
durations are kept on one pseudo-row per answer only, so timing detectors count answers,
not options.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.answers.base import Encoding
from analytics.dataset import FINAL_ANSWERS_SQL, from_frame
from analytics.ingest.answers import SEPARATOR

SEP = "\x1f"               # joins item and option in a pseudo-task id (sorts below any printable)
NO_OPTION = "(no option)"
CLASSES = ["no", "yes"]


def _sql(pid_filter: str) -> str:
    fin = FINAL_ANSWERS_SQL.format(extra_filter=pid_filter)
    return f"""
        WITH fin AS ({fin}),
        io AS (SELECT DISTINCT ingest_id, unnest(string_split(label, '{SEPARATOR}')) AS o
               FROM annotations WHERE project_id = $project_id),
        it AS (SELECT DISTINCT task, ingest_id FROM annotations WHERE project_id = $project_id),
        opts AS (SELECT DISTINCT task, o FROM it JOIN io USING (ingest_id) WHERE o <> ''),
        x AS (SELECT f.*, opts.o, row_number() OVER (PARTITION BY f.task, f.worker ORDER BY opts.o) = 1 AS first
              FROM fin f JOIN opts USING (task))
        SELECT task || chr(31) || o AS task, worker,
               CASE WHEN list_contains(string_split(label, '{SEPARATOR}'), o) THEN 'yes' ELSE 'no' END AS label,
               CASE WHEN first THEN started_at END AS started_at,
               CASE WHEN first THEN submitted_at END AS submitted_at,
               CASE WHEN first THEN duration_s END AS duration_s, n_edits
        FROM x ORDER BY 1, worker"""


def load_multilabel(con, project_id: int, exclude_workers, kind_options: dict):
    """Pseudo-task arrays of a multi-label project and their :class:`MultiLabel` encoding."""
    params: dict = {"project_id": project_id}
    extra = ""
    if exclude_workers:
        extra = "AND NOT list_contains($excluded, worker)"
        params["excluded"] = list(exclude_workers)
    df = con.execute(_sql(extra), params).df()
    for col in ("started_at", "submitted_at", "duration_s"):
        if df[col].isna().all():
            df = df.drop(columns=col)
    gold = con.execute(f"""
        WITH io AS (SELECT DISTINCT ingest_id, unnest(string_split(label, '{SEPARATOR}')) AS o
                    FROM annotations WHERE project_id = $pid),
        it AS (SELECT DISTINCT task, ingest_id FROM annotations WHERE project_id = $pid),
        opts AS (SELECT DISTINCT task, o FROM it JOIN io USING (ingest_id) WHERE o <> '')
        SELECT g.task || chr(31) || opts.o AS task,
               CASE WHEN list_contains(string_split(g.label, '{SEPARATOR}'), opts.o) THEN 'yes' ELSE 'no' END AS label
        FROM gold g JOIN opts USING (task) WHERE g.project_id = $pid""", {"pid": project_id}).df()
    data = from_frame(df, gold=gold, classes=CLASSES)
    return data, MultiLabel(list(kind_options.get("options") or []))


def split_ids(task_ids) -> tuple[np.ndarray, np.ndarray]:
    """(item, option) of each pseudo-task id."""
    parts = pd.Series(np.asarray(task_ids, dtype=object)).str.split(SEP, n=1, expand=True)
    return parts[0].to_numpy(dtype=object), parts[1].to_numpy(dtype=object)


class MultiLabel(Encoding):
    """Binary relevance coding of a multi-label project (see the module docstring)."""

    kind = "multilabel"
    # after the decomposition a worker's labels run option by option within each answer: runs of
    # 'no' and the label order mean nothing (tick_count measures what straight-lining would)
    order_blind = ("straightline", "pattern", "drift")

    def __init__(self, options: list[str]):
        self.options = options

    def item_codes(self, data) -> np.ndarray:
        items, _ = split_ids(data.task_ids)
        return pd.factorize(items, sort=True)[0]

    def item_ids(self, data) -> np.ndarray:
        items, _ = split_ids(data.task_ids)
        return np.asarray(pd.unique(items), dtype=object)

    def evidence(self, data):
        from analytics.answers.ticking import TickCount

        det = TickCount().fit(data, self.item_codes(data))
        return det.scores_, det.signals_

    # -- collapsing -------------------------------------------------------------------------
    def _per_item(self, data, p_yes: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
        items, options = split_ids(data.task_ids)
        long = pd.DataFrame({"task": items, "label": options, "p": p_yes})
        chosen = long[long["p"] >= 0.5].groupby("task", sort=True)["label"].agg(lambda s: SEPARATOR.join(sorted(s)))
        certain = np.maximum(long["p"], 1 - long["p"])
        conf = pd.Series(certain.to_numpy()).groupby(long["task"].to_numpy()).prod()
        ids = np.asarray(sorted(pd.unique(items)), dtype=object)
        frame = pd.DataFrame({"task": ids})
        frame["label"] = chosen.reindex(ids).fillna(NO_OPTION).to_numpy()
        frame["confidence"] = conf.reindex(ids).to_numpy()
        return frame, long

    def labels_frame(self, data, consensus) -> pd.DataFrame:
        frame, long = self._per_item(data, consensus.probas[:, 1])
        wide = long.pivot_table(index="task", columns="label", values="p", aggfunc="first", fill_value=0.0)
        wide = wide.reindex(columns=sorted(wide.columns)).add_prefix("p_")
        frame = frame.merge(wide, left_on="task", right_index=True, how="left")
        answers = pd.DataFrame({"item": split_ids(data.task_ids)[0][data.task], "worker": data.worker})
        per = answers.drop_duplicates().groupby("item").size()
        frame["n_labels"] = per.reindex(frame["task"]).fillna(0).astype(int).to_numpy()
        return frame

    def decode(self, result, data):
        from analytics.agreement import krippendorff_alpha

        item_of, opt_of = split_ids(data.task_ids)
        p_yes = result.labels["p_yes"].to_numpy(float)
        labels = self.labels_frame(data, result.consensus)
        _, long = self._per_item(data, p_yes)
        result.probs = long
        result.labels = labels.drop(columns=["n_labels"])
        # items: one row per item from the per-option rows
        it = result.items.assign(item=item_of, option=opt_of)
        g = it.groupby("item", sort=True)
        reasons = it[it["reasons"].fillna("") != ""].assign(
            r=lambda d: "option " + d["option"].astype(str) + ": " + d["reasons"].astype(str)
        ).groupby("item")["r"].agg(lambda s: "; ".join(s.iloc[:5]) + (f"; and {len(s) - 5} more options"
                                                                        if len(s) > 5 else ""))
        items = pd.DataFrame({"task": labels["task"].to_numpy(), "label": labels["label"].to_numpy(),
                              "confidence": labels["confidence"].to_numpy(),
                              "n_labels": labels["n_labels"].to_numpy(),
                              "suspect": g["suspect"].any().reindex(labels["task"]).to_numpy(bool)})
        items["reasons"] = reasons.reindex(labels["task"]).fillna("").to_numpy()
        rest = [c for c in it.columns if c not in ("task", "label", "confidence", "n_labels", "suspect", "reasons",
                                                   "item", "option") and pd.api.types.is_numeric_dtype(it[c])]
        agg = {c: ("min" if c == "n_trusted_labels" else "max" if c in ("exposure", "pivotal") else "mean")
               for c in rest}
        if agg:
            items = items.merge(g.agg(agg), left_on="task", right_index=True, how="left")
        result.items = items
        # workers: answers, not option judgements
        n_answers = pd.DataFrame({"w": data.worker, "i": pd.factorize(item_of)[0][data.task]}).drop_duplicates()
        counts = np.bincount(n_answers["w"].to_numpy(), minlength=data.n_workers)
        result.workers["n_labels"] = counts[pd.Index(data.worker_ids).get_indexer(result.workers["worker"])]
        # reliability sentences count option judgements, not answers: say so
        units = r"\b(of|from|on) ([\d,]+) labels\b"
        result.workers["reasons"] = result.workers["reasons"].fillna("").str.replace(
            units, r"\1 \2 option judgements", regex=True)
        result.signals["reason"] = result.signals["reason"].fillna("").str.replace(
            units, r"\1 \2 option judgements", regex=True)
        for frame, col in ((result.workers, "reasons"), (result.signals, "reason")):
            frame[col] = frame[col].str.replace(r"\bof ([\d,]+) items where\b", r"of \1 option judgements where",
                                                regex=True)
        # per-option agreement and prevalence
        per_option = []
        for o in sorted(pd.unique(opt_of)):
            mask = (opt_of == o)[data.task]
            sub = data.subset(mask)
            alpha = krippendorff_alpha(sub) if sub.n else float("nan")
            per_option.append({"option": str(o), "items": int((opt_of == o).sum()),
                               "prevalence": float(p_yes[opt_of == o].mean()),
                               "items_chosen": int((p_yes[opt_of == o] >= 0.5).sum()),
                               "alpha": None if not np.isfinite(alpha) else float(alpha)})
        s = result.summary
        s.update({"answer_kind": self.kind, "options": per_option, "n_pseudo_labels": s.get("n_labels"),
                  "n_labels": int(counts.sum()), "n_tasks": int(len(items)),
                  "n_suspect_items": int(items["suspect"].sum()),
                  "classes": sorted({str(o) for o in opt_of}), "n_classes": int(len(pd.unique(opt_of)))})
        return result
