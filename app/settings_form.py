"""Widgets for a settings dataclass: one input per field, documented from the code itself.

The Settings page edits every group of :class:`analytics.settings.AnalysisSettings` with
:func:`field_inputs`; the help text of each input is the field's own documentation (a PEP 257
attribute docstring under the field, or the ``name : text`` line of the class docstring's
Attributes section), so the page never carries a second copy of it.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re

import streamlit as st

from app.docs import attribute_docs


def field_docs(cls) -> dict[str, str]:
    """Attribute docstrings, else the numpydoc ``Attributes`` entries of the class docstring."""
    docs = attribute_docs(cls)
    text = inspect.getdoc(cls) or ""
    for m in re.finditer(r"^(\w+)\s*:\s*(.+(?:\n {4,}.+)*)", text, flags=re.MULTILINE):
        docs.setdefault(m.group(1), " ".join(m.group(2).split()))
    return docs


def field_inputs(obj, key: str, skip: tuple[str, ...] = (), columns: int = 2) -> dict:
    """One input per plain field of dataclass instance ``obj``; returns {name: value}.

    Booleans become checkboxes, numbers number inputs, tuples of numbers comma-separated text;
    other fields (dicts, lists of names) are left out (edited elsewhere or from a settings file).
    """
    docs = field_docs(type(obj))
    out: dict = {}
    cols = st.columns(columns)
    shown = [f for f in dataclasses.fields(obj) if f.init and f.name not in skip]
    i = 0
    for f in shown:
        val = getattr(obj, f.name)
        doc = docs.get(f.name, "")
        label = f.name.replace("_", " ")
        help_text = f"`{f.name}` — {doc}" if doc else f"`{f.name}`"
        col = cols[i % columns]
        wkey = f"{key}_{f.name}"
        if isinstance(val, bool):
            out[f.name] = col.checkbox(label, value=val, help=help_text, key=wkey)
        elif isinstance(val, int):
            out[f.name] = int(col.number_input(label, value=val, step=1, help=help_text, key=wkey))
        elif isinstance(val, float) and not math.isfinite(val):       # e.g. "never fires": inf
            text = col.text_input(label, value=f"{val:g}", help=help_text, key=wkey)
            out[f.name] = _number(text)
        elif isinstance(val, float):
            out[f.name] = float(col.number_input(label, value=val, format="%.6g", help=help_text, key=wkey))
        elif isinstance(val, tuple) and all(isinstance(x, (int, float)) for x in val):
            text = col.text_input(label, value=", ".join(f"{x:g}" for x in val), help=help_text, key=wkey)
            out[f.name] = _numbers(text, f.name)
        else:
            continue
        i += 1
    return out


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text            # the settings validation names the field and what it accepts


def _numbers(text: str, name: str) -> list:
    try:
        return [float(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        return [text]          # the settings validation names the field and what it accepts
