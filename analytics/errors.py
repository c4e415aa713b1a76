"""User-facing errors.

A :class:`UserError` is a mistake the user can fix (bad file, missing column, unknown
project). The CLI prints its message on one line and exits with status 2; the UI shows it
with ``st.error``. Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input, stated as one sentence that says what to do."""


class WorkspaceLockedError(UserError):
    """The workspace file is open for writing in another process."""


class SchemaTooNewError(UserError):
    """The workspace was written by a newer CrowdTrust than this one."""
