"""A uid of its own for every job (when the parent runs as root).

RLIMIT_NPROC counts every process of a uid on the machine: with all jobs as `nobody`, one job
holding its quota of processes starves every other job. Each container job therefore runs
as a uid no other job and no user has (JOB_UID_BASE + a slot), held with a lock file for as
long as the job runs, so its process limit is its own, and it cannot signal or ptrace
another job's processes or its own supervisor (which stays uid 0 with only CAP_KILL).
cgroup `pids.max` would also do, but needs a writable cgroup hierarchy, which containers
and unprivileged users rarely have; a uid works wherever the parent is root.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

JOB_UID_BASE = 1_900_000_000
"""Far above login uids and the usual /etc/subuid ranges (100000 + 65536 per user)."""
SLOTS = 4096


def _lock_dir() -> Path:
    for base in (Path("/run"), Path(tempfile.gettempdir())):
        path = base / "autoreward-job-uids"
        try:
            path.mkdir(mode=0o700, exist_ok=True)
            if path.is_symlink() or path.stat().st_uid != os.geteuid():
                continue
            return path
        except OSError:
            continue
    raise OSError("no folder for the job uid locks (/run and the temp folder are not writable)")


@contextmanager
def job_uid() -> Iterator[int]:
    """A uid no other running job holds (free again when the block ends)."""
    folder = _lock_dir()
    start = os.getpid() % SLOTS
    for k in range(SLOTS):
        slot = (start + k) % SLOTS
        fd = os.open(folder / f"{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield JOB_UID_BASE + slot
        finally:
            os.close(fd)  # closing releases the lock
        return
    raise OSError(f"all {SLOTS} job uids are in use")
