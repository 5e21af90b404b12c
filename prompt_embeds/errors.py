"""The one error type for restoration prompts and their files, with a machine-readable `kind`."""
from __future__ import annotations

import os

# Every kind a caller (node, test) may branch on. Each comes with its own wording, so a user can tell a cut-off
# download from a wrong file from a file written by a newer pack.
KINDS = ("extension", "missing", "corrupt", "truncated", "version", "shape", "dtype", "nonfinite", "metadata",
         "official_format", "mismatch", "blend")


class PromptFileError(ValueError):
    """A restoration prompt (file) that cannot be used. `str(e)` is a complete message for a ComfyUI user:
    which file, what is wrong, how to fix it. `kind` is one of KINDS; `path` the file, when there is one."""

    def __init__(self, message: str, *, kind: str, path: str | os.PathLike | None = None):
        super().__init__(message)
        self.kind = kind
        self.path = os.fspath(path) if path is not None else None


def subject(path: str | os.PathLike | None = None, name: str | None = None) -> str:
    """How a message names what it is about: the file when there is one, else a description ("prompt 2")."""
    if path is not None:
        return f"Restoration prompt file '{os.fspath(path)}'"
    if name:
        return f"Restoration prompt ({name})"
    return "Restoration prompt"


def fail(kind: str, problem: str, fix: str, *, path=None, name: str | None = None) -> PromptFileError:
    """Build (not raise) an error reading '<which file>: <what is wrong>. <how to fix it>.'"""
    return PromptFileError(f"{subject(path, name)}: {problem.rstrip('.')}. {fix.rstrip('.')}.", kind=kind,
                           path=path)
