"""Ingest errors worded for the upload form: the form's pickers instead of command-line flags.

The readers word their errors for the command line ("use --label-field ..."). On the Data
page the same error must name what the user can click. :func:`for_form` rewrites the flags;
:data:`PICKERS` names each picker exactly as the page labels it.
"""

from __future__ import annotations

import re

PICKERS = {
    "format": "Format",
    "label_field": "Label field",
    "mapping": "Column mapping",
    "delimiter": "Delimiter",
    "force": "Load again even if this exact file was loaded before",
    "project": "Load into",
    "map_labels": "Label mapping",
    "kind": "Kind of answers",
}

_L, _M, _F, _D = (f"**{PICKERS[k]}**" for k in ("label_field", "mapping", "format", "delimiter"))
_RULES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"check --format, --label-field and --map"), f"check the {_F}, {_L} and {_M} pickers"),
    (re.compile(r"\s*\(or leave --format out to detect it\)"), f" (or leave the {_F} picker on automatic)"),
    (re.compile(r"\s*\(or --format to pick the right reader\)"), ""),
    (re.compile(r"choose the column that holds the answers with --label-field"),
     f"choose the column that holds the answers in the {_L} picker"),
    (re.compile(r"say which one is the label with --label-field(?:,\s+e\.g\.\s+--label-field\s+\S+)?"),
     f"choose it in the {_L} picker"),
    (re.compile(r"(?:use|with|pass|choose it with|name the answer column with)\s+--label-field"
                r"(?:\s+with one of)?(?:,?\s+e\.g\.\s+--label-field\s+\S+)?"),
     f"choose it in the {_L} picker"),
    (re.compile(r"--label-field\s+\S+"), f"the {_L} picker"),
    (re.compile(r"--label-field"), f"the {_L} picker"),
    (re.compile(r"use --format canonical with --map\s+(\w+)=\S+"),
     rf"set the {_F} picker to canonical and choose the \1 column in the {_M} pickers"),
    (re.compile(r"(?:name it with|use)\s+--map\s+(\w+)=\S+"), rf"choose the \1 column in the {_M} pickers"),
    (re.compile(r"--map\s+(\w+)=\S+"), rf"the {_M} picker for \1"),
    (re.compile(r"load it again with a label mapping \(--map-labels FILE\)"),
     f"give a **{PICKERS['map_labels']}** in the reading options before loading"),
    (re.compile(r"--map-labels(?:\s+FILE)?"), f"a **{PICKERS['map_labels']}**"),
    (re.compile(r"--map\b"), f"the {_M} pickers"),
    (re.compile(r"(?:pass |use )?--delimiter\s+('[^']*'|\S+)"), rf"set the {_D} picker to \1"),
    (re.compile(r"(?:pass |use )?--delimiter"), f"the {_D} picker"),
    (re.compile(r"--format"), f"the {_F} picker"),
    (re.compile(r"use --force to load it again"), f"tick **{PICKERS['force']}** to load it again"),
    (re.compile(r"--force"), f"**{PICKERS['force']}**"),
    (re.compile(r"(?:give one with )?--project"), f"the **{PICKERS['project']}** choice"),
    (re.compile(r"--kind"), f"the **{PICKERS['kind']}** picker"),
    (re.compile(r"\s*\(or `python -m analytics[^`]*`\)"), ""),
    (re.compile(r"`python -m analytics [^`]*`"), "the Data page"),
]


def for_form(message: str) -> str:
    """``message`` with every command-line flag replaced by the upload form's picker."""
    out = str(message)
    for pattern, repl in _RULES:
        out = pattern.sub(repl, out)
    return out
