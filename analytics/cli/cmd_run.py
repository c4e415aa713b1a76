"""`python -m analytics run LABELS [--gold GOLD] --out DIR [--method cbds]`: the one-shot contract.

Ingests LABELS (any supported format, detected) into a throw-away workspace through the
same readers and validation as `ingest`, analyses it, and writes DIR/labels.csv,
DIR/workers.csv and DIR/items.csv with the columns DESIGN.md fixes.

``--engine dask [--cluster tcp://HOST:PORT]`` runs the same analysis partitioned on a Dask
cluster (a local one of ``--workers`` processes with ``--memory-limit`` each when no address is
given), for projects larger than one machine's memory; a Parquet file or folder is then read
in place (:mod:`analytics.engine`).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from analytics.cli.progress import progress_printer
from analytics.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="one shot: ingest a labels file, analyse it, write labels/workers/items CSVs",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("labels", metavar="LABELS", help="annotation file (CSV/TSV/Parquet/JSONL or a platform export)")
    p.add_argument("--gold", help="gold answers file with columns task,label: evaluation only (trust and suspects "
                                  "do not change) unless --use-gold")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--method", default=None,
                   help="aggregation model (default: the settings file's, else cbds = crowd-prior Bayesian Dawid-Skene)")
    p.add_argument("--settings", metavar="FILE", default=None,
                   help="analysis settings (TOML or JSON with groups trust, reliability, behaviour, collusion)")
    p.add_argument("--format", default=None, help="override format detection")
    p.add_argument("--label-field", default=None, help="answer column for formats with several")
    p.add_argument("--map", action="append", default=[], metavar="CANONICAL=SOURCE",
                   help="column mapping, e.g. --map worker=annotator_id (repeatable)")
    p.add_argument("--map-labels", default=None, metavar="FILE",
                   help="map answers worded per item onto shared classes (CSV pattern,label; see `ingest --help`)")
    p.add_argument("--use-gold", action="store_true",
                   help="use gold for scoring: give it to the aggregation model and to the verdict (gold accuracy "
                        "is then not an independent evaluation)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_engine_args(p)
    p.set_defaults(func=run)


def add_engine_args(p) -> None:
    """--engine, --cluster, --workers, --memory-limit (shared by run and analyze)."""
    p.add_argument("--engine", choices=("memory", "dask"), default="memory",
                   help="memory (default: one process) or dask (partitioned, for projects past one machine's memory)")
    p.add_argument("--cluster", metavar="tcp://HOST:PORT", default=None,
                   help="with --engine dask: the scheduler of an existing Dask cluster (default: start a local one)")
    p.add_argument("--workers", type=int, default=None, help="with --engine dask and no --cluster: worker processes "
                                                             "of the local cluster (default 2)")
    p.add_argument("--memory-limit", default=None, help="with --engine dask and no --cluster: memory limit of each "
                                                       "local worker process, e.g. 4GB (default 4GB; it spills to "
                                                       "disk beyond 60%% of it)")


def engine_kw(args) -> dict:
    if args.engine != "dask" and (args.cluster or args.workers or args.memory_limit):
        raise UserError("--cluster, --workers and --memory-limit need --engine dask")
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be at least 1")
    return {"cluster": args.cluster, "n_workers": args.workers, "memory_limit": args.memory_limit}


def parse_map(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"--map {item!r} must look like canonical=source, e.g. --map worker=annotator_id")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def run(args) -> int:
    from analytics import answers
    from analytics.access import bootstrap_admin
    from analytics.export import to_bytes
    from analytics.ingest import ingest_file
    from analytics.pipeline import analyze_arrays
    from analytics.settings import AnalysisSettings, load_settings_file
    from analytics.store import open_workspace

    settings = load_settings_file(args.settings) if args.settings else AnalysisSettings()
    settings = settings.replace(method=args.method or settings.method, use_gold=args.use_gold or settings.trust.use_gold)
    src = Path(args.labels)
    if not src.exists():
        raise UserError(f"{src}: no such file")
    if args.gold and not Path(args.gold).exists():
        raise UserError(f"{args.gold}: no such gold file")
    out = Path(args.out)
    t0 = time.perf_counter()
    report = progress_printer(enabled=not args.quiet)
    if args.engine == "dask":
        return run_dask(args, settings, src, out, report, t0)
    engine_kw(args)
    with tempfile.TemporaryDirectory(prefix="crowdtrust-run-") as tmp:
        ws = open_workspace(Path(tmp) / "ws")
        try:
            report(0.0, f"reading {src.name}")
            me = bootstrap_admin(ws, "run", password=None)     # a throw-away workspace: no one signs in
            rules = None
            if args.map_labels:
                from analytics.ingest.labelmap import read_rules

                rules = read_rules(args.map_labels)
            summary = ingest_file(ws, src, "run", format=args.format, label_field=args.label_field,
                                  mapping=parse_map(args.map) or None, gold_path=args.gold, actor=me,
                                  label_rules=rules)
            if summary.rows_loaded == 0:
                raise UserError(f"{src}: no valid rows to analyse ({summary.rows_quarantined} rows quarantined: "
                                f"{', '.join(summary.quarantine_reasons) or 'see the file'})")
            data, enc = answers.load(ws.con, ws.project_id("run"))
        finally:
            ws.close()
    if enc.method(settings.method) != settings.method:
        settings = settings.replace(method=enc.method(settings.method))
    result = analyze_arrays(data, enc.adjust(settings), progress=lambda f, m: report(0.1 + 0.85 * f, m),
                            extra_evidence=enc.evidence(data))
    result = enc.decode(result, data)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("labels", result.labels), ("workers", result.workers), ("items", result.items)):
        (out / f"{name}.csv").write_bytes(to_bytes(frame, "csv"))   # formula-like cells escaped
    report(1.0, "done")
    s = result.summary
    for w in summary.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(
        f"{src.name}: {s['n_labels']} labels, {s['n_workers']} workers, {s['n_tasks']} tasks; "
        f"{s['n_suspect_workers']} suspect workers, {s['n_suspect_items']} suspect items"
        + (f"; accuracy on gold {s['gold_accuracy']:.4f}" if s.get("gold_accuracy") is not None else "")
        + f"; wrote {out}/labels.csv, workers.csv, items.csv in {time.perf_counter() - t0:.1f} s",
        file=sys.stdout,
    )
    if s.get("crowd_wide_note"):
        print(f"note: {s['crowd_wide_note']}", file=sys.stdout)
    return 0


def run_dask(args, settings, src: Path, out: Path, report, t0: float) -> int:
    """`run --engine dask`: the partitioned analysis (analytics.engine)."""
    from analytics.access import bootstrap_admin
    from analytics.engine import run_file
    from analytics.engine.output import write_csvs
    from analytics.ingest import ingest_file

    kw = engine_kw(args)
    rules = None
    if args.map_labels:
        from analytics.ingest.labelmap import read_rules

        rules = read_rules(args.map_labels)
    loaded = {}

    def ingest(ws):
        report(0.0, f"reading {src.name}")
        me = bootstrap_admin(ws, "run", password=None)     # a throw-away workspace: no one signs in
        summary = ingest_file(ws, src, "run", format=args.format, label_field=args.label_field,
                              mapping=parse_map(args.map) or None, gold_path=args.gold, actor=me,
                              label_rules=rules)
        if summary.rows_loaded == 0:
            raise UserError(f"{src}: no valid rows to analyse ({summary.rows_quarantined} rows quarantined: "
                            f"{', '.join(summary.quarantine_reasons) or 'see the file'})")
        loaded["summary"] = summary

    with tempfile.TemporaryDirectory(prefix="crowdtrust-run-") as tmp:
        result, _ = run_file(src, settings, Path(tmp), gold=args.gold, mapping=parse_map(args.map) or None,
                             ingest=ingest, progress=lambda f, m: report(0.05 + 0.85 * f, m), **kw)
        report(0.92, "writing results")
        write_csvs(result, out)
    report(1.0, "done")
    s = result.summary
    for w in getattr(loaded.get("summary"), "warnings", []):
        print(f"warning: {w}", file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"{src.name}: {s['n_labels']} labels, {s['n_workers']} workers, {s['n_tasks']} tasks; "
        f"{s['n_suspect_workers']} suspect workers, {s['n_suspect_items']} suspect items"
        + (f"; accuracy on gold {s['gold_accuracy']:.4f}" if s.get("gold_accuracy") is not None else "")
        + f"; wrote {out}/labels.csv, workers.csv, items.csv in {time.perf_counter() - t0:.1f} s "
          f"(dask: {s['engine']['item_partitions']} item and {s['engine']['worker_partitions']} worker partitions)",
        file=sys.stdout,
    )
    if s.get("crowd_wide_note"):
        print(f"note: {s['crowd_wide_note']}", file=sys.stdout)
    return 0
