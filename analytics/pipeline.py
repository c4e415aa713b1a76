"""Analysis runs: aggregation, agreement, worker and item scores, detectors and verdicts.

:func:`analyze_arrays` runs everything in memory on :class:`~analytics.dataset.LabelArrays`
and returns an :class:`Analysis`; :func:`analyze` reads a project's arrays from the
workspace (Arrow, not row by row), runs :func:`analyze_arrays` and stores every result as
tables keyed by a run id, together with the parameters, the input fingerprint, the code
version and the duration. Runs are immutable; a complete run with the same fingerprint and
parameters is reused instead of recomputed. The newest complete run is what pages show.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import analytics
from analytics import answers
from analytics.access import Identity, requires
from analytics.consensus import Consensus, argmax_lowest
from analytics.dataset import LabelArrays
from analytics.evidence import empty_signals
from analytics.settings import AnalysisSettings, as_settings
from analytics.store import first_row
from analytics.trust import TrustSettings, WorkerVerdict, crowd_wide_sentence, item_verdict

Progress = Callable[[float, str], None]

WORKER_CORE = ["worker", "n_labels", "trust", "suspect", "reasons"]
ITEM_CORE = ["task", "label", "confidence", "n_labels", "suspect", "reasons"]


@dataclass
class Analysis:
    """Everything one analysis computes, keyed by original ids (not codes)."""

    consensus: Consensus
    labels: pd.DataFrame
    workers: pd.DataFrame
    items: pd.DataFrame
    signals: pd.DataFrame
    confusion: pd.DataFrame
    pairs: pd.DataFrame
    communities: pd.DataFrame
    summary: dict = field(default_factory=dict)
    settings: AnalysisSettings = field(default_factory=AnalysisSettings)
    probs: pd.DataFrame | None = None
    """Long (task, label, p) class probabilities when they are not ``labels``' p_ columns
    (multi-label and item-specific projects, :mod:`analytics.answers`)."""


def _noop(frac: float, msg: str) -> None:
    pass


def analyze_arrays(data: LabelArrays, settings: AnalysisSettings | TrustSettings | None = None,
                   method: str | None = None, progress: Progress | None = None,
                   extra_evidence: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> Analysis:
    """Run the full analysis on coded labels (no workspace needed).

    ``settings`` is the whole :class:`~analytics.settings.AnalysisSettings` (or just its
    verdict part, :class:`~analytics.trust.TrustSettings`); ``method`` overrides its model.
    ``extra_evidence`` is (scores, signals) of detectors that only apply to some kinds of
    answers (:meth:`analytics.answers.Encoding.evidence`); they join the behaviour evidence.
    """
    from analytics import agreement, items
    from analytics.aggregate import aggregate
    from analytics.behaviour import run_behaviour

    settings = as_settings(settings)
    if method and method != settings.method:
        settings = settings.replace(method=method)
    ts = settings.trust
    progress = progress or _noop
    timings: dict[str, float] = {}

    def step(name: str, frac: float):
        progress(frac, name)
        timings[name] = time.perf_counter()

    def reliability():
        return dataclasses.replace(settings.reliability)

    step("aggregating labels", 0.05)
    consensus = aggregate(data, method=ts.method, use_gold=ts.use_gold)
    # the evidence's reference: the same fit, or a second model's (TrustSettings.evidence_method)
    reference = (consensus if ts.evidence_method == ts.method
                 else aggregate(data, method=ts.evidence_method, use_gold=ts.use_gold))

    step("scoring workers", 0.25)
    rel = reliability().fit(data, reference)
    item_scores = items.item_scores(data, consensus)

    step("agreement statistics", 0.4)
    agree = agreement.agreement_summary(data)
    pair_kappa = agreement.worker_pair_kappa(data)

    step("behaviour detectors", 0.55)
    behaviour_scores, behaviour_signals = run_behaviour(data, reference, settings.behaviour)
    if extra_evidence is not None:
        behaviour_scores = pd.concat([behaviour_scores, extra_evidence[0]], axis=1)
        behaviour_signals = pd.concat([s for s in (behaviour_signals, extra_evidence[1]) if len(s)]
                                      or [empty_signals()], ignore_index=True)

    step("collusion detectors", 0.7)
    coll = dataclasses.replace(settings.collusion).fit(data, reference)

    step("trust verdicts", 0.85)

    def verdict_from(rel):
        scores = pd.concat([rel.scores_, behaviour_scores, coll.scores_], axis=1)
        scores = scores.loc[:, ~scores.columns.duplicated()]
        signals = pd.concat([s for s in (rel.signals_, behaviour_signals, coll.signals_) if len(s)]
                            or [empty_signals()], ignore_index=True)
        return scores, WorkerVerdict(ts).fit(data, scores, signals)

    scores, verdict = verdict_from(rel)
    rescore = {"done": False, "left_out_workers": 0, "left_out_label_share": 0.0}
    if ts.rescore_without_suspects:
        step("re-scoring without suspects", 0.9)
        drop = verdict.evidence_suspects()
        share = float(np.isin(data.worker, np.flatnonzero(drop)).mean()) if drop.any() else 0.0
        rescore.update(left_out_workers=int(drop.sum()), left_out_label_share=round(share, 4))
        if share <= 1.0 - ts.rescore_min_label_share:
            defended = defended_consensus(data, reference, drop, ts)
            if defended is not None:
                rel = reliability().fit(data, defended, exclude=drop)
                scores, verdict = verdict_from(rel)
                rescore["done"] = True
        else:
            rescore["skipped"] = (f"the workers suspected through behaviour or collusion hold {share:.0%} of the "
                                  f"labels; a consensus re-fitted on the rest would describe almost nobody")
    table = verdict.table_
    iv = item_verdict(data, consensus, table["suspect"].to_numpy(bool), ts)

    step("assembling results", 0.95)
    result = _assemble(data, consensus, settings, scores, verdict, item_scores, iv, rel, agree, pair_kappa, coll)
    result.summary["timings_s"] = _durations(timings)
    result.summary["rescore"] = rescore
    result.summary["evidence_method"] = reference.method
    progress(1.0, "done")
    return result


def defended_consensus(data: LabelArrays, consensus: Consensus, suspect: np.ndarray,
                       settings: TrustSettings) -> Consensus | None:
    """The aggregation model re-fitted on the labels of the workers not in ``suspect``.

    Tasks left without a label keep the first fit's posterior; the suspects' matrices are
    set to uniform (their votes carry no information). None when there is nothing to remove
    or nobody would be left.
    """
    from analytics.aggregate import aggregate

    keep = ~suspect[data.worker]
    if keep.all() or not keep.any():
        return None
    refit = aggregate(data.subset(keep), method=consensus.method, use_gold=settings.use_gold)
    covered = np.bincount(data.task[keep], minlength=data.n_tasks) > 0
    probas = np.where(covered[:, None], refit.probas, consensus.probas)
    errors = None
    if refit.confusion is not None:
        errors = refit.confusion.copy()
        errors[suspect] = 1.0 / data.n_classes
    return Consensus(method=consensus.method, probas=probas, labels=argmax_lowest(probas), priors=refit.priors,
                     confusion=errors, skills=refit.skills, difficulty=refit.difficulty)


def _durations(marks: dict[str, float]) -> dict[str, float]:
    names = list(marks)
    end = time.perf_counter()
    out = {}
    for i, n in enumerate(names):
        nxt = marks[names[i + 1]] if i + 1 < len(names) else end
        out[n] = round(nxt - marks[n], 3)
    return out


def _assemble(data, consensus, settings, scores, verdict, item_scores, iv, rel, agree, pair_kappa, coll) -> Analysis:
    wid, tid, cls = data.worker_ids, data.task_ids, data.classes
    K = data.n_classes
    table = verdict.table_
    workers = pd.DataFrame({
        "worker": wid,
        "n_labels": table["n_labels"].to_numpy(),
        "trust": table["trust"].round(4).to_numpy(),
        "suspect": table["suspect"].to_numpy(bool),
        "reasons": table["reasons"].to_numpy(),
        "kind": table["kind"].to_numpy(),
        "low_quality": table["low_quality"].to_numpy(bool),
        "quality": table["quality"].round(4).to_numpy(),
        "suspicion": table["suspicion"].round(4).to_numpy(),
    })
    comp = scores.reindex(range(data.n_workers)).drop(columns=[c for c in workers.columns if c in scores.columns],
                                                       errors="ignore")
    comp = comp.select_dtypes(include=["number", "bool"]).astype(float)
    workers = pd.concat([workers, comp.reset_index(drop=True)], axis=1)

    probs = pd.DataFrame(consensus.probas, columns=[f"p_{c}" for c in cls])
    labels = pd.concat([pd.DataFrame({
        "task": tid, "label": cls[consensus.labels], "confidence": consensus.confidence.round(6),
    }), probs], axis=1)

    items = pd.DataFrame({
        "task": tid, "label": cls[consensus.labels], "confidence": consensus.confidence.round(6),
        "n_labels": iv["n_labels"].to_numpy(), "suspect": iv["suspect"].to_numpy(bool),
        "reasons": iv["reasons"].to_numpy(),
        "n_trusted_labels": iv["n_trusted_labels"].to_numpy(), "exposure": iv["exposure"].round(4).to_numpy(),
        "pivotal": iv["pivotal"].to_numpy(bool),
    })
    iscores = item_scores.reindex(range(data.n_tasks)).drop(columns=[c for c in items.columns if c in item_scores.columns],
                                                            errors="ignore")
    items = pd.concat([items, iscores.select_dtypes(include=["number", "bool"]).astype(float).reset_index(drop=True)], axis=1)

    sig = verdict.signals_.copy()
    sig["worker"] = wid[sig["worker"].to_numpy(np.int64)]

    A = getattr(rel, "shrunk_errors_", None)
    if A is None:
        A = consensus.confusion
    if A is not None:
        w_idx, c_idx, k_idx = np.meshgrid(np.arange(data.n_workers), np.arange(K), np.arange(K), indexing="ij")
        confusion = pd.DataFrame({
            "worker": wid[w_idx.ravel()], "true_label": cls[c_idx.ravel()], "label": cls[k_idx.ravel()],
            "p": A.ravel(),
        })
    else:
        confusion = pd.DataFrame(columns=["worker", "true_label", "label", "p"])

    pairs = _pairs(data, pair_kappa, getattr(coll, "pairs_", None))
    communities = _communities(data, getattr(coll, "communities_", None))

    gold = data.gold_vector()
    has_gold = gold >= 0
    summary = {
        "n_labels": data.n, "n_workers": data.n_workers, "n_tasks": data.n_tasks, "n_classes": K,
        "classes": [str(c) for c in cls], "method": consensus.method,
        "has_time": data.has_time, "n_gold": int(has_gold.sum()),
        **_gold_accuracy(data, consensus, settings.trust),
        "mean_confidence": float(consensus.confidence.mean()),
        "n_suspect_workers": int(workers["suspect"].sum()),
        "n_suspect_items": int(items["suspect"].sum()),
        "suspects_by_kind": workers.loc[workers["suspect"], "kind"].replace("", "other").value_counts().to_dict(),
        "n_low_quality_workers": int(workers["low_quality"].sum()),
        "crowd_wide_signals": verdict.crowd_wide_,
        "crowd_wide_note": crowd_wide_sentence(verdict.crowd_wide_),
        "settings": settings.to_dict(),
    }
    summary.update(_agreement_summary(agree))
    return Analysis(consensus=consensus, labels=labels, workers=workers, items=items, signals=sig,
                    confusion=confusion, pairs=pairs, communities=communities, summary=summary, settings=settings)


def _gold_accuracy(data: LabelArrays, consensus: Consensus, ts: TrustSettings) -> dict:
    """Accuracy of the aggregated labels on gold, as an honest evaluation.

    Without ``use_gold`` the model never saw the gold, so the plain accuracy is an evaluation.
    With it, the gold answers were part of the fit and scoring them again would grade the
    model on its own answer key (1.0 on act_SP_amt against 0.944 honestly). Then the gold
    tasks are split into two halves (by task code parity) and each half is scored by a model
    fitted with only the other half's gold (2-fold cross-fitting).
    """
    gold = data.gold_vector()
    has = gold >= 0
    if not has.any():
        return {"gold_accuracy": None, "gold_accuracy_kind": None}
    if not ts.use_gold:
        return {"gold_accuracy": float((consensus.labels[has] == gold[has]).mean()),
                "gold_accuracy_kind": "evaluation: gold not used by the model or the verdict"}
    from analytics.aggregate import aggregate

    correct = 0
    for fold in (0, 1):
        held = data.gold_task % 2 == fold
        if not held.any():
            continue
        fit_on = dataclasses.replace(data, gold_task=data.gold_task[~held], gold_label=data.gold_label[~held])
        cons = aggregate(fit_on, method=consensus.method, use_gold=True)
        correct += int((cons.labels[data.gold_task[held]] == data.gold_label[held]).sum())
    return {"gold_accuracy": correct / int(data.gold_task.size),
            "gold_accuracy_kind": "held out: each half of the gold scored by a model fitted with the other half"}


def _agreement_summary(agree) -> dict:
    out = {}
    for k, v in vars(agree).items():
        if isinstance(v, (tuple, list)):
            out[k] = [None if x is None or not np.isfinite(x) else float(x) for x in v]
        elif isinstance(v, (float, np.floating, int, np.integer)):
            out[k] = None if not np.isfinite(v) else float(v)
        elif isinstance(v, str) or v is None:
            out[k] = v
    return out


def _pairs(data, pair_kappa: pd.DataFrame, coll_pairs: pd.DataFrame | None) -> pd.DataFrame:
    wid = data.worker_ids
    frames = []
    if pair_kappa is not None and len(pair_kappa):
        frames.append(pd.DataFrame({
            "worker_a": wid[pair_kappa["worker_a"].to_numpy(np.int64)],
            "worker_b": wid[pair_kappa["worker_b"].to_numpy(np.int64)],
            "kind": "agreement", "n_shared": pair_kappa["n_shared"].to_numpy(),
            "value": pair_kappa["kappa"].to_numpy(float), "details": None,
        }))
    if coll_pairs is not None and len(coll_pairs):
        detail_cols = [c for c in coll_pairs.columns if c not in ("worker_a", "worker_b", "n_shared", "weight")]
        details = coll_pairs[detail_cols].astype(float).round(6).to_dict(orient="records")
        frames.append(pd.DataFrame({
            "worker_a": wid[coll_pairs["worker_a"].to_numpy(np.int64)],
            "worker_b": wid[coll_pairs["worker_b"].to_numpy(np.int64)],
            "kind": "collusion", "n_shared": coll_pairs["n_shared"].to_numpy(),
            "value": coll_pairs["weight"].to_numpy(float), "details": [json.dumps(d) for d in details],
        }))
    if not frames:
        return pd.DataFrame(columns=["worker_a", "worker_b", "kind", "n_shared", "value", "details"])
    return pd.concat(frames, ignore_index=True)


def _communities(data, comm: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["community", "members", "score", "suspect", "reasons", "details"]
    if comm is None or not len(comm):
        return pd.DataFrame(columns=cols)
    wid = data.worker_ids
    detail_cols = [c for c in comm.columns if c not in ("community", "members", "score", "suspect", "reasons")]
    details = [json.dumps({k: _jsonable(v) for k, v in row.items()}) for row in comm[detail_cols].to_dict(orient="records")]
    return pd.DataFrame({
        "community": comm["community"].astype(int).to_numpy(),
        "members": [[str(wid[m]) for m in ms] for ms in comm["members"]],
        "score": comm["score"].astype(float).to_numpy(),
        "suspect": comm["suspect"].astype(bool).to_numpy(),
        "reasons": comm["reasons"].astype(str).to_numpy(),
        "details": details,
    })


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    return v


# -- workspace runs -------------------------------------------------------------------

def latest_run(con, project_id: int) -> int | None:
    """The newest complete run of a project, or None."""
    row = first_row(con.execute(
        "SELECT max(run_id) FROM runs WHERE project_id = ? AND status = 'complete'", [project_id]
    ))
    return int(row[0]) if row and row[0] is not None else None


def project_settings(con, project_id: int) -> AnalysisSettings:
    """The project's saved settings (defaults for a project that never saved any)."""
    row = first_row(con.execute("SELECT settings FROM projects WHERE project_id = ?", [project_id]))
    return AnalysisSettings.from_dict(json.loads(row[0]) if row and row[0] else None)


