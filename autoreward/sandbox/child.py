"""Entry point of the isolated worker process: `python -m autoreward.sandbox.child JOBDIR`.

Started by `worker.run_isolated`, never by hand. Before anything untrusted is imported it
drops every capability it may hold (inside a user namespace it is "root" there), sets
no-new-privileges, applies the rlimits from `JOBDIR/job.json`, and only then imports the
target `autoreward.<module>:<function>` and calls it with the payload. The outcome goes to
`JOBDIR/result.json` as `{"status": "ok"|"error"|"memory", ...}`. It first becomes a small
supervisor (`supervise`) that runs the job one level down and reports how it ended on a
pipe the parent passed in (`status_fd`): the supervisor's status lives in its memory and
that pipe, never in a file the job could write. With `UID:GID` (root in a container) the
job switches to that uid (one per job) while the supervisor stays uid 0 with CAP_KILL only,
so the job can neither ptrace nor signal it; otherwise the supervisor makes itself
non-dumpable (no ptrace, no /proc/<pid>/fd). This module imports only the standard library,
so the limits cover everything the target loads.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import re
import resource
import select
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from autoreward.sandbox import watchdog

EXIT_SETUP_FAILED = 120
TARGET_PATTERN = re.compile(r"^autoreward(\.[A-Za-z_][A-Za-z0-9_]*)+:[A-Za-z_][A-Za-z0-9_]*$")
TRACEBACK_CHARS = 4000
OUTPUT_HEAD_BYTES = 64 * 1024
OUTPUT_TAIL_BYTES = 64 * 1024

_PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_DROP = 24
_PR_SET_DUMPABLE = 4
CAP_KILL = 5
_CAP_SETPCAP = 8
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_MIB = 1024 * 1024
_MIN_PID_MAX = 301  # the kernel's floor (RESERVED_PIDS + 1)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_privileges(keep: int = 0) -> None:
    """No new privileges, and no capabilities but the bits of `keep` (default: none at all).

    Inside a user namespace the child is uid 0 with every capability *of that namespace*
    (enough to unmount the private /proc and look at the host's); this takes them away
    before untrusted code runs. Raises OSError if the kernel refuses.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if _effective_caps() & ~keep == 0 and _capabilities("CapPrm") & ~keep == 0:
        # Nothing to drop; with no-new-privileges set, execve cannot grant capabilities back
        # (not even to uid 0), so the bounding set needs no CAP_SETPCAP we do not have.
        return
    last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    bounding = _capabilities("CapBnd")
    can_drop = _effective_caps() >> _CAP_SETPCAP & 1
    for cap in range(last_cap + 1):
        if keep >> cap & 1 or not bounding >> cap & 1:
            continue
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and can_drop:
            # Without CAP_SETPCAP the bounding set stays; no-new-privileges (set above)
            # already keeps execve from granting anything in it.
            raise OSError(ctypes.get_errno(), f"prctl(PR_CAPBSET_DROP, {cap}) failed")
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    data[0].effective = data[0].permitted = keep & 0xFFFFFFFF
    data[1].effective = data[1].permitted = keep >> 32
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset() failed")
    if _effective_caps() & ~keep != 0:
        raise OSError("capabilities are still present after capset()")


def cap_pid_namespace(max_processes: int) -> bool:
    """Cap the number of tasks in our own PID namespace through its pid_max (Linux >= 6.14).

    RLIMIT_NPROC does not bind a process whose uid is 0 outside the namespace; a per-namespace
    pid_max does. Only attempted as PID 1 of a namespace owned by a non-initial user namespace
    on a kernel where pid_max is per namespace (on older kernels the file is global).
    """
    if os.getpid() != 1 or os.geteuid() != 0 or _kernel_version() < (6, 14):
        return False
    if Path("/proc/self/uid_map").read_text().split() == ["0", "0", "4294967295"]:
        return False  # the initial user namespace: that pid_max would be the host's
    try:
        Path("/proc/sys/kernel/pid_max").write_text(str(max(_MIN_PID_MAX, max_processes + 16)))
    except OSError:
        return False
    return True


def _kernel_version() -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _effective_caps() -> int:
    return _capabilities("CapEff")


def _capabilities(kind: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(kind + ":"):
            return int(line.split()[1], 16)
    return 0


def _count_own_tasks() -> int:
    """Processes and threads of our uid visible in /proc (the count RLIMIT_NPROC uses)."""
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                continue
    return count


def apply_limits(limits: dict[str, Any]) -> None:
    """Lower this process's rlimits; `max_processes` counts tasks beyond those already running."""

    def lower(kind: int, soft: int, hard: int | None = None) -> None:
        _, cur_hard = resource.getrlimit(kind)
        hard = soft if hard is None else hard
        if cur_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, cur_hard), min(hard, cur_hard)
        resource.setrlimit(kind, (soft, hard))

    cpu = max(1, int(limits["cpu_seconds"]))
    lower(resource.RLIMIT_CPU, cpu, cpu + 2)  # soft: SIGXCPU kills; hard: SIGKILL backs it up
    memory = int(limits["address_space_mb"]) * _MIB
    if limits.get("gpu"):
        # GPU drivers reserve terabytes of address space they never touch: cap the data
        # segment (heap and private writable mappings) instead.
        lower(resource.RLIMIT_DATA, memory)
    else:
        lower(resource.RLIMIT_AS, memory)
    lower(resource.RLIMIT_FSIZE, int(limits["file_size_mb"]) * _MIB)
    lower(resource.RLIMIT_NPROC, _count_own_tasks() + int(limits["max_processes"]))
    lower(resource.RLIMIT_CORE, 0)


def resolve_target(target: str) -> Any:
    """Import `autoreward.<module>:<function>`; anything outside the package is refused."""
    if not TARGET_PATTERN.match(target):
        raise ValueError(
            f"worker target must look like 'autoreward.module:function', got {target!r}"
        )
    module_name, _, func_name = target.partition(":")
    func = getattr(importlib.import_module(module_name), func_name)
    if not callable(func):
        raise TypeError(f"worker target {target!r} is not callable")
    return func


def _write_result(jobdir: Path, result: dict[str, Any]) -> None:
    try:
        text = json.dumps(result)
    except (TypeError, ValueError) as err:
        text = json.dumps(
            {"status": "error", "reason": f"target returned a value that is not JSON: {err}"}
        )
    tmp = jobdir / "result.json.tmp"
    tmp.write_text(text)
    tmp.replace(jobdir / "result.json")


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Call the job's target with its payload (limits already applied); the result record."""
    try:
        func = resolve_target(job["target"])
        value = func(job["payload"])
        if not isinstance(value, dict):
            raise TypeError(f"worker target returned {type(value).__name__}, expected a dict")
        return {"status": "ok", "value": value}
    except MemoryError as err:
        return {
            "status": "memory",
            "reason": f"MemoryError: {err}" if str(err) else "MemoryError",
            "traceback": traceback.format_exc()[-TRACEBACK_CHARS:],
        }
    except BaseException as err:  # noqa: BLE001 (everything is reported, nothing escapes)
        kind = "exited" if isinstance(err, SystemExit) else type(err).__name__
        return {
            "status": "error",
            "reason": f"{kind}: {err}",
            "traceback": traceback.format_exc()[-TRACEBACK_CHARS:],
        }


def _setup_failed(err: BaseException) -> int:
    print(f"autoreward worker: sandbox set-up failed: {err}", file=sys.stderr, flush=True)
    return EXIT_SETUP_FAILED


def become(uid: int, gid: int) -> None:
    """Switch to the sandbox uid (the container keeps CAP_SETUID/SETGID for this only)."""
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError(f"could not switch to uid {uid}")
    # Changing uid made the process non-dumpable, so its own /proc/self files belong to root
    # and libraries reading /proc/self/status or maps fail; nothing else of uid `nobody`
    # shares this PID namespace, so being dumpable exposes nothing.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)


def work(jobdir: Path, job: dict[str, Any], heartbeat: watchdog.Heartbeat | None = None) -> int:
    """Drop privileges, apply the limits, run the target, write result.json."""
    try:
        drop_privileges()
        apply_limits(job["limits"])
    except (OSError, ValueError, KeyError) as err:
        return _setup_failed(err)
    watchdog.install(heartbeat)
    _write_result(jobdir, run(job))
    return 0


class _CappedLog:
    """The job's stdout+stderr as it reaches the log: the first `head` bytes, then only the
    last `tail` bytes, with the number cut in between (a reward printing in a loop, or
    `np.errstate(all="print")`, cannot flood the disk or the terminal)."""

    def __init__(self, out: Any, head: int, tail: int) -> None:
        self.out, self.head, self.tail = out, head, tail
        self.written = 0
        self.cut = 0
        self.ring = bytearray()

    def feed(self, data: bytes) -> None:
        if self.written < self.head:
            take = data[: self.head - self.written]
            self.out.write(take)
            self.written += len(take)
            data = data[len(take) :]
        if data:
            self.ring += data
            if len(self.ring) > self.tail:
                self.cut += len(self.ring) - self.tail
                del self.ring[: len(self.ring) - self.tail]

    def close(self) -> None:
        if self.cut:
            self.out.write(f"\n[autoreward: {self.cut} bytes of output cut]\n".encode())
        self.out.write(bytes(self.ring))
        self.out.flush()


def supervise(jobdir: Path, job: dict[str, Any], ids: tuple[int, int] | None = None) -> int:
    """Run `work` one level down, watch it, reap it, report how it ended (on `status_fd`).

    The supervisor never imports job code. It pumps the job's output into the capped log,
    kills the job when one reward call overruns its deadline (the heartbeat, `watchdog.py`),
    and records the job's raw wait status and resource usage. As PID 1 of a PID namespace it
    is also why signals reach the job normally (PID 1 ignores signals it has no handler
    for, and unshare cannot pass a SIGKILL on as its own exit status).
    """
    try:
        cap_pid_namespace(int(job["limits"]["max_processes"]))
    except (OSError, ValueError, KeyError) as err:
        return _setup_failed(err)
    limit_s = float(job["limits"].get("reward_call_seconds") or 0.0)
    status_fd = job.get("status_fd")
    heartbeat = watchdog.Heartbeat()
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        if status_fd is not None:
            os.close(int(status_fd))  # the job never holds the supervisor's status pipe
        os.setpgid(0, 0)
        os.dup2(write_fd, 1)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        try:
            if ids is not None:
                become(*ids)
            if job.get("cwd"):
                os.chdir(job["cwd"])
        except OSError as err:
            os._exit(_setup_failed(err))
        code = work(jobdir, job, heartbeat)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    os.close(write_fd)
    try:
        # With a job uid the supervisor stays uid 0 (another uid than the job's) and keeps
        # CAP_KILL to end it; else it shares the job's uid and only non-dumpability keeps the
        # job from ptracing it or reading its descriptors.
        drop_privileges(keep=1 << CAP_KILL if ids is not None else 0)
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    except OSError as err:
        os.kill(pid, signal.SIGKILL)
        return _setup_failed(err)
    log = _CappedLog(sys.stdout.buffer, OUTPUT_HEAD_BYTES, OUTPUT_TAIL_BYTES)
    overdue: int | None = None
    status, usage = 0, None
    while True:
        ready, _, _ = select.select([read_fd], [], [], 0.1)
        if ready:
            _drain(read_fd, log)
        if overdue is None and limit_s > 0:
            overdue = heartbeat.overdue(limit_s)
            if overdue is not None:
                for kill in (os.killpg, os.kill):
                    try:
                        kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        reaped, status, usage = os.wait4(pid, os.WNOHANG)
        if reaped == pid:
            break
    _drain(read_fd, log, until_eof=False)
    log.close()
    if job.get("pid_namespace") and os.getpid() != 1:
        _end_namespace()
    record = {
        "wait_status": status,
        "cpu_seconds": usage.ru_utime + usage.ru_stime if usage else 0.0,
        "maxrss_kb": usage.ru_maxrss if usage else 0,
        "watchdog_step": overdue,
    }
    data = json.dumps(record).encode()
    if status_fd is not None:
        os.write(int(status_fd), data)
        os.close(int(status_fd))
    return 0


def _end_namespace(wait_s: float = 2.0) -> None:
    """In a container's PID namespace (where we are not PID 1): kill everything the job left
    behind now, rather than when the namespace's init notices, and wait until it is gone."""
    try:
        os.kill(-1, signal.SIGKILL)  # every process of ours in this PID namespace only
    except OSError:
        return
    deadline = time.monotonic() + wait_s
    me = os.getpid()
    while time.monotonic() < deadline:
        alive = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in (1, me):
                try:
                    with open(f"/proc/{entry}/stat", "rb") as fh:
                        state = fh.read().rsplit(b")", 1)[1].split()[0]
                except (OSError, IndexError):
                    continue
                if state != b"Z":
                    alive.append(entry)
        if not alive:
            return
        time.sleep(0.01)


def _drain(fd: int, log: _CappedLog, until_eof: bool = True) -> None:
    """Read what the pipe holds now (never blocks once the job is gone)."""
    while True:
        ready, _, _ = select.select([fd], [], [], 0)
        if not ready:
            return
        try:
            data = os.read(fd, 65536)
        except OSError:
            return
        if not data:
            return
        log.feed(data)
        if until_eof and len(data) < 65536:
            return


def main(argv: list[str]) -> int:
    """`child JOBDIR [UID:GID]`: with UID:GID (root in a container), the job switches to that
    user (before it imports anything) and the supervisor stays outside it."""
    jobdir = Path(argv[1])
    ids: tuple[int, int] | None = None
    try:
        if len(argv) > 2:
            uid, _, gid = argv[2].partition(":")
            ids = (int(uid), int(gid))
        job = json.loads((jobdir / "job.json").read_text())
        os.chdir("/")  # the job changes into its folder once it runs as its own uid
    except (OSError, ValueError) as err:
        return _setup_failed(err)
    return supervise(jobdir, job, ids)


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown: library atexit hooks and stray threads
