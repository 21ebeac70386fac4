"""The per-reward-call deadline: a heartbeat the job writes, a watchdog in another process.

A reward that hangs at its 150th call (an endless loop, a huge computation inside one C call
that holds the GIL, a bare `except` that swallows signals) must end within seconds, not at
the job's wall-clock limit. The job marks the start and end of every reward call in a few
bytes of memory shared with its supervisor (`child.supervise`, a separate process that never
runs job code); the supervisor kills the job when one call has been running longer than the
limit and reports `reward call exceeded X s at step S`.

Cost per call: two `struct.pack_into` on a shared page (about a microsecond). The job could
overwrite the page (it has unrestricted Python in the worst case); the job's CPU-time and
wall-clock limits stay the backstop for that. Standard library only: the supervisor imports
this before any job code.
"""

from __future__ import annotations

import mmap
import struct
import time
from types import TracebackType

_SEQ = struct.Struct("<q")  # a sequence number: odd while the job is writing (a seqlock)
_CALL = struct.Struct("<qdq")  # in a call (0/1), monotonic start of the call, step
SIZE = mmap.PAGESIZE


class Heartbeat:
    """The shared page: written by the job around each reward call, read by the supervisor.

    The supervisor reads while the job writes (another process, maybe another core), so the
    fields are guarded by a sequence number: a snapshot taken while a write is under way, or
    torn by one, is ignored instead of being read as a call that started at time 0."""

    def __init__(self, buffer: mmap.mmap | None = None) -> None:
        self.buffer = buffer if buffer is not None else mmap.mmap(-1, SIZE)
        self._seq = 0
        self._created = time.monotonic()
        _CALL.pack_into(self.buffer, _SEQ.size, 0, 0.0, 0)
        _SEQ.pack_into(self.buffer, 0, 0)

    def _write(self, in_call: int, started: float, step: int) -> None:
        self._seq += 1
        _SEQ.pack_into(self.buffer, 0, self._seq)  # odd: writing
        _CALL.pack_into(self.buffer, _SEQ.size, in_call, started, step)
        self._seq += 1
        _SEQ.pack_into(self.buffer, 0, self._seq)  # even: consistent

    def begin(self, step: int) -> None:
        self._write(1, time.monotonic(), step)

    def end(self) -> None:
        self._write(0, 0.0, 0)

    def snapshot(self) -> tuple[int, float, int] | None:
        """(in a call, its start, its step), or None while the job is writing."""
        (before,) = _SEQ.unpack_from(self.buffer, 0)
        if before % 2:
            return None
        in_call, started, step = _CALL.unpack_from(self.buffer, _SEQ.size)
        (after,) = _SEQ.unpack_from(self.buffer, 0)
        if after != before:
            return None
        # The sequence number alone let through about one torn read in a million on a busy
        # 2-core machine (the record is one memcpy, whose bytes need not land in order): a
        # record must also be one that begin() or end() could have written.
        if in_call == 1:
            if not self._created - 1.0 <= started <= time.monotonic() + 1.0:
                return None
        elif in_call != 0 or started != 0.0 or step != 0:
            return None
        return (int(in_call), float(started), int(step))

    def overdue(self, limit_s: float) -> int | None:
        """The step of a call running longer than `limit_s`, else None."""
        snap = self.snapshot()
        if snap is None:
            return None
        in_call, started, step = snap
        if in_call and time.monotonic() - started > limit_s:
            return step
        return None


class _Call:
    """`with reward_call(step):` — marks one reward call on the heartbeat (if any)."""

    __slots__ = ("heartbeat", "step")

    def __init__(self, heartbeat: Heartbeat | None, step: int) -> None:
        self.heartbeat, self.step = heartbeat, step

    def __enter__(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.begin(self.step)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        err: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.heartbeat is not None:
            self.heartbeat.end()


_installed: Heartbeat | None = None


def install(heartbeat: Heartbeat | None) -> None:
    """Called by the worker before the job's target is imported."""
    global _installed
    _installed = heartbeat


def reward_call(step: int) -> _Call:
    """Context manager around one call of reward code (a no-op outside a worker)."""
    return _Call(_installed, step)


def exceeded_message(limit_s: float, step: int, unit: str = "step") -> str:
    return (
        f"reward call exceeded {limit_s:g} s at {unit} {step} (stopped by the watchdog; "
        "an endless loop or a very slow computation in compute_reward?)"
    )