@requires("settings")
def save_project_settings(ws, project: str, settings: AnalysisSettings | TrustSettings,
                          actor: Identity | None = None) -> None:
    """Store the project's analysis settings (admins); they apply from the next run."""
    settings = as_settings(settings)
    settings.validate()
    pid = ws.project_id(project)
    with ws.transaction() as con:
        con.execute("UPDATE projects SET settings = ?::JSON WHERE project_id = ?", [json.dumps(settings.to_dict()), pid])


@requires("analyze")
def analyze(ws, project: str, settings: AnalysisSettings | TrustSettings | None = None, method: str | None = None,
            actor: Identity | None = None, progress: Progress | None = None, force: bool = False,
            engine: str = "memory", engine_options: dict | None = None) -> int:
    """Analyse one project of a workspace and store the results; return the run id.

    Banned workers (analytics.actions) are left out of the input. A complete run with the
    same input fingerprint, settings and analysis code (:func:`analytics.code_version`, a
    digest of the package's source) is returned as it is unless ``force``.
    The workspace is given up while the numbers are computed (:meth:`Workspace.released`),
    so other people and processes can read and act meanwhile. ``engine="dask"`` runs the
    analysis partitioned on a Dask cluster (:mod:`analytics.engine`; ``engine_options``:
    cluster, n_workers, memory_limit), with the same access check and run record.
    """
    from analytics import audit

    progress = progress or _noop
    pid = ws.project_id(project)
    con = ws.con
    settings = as_settings(settings) if settings is not None else project_settings(con, pid)
    if method and method != settings.method:
        settings = settings.replace(method=method)
    banned, trusted = _overrides(con, pid)
    if engine == "dask":
        from analytics.engine.workspace import analyze_partitioned_run

        return analyze_partitioned_run(ws, pid, settings, banned, trusted, actor, progress, force,
                                       engine_options or {}, project=project)
    progress(0.0, "reading labels")
    data, encoding = answers.load(con, pid, exclude_workers=banned)
    if encoding.method(settings.method) != settings.method:
        settings = settings.replace(method=encoding.method(settings.method))
    method = settings.method
    run_settings = encoding.adjust(settings)
    fingerprint = data.fingerprint()
    params = {"method": method, "settings": settings.to_dict(), "excluded_workers": sorted(banned),
              "trusted_workers": sorted(trusted)}
    params_json = json.dumps(params, sort_keys=True)
    if not force:
        row = first_row(con.execute(
            "SELECT run_id FROM runs WHERE project_id = ? AND status = 'complete' AND input_fingerprint = ?"
            " AND params::TEXT = ?::JSON::TEXT AND code_version = ? ORDER BY run_id DESC LIMIT 1",
            [pid, fingerprint, params_json, analytics.code_version()],
        ))
        if row:
            progress(1.0, f"reused run {row[0]} (same data and settings)")
            return int(row[0])
    with ws.transaction():
        run_id = int(first_row(con.execute(
            "INSERT INTO runs (project_id, method, params, input_fingerprint, code_version, host, pid)"
            " VALUES (?, ?, ?::JSON, ?, ?, ?, ?) RETURNING run_id",
            [pid, method, params_json, fingerprint, analytics.code_version(), socket.gethostname(), os.getpid()],
        ))[0])
    t0 = time.perf_counter()
    try:
        with ws.released():      # others may read and write while the numbers are computed
            result = analyze_arrays(data, run_settings, method, progress=lambda f, m: progress(0.05 + 0.85 * f, m),
                                    extra_evidence=encoding.evidence(data))
        result = encoding.decode(result, data)
        apply_trusted(result, trusted)
        progress(0.92, "writing results")
        store_run(ws, run_id, pid, result, actor, t0, {"method": method, "fingerprint": fingerprint})
    except BaseException as exc:
        mark_failed(ws, run_id, exc)
        raise
    audit.write_anchor(ws.path, ws.con)
    progress(0.97, "evaluating alert rules")
    from analytics.monitor.alerts import evaluate_quietly

    evaluate_quietly(ws, project, actor, f"run {run_id}")
    progress(1.0, f"run {run_id} complete")
    return run_id


