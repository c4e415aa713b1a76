"""`python -m analytics ingest FILE...`: load annotation logs (and gold) into a workspace project."""

from __future__ import annotations

import argparse
from pathlib import Path

from analytics.cli import add_workspace_args
from analytics.cli.common import add_auth_args, open_ws, sign_in
from analytics.errors import UserError

HELP = "load annotation files into a workspace project (format detected, or --format)"
# DuckDB's buffer manager otherwise keeps written blocks cached up to 80 % of RAM; an ingest
# streams the file and needs far less (10M rows: ~0.8 GB peak RSS with this limit).
DEFAULT_MEMORY_LIMIT = "700MB"


def _mapping(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        for part in item.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise UserError(f"--map {part}: write it as canonical=column, e.g. --map worker=annotator_id "
                                f"(put the FILE names before --map)")
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def add_parser(sub) -> None:
    from analytics.ingest import FORMATS

    p = sub.add_parser("ingest", help=HELP, description=HELP + ". Each file is loaded in its own transaction.")
    p.add_argument("files", nargs="*", metavar="FILE", help="annotation files (CSV, TSV, Parquet, JSON/JSONL, "
                   "MTurk batch results, Toloka TSV, Label Studio JSON, CrowdFlower full report)")
    add_workspace_args(p, project=False)
    p.add_argument("--project", default=None, help="project to load into (default: each file's name without extension)")
    p.add_argument("--format", default=None, help=f"override the detected format: {', '.join(FORMATS)}")
    p.add_argument("--label-field", default=None,
                   help="the answer column for formats with several (e.g. Answer.Q1, OUTPUT:result, direction)")
    p.add_argument("--gold", default=None, metavar="G", help="gold file with columns task, label")
    p.add_argument("--map", action="extend", nargs="+", default=None, metavar="CANONICAL=COLUMN",
                   help="use COLUMN as a canonical column (task, worker, label, started_at, submitted_at, "
                        "duration_s, assignment, event); several may follow one --map, or repeat --map")
    p.add_argument("--map-labels", default=None, metavar="FILE",
                   help="map answers worded per item onto shared classes: a CSV with columns pattern,label "
                        "(regular expressions; {column} stands for the row's value of a column, e.g. "
                        "'{term1} .+ {term2},t1_rel_t2') or answer,label; unmatched answers are quarantined")
    p.add_argument("--kind", default=None, choices=["single", "multilabel", "item-specific"],
                   help="the kind of answers (detected when left out): one class each, a set of options "
                        "(multi-select), or answers worded per item")
    p.add_argument("--label-set", default=None, metavar="A,B,C",
                   help="declare the project's labels; rows with other labels are quarantined")
    p.add_argument("--delimiter", default=None, help="field delimiter of a CSV/TSV file (',', ';', '|' or tab)")
    p.add_argument("--force", action="store_true", help="load a file again even if the same bytes were loaded before")
    add_auth_args(p)
    p.add_argument("--memory-limit", default=DEFAULT_MEMORY_LIMIT,
                   help=f"DuckDB memory limit while loading (default {DEFAULT_MEMORY_LIMIT}; DuckDB spills beyond it)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from analytics.ingest import ingest_file, ingest_gold

    if not args.files and not args.gold:
        raise UserError("give at least one FILE to ingest (or --gold G with --project P)")
    if not args.files and not args.project:
        raise UserError("--gold without a FILE needs --project to say which project the gold belongs to")
    mapping = _mapping(args.map)
    rules = None
    if args.map_labels:
        from analytics.ingest.labelmap import read_rules

        rules = read_rules(args.map_labels)
    label_set = [x.strip() for x in args.label_set.split(",")] if args.label_set is not None else None
    with open_ws(args) as ws:
        actor = sign_in(args, ws)
        try:
            ws.con.execute("SET memory_limit = ?", [args.memory_limit])
        except Exception as exc:  # duckdb.Error: the value did not parse
            raise UserError(f"--memory-limit {args.memory_limit!r} is not a size DuckDB understands "
                            f"(write it like 700MB or 2GB)") from exc
        if not args.files:
            print(ingest_gold(ws, args.gold, args.project, actor=actor, force=args.force).describe())
            return 0
        for i, f in enumerate(args.files):
            project = args.project or Path(f).stem
            s = ingest_file(ws, f, project, format=args.format, label_field=args.label_field, mapping=mapping,
                            gold_path=args.gold if i == 0 else None, label_set=label_set, force=args.force,
                            actor=actor, delimiter=args.delimiter, label_rules=rules,
                            label_rules_name=Path(args.map_labels).name if args.map_labels else None,
                            kind=args.kind)
            print(s.describe())
    return 0
