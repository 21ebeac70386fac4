"""The disk quota of a job's writable folders, measured by the parent while the job runs.

Why measured, not mounted: the job's output folder must outlive the job on the host's disk
and may be large (checkpoints, TensorBoard files), so a size-capped tmpfs (RAM) does not fit,
and a loop-mounted image needs root, `losetup` and a fixed size chosen in advance. The parent
instead walks the folders every half second (no link followed; disk blocks actually used,
so sparse files count what they hold) and ends the job, with a reason, once they hold more
than the quota. RLIMIT_FSIZE bounds any single file between two measurements, and the walk
backs off when a folder is large so it never costs more than a few percent of a core.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Sequence
from pathlib import Path

MIN_INTERVAL_S = 0.5
MAX_ENTRIES = 200_000
"""Files and folders a job may create in all (an inode flood is refused like a byte flood)."""


def usage(paths: Sequence[Path], max_entries: int = MAX_ENTRIES) -> tuple[int, int]:
    """(bytes of disk used, entries) below `paths`, no symlink followed; stops counting
    entries a little past `max_entries`."""
    used, entries = 0, 0
    stack = [os.fspath(p) for p in paths]
    while stack and entries <= max_entries:
        top = stack.pop()
        try:
            with os.scandir(top) as it:
                for entry in it:
                    entries += 1
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    used += info.st_blocks * 512
                    if stat.S_ISDIR(info.st_mode):
                        stack.append(entry.path)
        except OSError:
            continue
    return used, entries


class DiskQuota:
    """`exceeded()` says why the job's folders are over quota (None while they are not)."""

    def __init__(self, paths: Sequence[Path], limit_mb: int, max_entries: int = MAX_ENTRIES):
        self.paths = list(paths)
        self.limit = limit_mb * 1024 * 1024
        self.limit_mb = limit_mb
        self.max_entries = max_entries
        self.next_at = 0.0
        self.peak = 0

    def exceeded(self) -> str | None:
        now = time.monotonic()
        if now < self.next_at:
            return None
        used, entries = usage(self.paths, self.max_entries)
        took = time.monotonic() - now
        self.next_at = time.monotonic() + max(MIN_INTERVAL_S, 20 * took)
        self.peak = max(self.peak, used)
        if used > self.limit:
            return (
                f"disk quota of {self.limit_mb} MB exceeded: the job's folders held "
                f"{used / 2**20:.0f} MB (raise Limits.disk_quota_mb if the job needs more)"
            )
        if entries > self.max_entries:
            return f"the job created more than {self.max_entries} files and folders"
        return None