def store_run(ws, run_id: int, pid: int, result: Analysis, actor, t0: float, evidence: dict,
              write=None) -> None:
    """In one transaction: the run's result tables (``write``, default :func:`write_results`), its
    status, duration and summary, and the audited ``analyze`` entry (``evidence`` plus the
    suspect count and duration)."""
    from analytics import audit

    con = ws.con
    with ws.transaction():
        (write or write_results)(con, run_id, result)
        duration = time.perf_counter() - t0
        con.execute("UPDATE runs SET status = 'complete', finished_at = now(), duration_s = ?, summary = ?::JSON "
                    "WHERE run_id = ?", [duration, json.dumps(result.summary, default=_json_default), run_id])
        audit.append(con, actor=actor.name, action="analyze", project_id=pid, target_kind="run", target=str(run_id),
                     evidence={**evidence, "n_suspect_workers": result.summary["n_suspect_workers"],
                               "duration_s": round(duration, 3)})


def mark_failed(ws, run_id: int, exc: BaseException) -> None:
    """Best effort: record a run as failed with its error (the workspace may not have come back)."""
    with contextlib.suppress(Exception):
        ws.con.execute("UPDATE runs SET status = 'failed', finished_at = now(), error = ? WHERE run_id = ?",
                       [f"{type(exc).__name__}: {exc}"[:2000], run_id])


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _overrides(con, project_id: int) -> tuple[list[str], list[str]]:
    """The banned workers (left out of the analysis) and the vetted ones (verdict overridden)."""
    from analytics.actions import banned_workers, trusted_workers

    return list(banned_workers(con, project_id)), list(trusted_workers(con, project_id))


