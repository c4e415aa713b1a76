"""Helpers shared by the CLI commands: opening the workspace and resolving the project."""

from __future__ import annotations

from analytics.errors import UserError
from analytics.store import Workspace, open_workspace


def open_ws(args, create: bool = False, read_only: bool = False) -> Workspace:
    return open_workspace(args.workspace, create=create, read_only=read_only)


def resolve_project(ws: Workspace, name: str | None) -> tuple[str, int]:
    """The project the user named, or the workspace's first project when none is named."""
    if name:
        return name, ws.project_id(name)
    names = ws.project_names()
    if not names:
        raise UserError(f"workspace {ws.path} has no projects; ingest a file first")
    return names[0], ws.project_id(names[0])
