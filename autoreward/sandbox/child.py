"""Entry point of the isolated worker process: `python -m autoreward.sandbox.child JOBDIR`.

Started by `worker.run_isolated`, never by hand. Before anything untrusted is imported it
drops every capability it may hold (inside a user namespace it is "root" there), sets
no-new-privileges, applies the rlimits from `JOBDIR/job.json`, and only then imports the
target `autoreward.<module>:<function>` and calls it with the payload. The outcome goes to
`JOBDIR/result.json` as `{"status": "ok"|"error"|"memory", ...}`. As PID 1 of its own
namespace it first becomes a small supervisor (`supervise`) that runs the job one level down
and writes how it ended to `JOBDIR/exit.json`. This module imports only the standard
library, so the limits cover everything the target loads.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import re
import resource
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

EXIT_SETUP_FAILED = 120
TARGET_PATTERN = re.compile(r"^autoreward(\.[A-Za-z_][A-Za-z0-9_]*)+:[A-Za-z_][A-Za-z0-9_]*$")
TRACEBACK_CHARS = 4000

_PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_DROP = 24
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


def drop_privileges() -> None:
    """No new privileges, an empty capability bounding set, and no capabilities at all.

    Inside a user namespace the child is uid 0 with every capability *of that namespace*
    (enough to unmount the private /proc and look at the host's); this takes them away
    before untrusted code runs. Raises OSError if the kernel refuses.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if os.geteuid() != 0 and _effective_caps() == 0:
        return
    last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last_cap + 1):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"prctl(PR_CAPBSET_DROP, {cap}) failed")
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset() failed")
    if _effective_caps() != 0:
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
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
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
    lower(resource.RLIMIT_AS, int(limits["address_space_mb"]) * _MIB)
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


def work(jobdir: Path, job: dict[str, Any]) -> int:
    """Drop privileges, apply the limits, run the target, write result.json."""
    try:
        drop_privileges()
        apply_limits(job["limits"])
    except (OSError, ValueError, KeyError) as err:
        return _setup_failed(err)
    _write_result(jobdir, run(job))
    return 0


def supervise(jobdir: Path, job: dict[str, Any]) -> int:
    """As PID 1 of the worker's namespace: run `work` in a child, reap, report how it ended.

    PID 1 ignores signals it has no handler for (SIGXCPU, SIGABRT, ...), and unshare cannot
    pass a SIGKILL on as its own exit status, so the job runs one level down and its raw wait
    status and resource usage go to exit.json. Everything else in the namespace dies when
    this process exits.
    """
    try:
        cap_pid_namespace(int(job["limits"]["max_processes"]))
    except (OSError, ValueError, KeyError) as err:
        return _setup_failed(err)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = work(jobdir, job)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    try:
        drop_privileges()
    except OSError as err:
        os.kill(pid, signal.SIGKILL)
        return _setup_failed(err)
    while True:
        try:
            reaped, status, usage = os.wait4(-1, 0)
        except InterruptedError:
            continue
        if reaped == pid:
            break
    record = {
        "wait_status": status,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "maxrss_kb": usage.ru_maxrss,
    }
    (jobdir / "exit.json").write_text(json.dumps(record))
    return 0


def main(argv: list[str]) -> int:
    jobdir = Path(argv[1])
    try:
        job = json.loads((jobdir / "job.json").read_text())
    except (OSError, ValueError) as err:
        return _setup_failed(err)
    return supervise(jobdir, job) if os.getpid() == 1 else work(jobdir, job)


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown: library atexit hooks and stray threads