def apply_trusted(result: Analysis, trusted: list[str]) -> None:
    """Show the manager's "trusted" override on vetted workers.

    Detectors still run and their signals stay stored; the verdict is no longer suspect and
    the reasons say that it was overridden, with what the detectors found.
    """
    if not trusted:
        return
    w = result.workers
    vetted = w["worker"].isin(set(trusted))
    flagged = vetted & w["suspect"]
    w.loc[flagged, "reasons"] = "vetted by the quality manager (override); detectors found: " + w.loc[flagged, "reasons"]
    w.loc[vetted & ~w["suspect"], "reasons"] = "vetted by the quality manager"
    w.loc[vetted, "suspect"] = False
    w.loc[vetted, "kind"] = "vetted"
    result.summary["n_suspect_workers"] = int(w["suspect"].sum())
    result.summary["suspects_by_kind"] = w.loc[w["suspect"], "kind"].replace("", "other").value_counts().to_dict()
    result.summary["n_vetted_workers"] = int(vetted.sum())


def _long(df: pd.DataFrame, key: str, core: list[str]) -> pd.DataFrame:
    extra = [c for c in df.columns if c not in core and c != key and pd.api.types.is_numeric_dtype(df[c])]
    long = df[[key, *extra]].melt(id_vars=key, var_name="name", value_name="value")
    long["value"] = long["value"].astype(float)
    return long


