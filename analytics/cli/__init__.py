"""Command-line frame.

Each command lives in its own module ``analytics/cli/cmd_<name>.py`` exposing
``add_parser(subparsers)``, which registers the sub-command and sets ``func`` to a callable
``func(args) -> int``. A :class:`~analytics.errors.UserError` becomes one line on stderr and
exit status 2, with no traceback (DESIGN.md, "Command line").
"""

from __future__ import annotations

import argparse
import importlib
import sys

from analytics.errors import UserError

# Order is the order of `--help`. Modules that do not exist yet are skipped.
COMMANDS = [
    "run", "ingest", "projects", "analyze", "report", "export",
    "actions", "impact", "audit", "project", "redteam", "monitor", "alerts", "incident", "demo", "users", "keys",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analytics",
        description="CrowdTrust: annotator trust and data-poisoning defence for crowdsourced labels.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"analytics.cli.cmd_{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"analytics.cli.cmd_{name}":
                continue
            raise
        module.add_parser(sub)
    return parser




def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def add_workspace_args(p: argparse.ArgumentParser, project: bool = True, creates: bool = False) -> None:
    """The `--workspace` / `--project` / `--key-file` options every workspace command shares
    (and `--encrypt` on the commands that can create a workspace)."""
    from analytics.store import DEFAULT_WORKSPACE

    p.add_argument("--workspace", default=str(DEFAULT_WORKSPACE),
                   help="workspace folder (default: the bundled demo workspace)")
    p.add_argument("--key-file", default=None, metavar="FILE",
                   help="file holding the key of an encrypted workspace (default: $CROWDTRUST_KEY)")
    if creates:
        p.add_argument("--encrypt", action="store_true",
                       help="create the workspace encrypted (AES-256-GCM) with the key from $CROWDTRUST_KEY or "
                            "--key-file; the key is never stored in the workspace")
    if project:
        p.add_argument("--project", default=None,
                       help="project name (default: the only project, or the first one)")
