"""One run folder, many processes: a folder lock, unit claims, and cleanup of dead runs' files.

Every run that writes into a run folder holds ``<run_dir>/.lock`` with an OS file lock
(``flock``), which the kernel drops when the process ends, however it ends: no stale lock
survives a SIGKILL. By default a run holds it exclusively, so a second run on the same folder
waits, then reuses what the first computed. A run started with ``join=True`` holds it shared and
works beside other joining runs: each unit is *claimed* (an exclusive lock on
``units/.claim-<key>``) by the run that computes it; the others skip it and, at the end, wait for
its file instead of computing it again.

Temporary files (``.tmp-*``, written by :func:`webly.fileio.atomic_path`) and claim files are
removed only while the folder lock is held exclusively: every live writer holds the lock, so
whatever such a file is then, its owner is gone.
"""

import fcntl
import logging
import os

log = logging.getLogger("webly")

_LOCK = ".lock"
_CLAIM = ".claim-"
_TEMP = ".tmp-"


def _open_lock_file(path):
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


class RunFolder:
    """Context manager holding a run folder's lock; creates the folder.

    Parameters
    ----------
    run_dir : str
    join : bool
        Hold the lock shared and share the units with other joining runs (see module docstring);
        else hold it exclusively, waiting for any other run on the folder to finish first.
    """

    def __init__(self, run_dir, *, join=False):
        self.run_dir = run_dir
        self.join = join
        self._fd = None
        self._claims = {}

    def __enter__(self):
        os.makedirs(self.run_dir, exist_ok=True)
        self._fd = _open_lock_file(os.path.join(self.run_dir, _LOCK))
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            exclusive = True
        except BlockingIOError:
            exclusive = False
        if exclusive:
            remove_orphans(self.run_dir)
            if self.join:  # let other joining runs in (flock converts the lock in place)
                fcntl.flock(self._fd, fcntl.LOCK_SH)
        else:
            mode = fcntl.LOCK_SH if self.join else fcntl.LOCK_EX
            log.warning("%s: another run is using this folder; %s", self.run_dir,
                        "sharing its units (join)" if self.join else
                        "waiting for it to finish (run with --join to share the work instead)")
            fcntl.flock(self._fd, mode)
            if not self.join:
                remove_orphans(self.run_dir)
        return self

    def __exit__(self, *exc):
        for key in list(self._claims):
            self.release(key)
        os.close(self._fd)  # closing drops the lock
        self._fd = None
        return False

    def _claim_path(self, key):
        return os.path.join(self.run_dir, "units", _CLAIM + key)

    def claim(self, key, *, wait=False):
        """Take unit ``key`` for this run; False when another live run holds it (``wait``: block
        until it lets go, then take it)."""
        path = self._claim_path(key)
        while True:
            fd = _open_lock_file(path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
            # the holder we waited for removes the file when done: a lock on a removed (or
            # replaced) file claims nothing, so open the path again
            try:
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    self._claims[key] = fd
                    return True
            except FileNotFoundError:
                pass
            os.close(fd)

    def release(self, key):
        """Let go of unit ``key`` (its file written, or its work abandoned)."""
        fd = self._claims.pop(key)
        os.remove(self._claim_path(key))  # ours while we hold it; waiters open the path again
        os.close(fd)


def remove_orphans(run_dir):
    """Delete temporaries and claim files under ``run_dir`` (call with the lock held exclusively).

    They never replaced a real output: a temporary is renamed over its target only when complete.
    """
    for folder, _, files in os.walk(run_dir):
        for f in files:
            if f.startswith((_TEMP, _CLAIM)):
                try:
                    os.remove(os.path.join(folder, f))
                except FileNotFoundError:
                    pass
