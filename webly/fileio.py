"""Atomic file writing: the one place outputs are written from (nothing half-written on disk)."""

from __future__ import annotations

import json
import os
import tempfile
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from types import TracebackType

_UMASK = os.umask(0)
os.umask(_UMASK)


class atomic_path:
    """Context manager giving a temporary path that replaces ``path`` only on success.

    Nothing half-written is ever left at ``path``: the temporary file sits in the same folder and
    is renamed over ``path`` (atomic on POSIX) when the block exits without error, else removed.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    def __enter__(self) -> str:
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(self.path)[1],
                                        dir=folder)
        os.close(fd)
        return self.tmp

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc_type is None:
            os.chmod(self.tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are ordinary files
            os.replace(self.tmp, self.path)
        elif os.path.exists(self.tmp):
            os.remove(self.tmp)
        return False


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write text to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write JSON (sorted keys, indented) to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def shipped_path(*parts: str) -> str:
    """A path under the shipped ``datasets/`` folder, whatever the working directory: the one
    place webly resolves a shipped dataset.

    A wheel carries the folder inside the package (``webly/datasets/``); a source checkout or an
    editable install has it next to the package (``datasets/`` of the repository). The first that
    exists is used; when neither does, the in-package path is returned (the caller reports it
    missing).
    """
    package = os.path.dirname(os.path.abspath(__file__))
    roots = (os.path.join(package, "datasets"), os.path.join(os.path.dirname(package), "datasets"))
    root = next((r for r in roots if os.path.isdir(r)), roots[0])
    return os.path.join(root, *parts)