def write_results(con, run_id: int, r: Analysis) -> None:
    """Insert one run's result frames into the run_* tables (bulk, via DuckDB's pandas scan)."""
    w = r.workers
    runs_workers = w[WORKER_CORE].assign(run_id=run_id)  # noqa: F841  (scanned by DuckDB below)
    con.execute("INSERT INTO run_workers SELECT run_id, worker, n_labels, trust, suspect, reasons FROM runs_workers")
    w_scores = _long(w.drop(columns=["kind"]), "worker", WORKER_CORE).assign(run_id=run_id)  # noqa: F841
    con.execute("INSERT INTO run_worker_scores SELECT run_id, worker, name, value FROM w_scores WHERE value IS NOT NULL"
                " AND NOT isnan(value)")
    # The verdict's kind (its strongest signal) as a pseudo-signal; fired = the worker is suspect.
    kinds = w[["worker", "kind", "suspect"]].assign(run_id=run_id)  # noqa: F841
    con.execute("INSERT INTO run_signals SELECT run_id, worker, 'verdict', NULL, NULL, suspect, kind, NULL"
                " FROM kinds WHERE kind <> ''")
    it = r.items
    run_items = it[ITEM_CORE].assign(run_id=run_id)  # noqa: F841
    con.execute("INSERT INTO run_tasks SELECT run_id, task, label, confidence, n_labels, suspect, reasons FROM run_items")
    i_scores = _long(it, "task", ITEM_CORE).assign(run_id=run_id)  # noqa: F841
    con.execute("INSERT INTO run_task_scores SELECT run_id, task, name, value FROM i_scores WHERE value IS NOT NULL"
                " AND NOT isnan(value)")
    if r.probs is not None:
        probs = r.probs[["task", "label", "p"]].assign(run_id=run_id)  # noqa: F841
    else:
        probs = r.labels.drop(columns=["label", "confidence"]).melt(id_vars="task", var_name="label", value_name="p")
        probs["label"] = probs["label"].str.slice(2)
        probs = probs.assign(run_id=run_id)  # noqa: F841
    con.execute("INSERT INTO run_task_probs SELECT run_id, task, label, p FROM probs")
    sig = r.signals.copy()
    sig["evidence"] = [json.dumps(e, default=_json_default) if e is not None and not (isinstance(e, float) and np.isnan(e))
                       else None for e in sig["evidence"]]
    # run_signals.fired stores whether the verdict counted the signal (``significant``), not the
    # detector's raw ``fired``; the column keeps its schema name, the read API calls it ``significant``.
    sig = sig.assign(run_id=run_id, fired=sig.get("significant", sig["fired"]).astype(bool))  # noqa: F841
    con.execute("INSERT INTO run_signals SELECT run_id, worker, signal, score, p_value, fired, reason, evidence::JSON"
                " FROM sig")
    conf = r.confusion.assign(run_id=run_id)  # noqa: F841
    con.execute("INSERT INTO run_confusion SELECT run_id, worker, true_label, label, p FROM conf")
    pairs = r.pairs.assign(run_id=run_id)  # noqa: F841
    if len(pairs):
        con.execute("INSERT INTO run_pairs SELECT run_id, worker_a, worker_b, kind, n_shared, value, details::JSON"
                    " FROM pairs")
    comm = r.communities.assign(run_id=run_id)  # noqa: F841
    if len(comm):
        con.execute("INSERT INTO run_communities SELECT run_id, community, members, score, suspect, reasons,"
                    " details::JSON FROM comm")
