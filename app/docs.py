"""Documentation the code carries, read for display: the Settings page shows each setting's
one-line docstring instead of a copy."""

from __future__ import annotations


def attribute_docs(cls) -> dict[str, str]:
    """The one-line docstrings written under each field of a dataclass (PEP 257 attribute docstrings).

    Lets the Settings page show the same documentation the code carries, without a copy.
    """
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for prev, node in zip(body, body[1:], strict=False):
        if (isinstance(prev, ast.AnnAssign) and isinstance(prev.target, ast.Name) and isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            docs[prev.target.id] = " ".join(node.value.value.split())
    return docs
