"""Starting one job's child process, waiting for it, and saying how it ended.

`Isolation` is one way of starting the child (a container, an `unshare` prefix, a uid);
`spawn_and_wait` starts it with the job's output going to a log the parent keeps open and
the supervisor's report coming back on a pipe, waits (wall clock, disk quota), kills what
is left, and `classify` turns what happened into a `WorkerResult`. `worker.run_isolated`
is the entry point; this module holds its mechanics.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import resource
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from autoreward.sandbox import watchdog
from autoreward.sandbox.child import EXIT_SETUP_FAILED
from autoreward.sandbox.container import ContainerSpec, bwrap_argv
from autoreward.sandbox.limits import Limits, Status, WorkerResult
from autoreward.sandbox.quota import DiskQuota
from autoreward.sandbox.untrusted import UntrustedDataError, clean_text
from autoreward.sandbox.untrusted import read_json as read_untrusted_json

SANDBOX_UID = 65534
SANDBOX_GID = 65534
TAIL_CHARS = 4000
RESULT_MAX_BYTES = 64 * 1024 * 1024
"""A worker's result.json larger than this is not read (the job is reported as crashed)."""


@dataclass(frozen=True)
class Isolation:
    """One way of starting the child; `describe()` is recorded with every result."""

    name: str
    prefix: tuple[str, ...] = ()
    net_flag: str | None = None
    drop_uid: bool = False
    runs_as_nobody: bool = False
    same_uid: bool = False
    container: str | None = None
    """The bubblewrap binary for the container modes (`bwrap`, `bwrap-root`)."""
    switch_uid: bool = False
    """In the container as root: the worker switches to `nobody` itself."""
    notes: list[str] = field(default_factory=list, compare=False, hash=False)

    @property
    def pid_namespace(self) -> bool:
        return self.container is not None or bool(self.prefix)

    @property
    def net_namespace(self) -> bool:
        return self.container is not None or self.net_flag is not None

    @property
    def private_filesystem(self) -> bool:
        """Only what was bound is visible (the container modes)."""
        return self.container is not None

    def command(self, network: bool) -> list[str]:
        cmd = list(self.prefix)
        if self.net_flag and not network:
            cmd.insert(1, self.net_flag)
        return cmd

    def describe(self) -> str:
        return f"{self.name} ({'; '.join(self.notes)})" if self.notes else self.name

    def unprotected(self) -> list[str]:
        """What this mode does not protect (printed when a weaker mode is in use)."""
        if self.private_filesystem:
            return []
        gaps = ["the host filesystem is visible: files readable by the worker's uid can be read, "
                "and files it owns can be written (other candidates, config.yaml, llm/)"]  # fmt: skip
        if self.same_uid and not self.prefix:
            gaps.append("it runs as your user: other processes of yours (and their environments, "
                        "e.g. a shell holding an API key) are visible through /proc")  # fmt: skip
        elif self.same_uid:
            gaps.append("it runs as your uid outside its namespace: files you own are writable")
        if not self.net_namespace:
            gaps.append("the network is reachable")
        if not self.pid_namespace:
            gaps.append("processes that call setsid() escape the group kill")
        return gaps


def write_job(path: Path, job: dict[str, Any]) -> None:
    """job.json, readable by the supervisor and the job, writable by neither."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(job))


@dataclass(frozen=True)
class Service:
    """How `run_isolated` runs a service beside another job (the reward process): descriptors
    it inherits, whether it may write (and be read back) at all, and the events that stop it
    and say it started."""

    pass_fds: tuple[int, ...] = ()
    writable: bool = True
    stop: threading.Event | None = None
    started: threading.Event | None = None


@dataclass
class _Outcome:
    status: int | None  # raw wait status; None when it could not be started
    rusage: resource.struct_rusage | None
    timed_out: bool
    log_tail: str
    spawn_error: str | None = None
    quota_reason: str | None = None
    supervisor: dict[str, Any] | None = None
    """The supervisor's report (its pipe): wait status, CPU, peak memory, watchdog step."""


def spawn_and_wait(
    mode: Isolation,
    limits: Limits,
    jobdir: Path,
    cwd: Path,
    env: dict[str, str],
    spec: ContainerSpec | None,
    uid: int,
    quota: DiskQuota,
    job: dict[str, Any],
    service: Service | None = None,
) -> _Outcome:
    service = service or Service()
    flags = ["-s", "-B"] + (["-P"] if sys.version_info >= (3, 11) else [])
    child = [sys.executable, *flags, "-m", "autoreward.sandbox.child", str(jobdir)]
    if mode.switch_uid:
        child.append(f"{uid}:{uid}")
    if mode.container is not None and spec is not None:
        cmd = bwrap_argv(mode.container, spec, child)
        env = {"PATH": env.get("PATH", os.defpath)}  # bubblewrap itself; the job gets spec.env
    else:
        cmd = [*mode.command(limits.network), *child]
    drop: dict[str, Any] = {}
    if mode.drop_uid:
        drop = {"user": SANDBOX_UID, "group": SANDBOX_GID, "extra_groups": render_groups()}
    # The supervisor's report comes back on this pipe, never through a file in the job's
    # reach; the job's output goes to a log the parent keeps open (a file the job replaces
    # in its folder is not the one read back).
    status_read, status_write = os.pipe()
    job["status_fd"] = status_write
    write_job(jobdir / "job.json", job)
    # A service's output is discarded: nothing it writes is read.
    log_path = jobdir / "output.log" if service.writable else Path(os.devnull)
    log_file = open(log_path, "w+b")  # noqa: SIM115 (read back below)
    try:
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                pass_fds=(status_write, *service.pass_fds),
                preexec_fn=_die_with_parent,
                **drop,
            )
        except OSError as err:
            return _Outcome(None, None, False, "", spawn_error=f"{type(err).__name__}: {err}")
        finally:
            os.close(status_write)
            if service.started is not None:
                service.started.set()
        with _live_lock:
            _live_groups.add(proc.pid)
        try:
            ended = _wait_exit(proc.pid, time.monotonic() + limits.wall_seconds,
                               _stop_check(quota, service.stop))  # fmt: skip
            # The child is a zombie (or still running): its pid cannot be reused yet, so
            # killing its group cannot hit an unrelated one. This also removes anything it
            # left behind.
            _kill_group(proc.pid)
            _, status, rusage = os.wait4(proc.pid, 0)
        finally:
            with _live_lock:
                _live_groups.discard(proc.pid)
        proc.returncode = os.waitstatus_to_exitcode(status)
        report = _read_status(status_read)
        return _Outcome(
            status,
            rusage,
            ended is False,
            _tail(log_file) if service.writable else "",
            quota_reason=ended if isinstance(ended, str) else None,
            supervisor=report,
        )
    finally:
        os.close(status_read)
        log_file.close()


STOPPED = "stopped by its caller"


def _stop_check(quota: DiskQuota, stop: threading.Event | None) -> Callable[[], str | None]:
    def check() -> str | None:
        if stop is not None and stop.is_set():
            return STOPPED
        return quota.exceeded()

    return check


def _read_status(fd: int) -> dict[str, Any] | None:
    """The supervisor's report from its pipe (small; everything of it is written by now)."""
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 0)
        if not ready:
            break
        data = os.read(fd, 65536)
        if not data:
            break
        chunks.append(data)
        if sum(map(len, chunks)) > 65536:
            return None
    try:
        record = json.loads(b"".join(chunks))
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the forked child, before exec: SIGKILL when the spawning thread's process dies, so a
    killed run (kill -9, OOM) leaves no orphaned worker training on (a resume retrains it)."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _wait_exit(
    pid: int, deadline: float, check: Callable[[], str | None] | None = None
) -> bool | str:
    """Wait, without reaping, until `pid` exits (True), the deadline passes (False) or
    `check` (called every half second) gives a reason to stop it (that reason)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    try:
        delay = 0.005
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if fd is not None:
                ready, _, _ = select.select([fd], [], [], min(left, 0.5))
                if ready:
                    return True
            else:
                if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    return True
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
            reason = check() if check is not None else None
            if reason:
                return reason
    finally:
        if fd is not None:
            os.close(fd)


_live_lock = threading.Lock()
_live_groups: set[int] = set()


def kill_running_workers() -> int:
    """SIGKILL every worker this process is waiting on (e.g. on Ctrl-C: the workers run in
    their own sessions and never see the terminal's interrupt). Returns how many."""
    with _live_lock:
        groups = list(_live_groups)
    for pgid in groups:
        _kill_group(pgid)
    return len(groups)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_MEMORY_HINTS = re.compile(r"MemoryError|Cannot allocate memory|std::bad_alloc|out of memory", re.I)


def service_result(out: _Outcome) -> WorkerResult:
    """How a service ended, from its wait status alone (nothing it wrote is read)."""
    if out.status is None:
        return WorkerResult(ok=False, status="crashed", reason=out.spawn_error or "did not start")
    if out.timed_out or out.quota_reason == STOPPED:
        return WorkerResult(ok=False, status="killed", reason="stopped")
    if out.quota_reason:
        return WorkerResult(ok=False, status="killed", reason=out.quota_reason)
    code = os.waitstatus_to_exitcode(out.status)
    if code == 0:
        return WorkerResult(ok=True, status="ok")
    return WorkerResult(ok=False, status="crashed", reason=f"exit status {code}")


def classify(out: _Outcome, limits: Limits, jobdir: Path) -> WorkerResult:
    tail = out.log_tail

    def fail(status: Status, reason: str, traceback: str = "") -> WorkerResult:
        return WorkerResult(
            ok=False,
            status=status,
            reason=clean_text(reason),
            traceback=clean_text(traceback, TAIL_CHARS),
            stderr_tail=tail,
        )

    if out.status is None:
        return fail("crashed", f"could not start the worker: {out.spawn_error}")
    if out.timed_out:
        return fail(
            "timeout",
            f"wall-clock timeout after {limits.wall_seconds:g} s; "
            "the worker's whole process group was killed",
        )
    if out.quota_reason:
        return fail("killed", out.quota_reason)
    sup = out.supervisor or {}
    if isinstance(sup.get("watchdog_step"), int):
        limit_s = limits.reward_call_seconds
        message = watchdog.exceeded_message(limit_s, sup["watchdog_step"], limits.reward_call_unit)
        return fail("error", message)
    record = _read_json(jobdir / "result.json")
    if record is not None:
        status = record.get("status")
        if status == "ok" and isinstance(record.get("value"), dict):
            return WorkerResult(ok=True, status="ok", value=record["value"], stderr_tail=tail)
        if status in ("error", "memory"):
            reason = str(record.get("reason", ""))
            if status == "memory":
                reason += f" (address-space limit {limits.address_space_mb} MB)"
            return fail(status, reason, str(record.get("traceback", "")))
    # No result: how did the job process end? Its supervisor says so (on its pipe).
    wait_status, cpu = out.status, _cpu_seconds(out.rusage)
    peak_mb = out.rusage.ru_maxrss / 1024 if out.rusage else 0.0
    setup_failed = os.WIFEXITED(wait_status) and os.WEXITSTATUS(wait_status) == EXIT_SETUP_FAILED
    if out.supervisor is None and (os.WIFSIGNALED(wait_status) or setup_failed):
        pass  # the container itself was killed, or never got as far: its status says how
    elif out.supervisor is None:
        return fail("crashed", "the job's supervisor ended without a report (killed?)")
    else:
        try:
            wait_status = int(sup["wait_status"])
            cpu = float(sup["cpu_seconds"])
            peak_mb = float(sup["maxrss_kb"]) / 1024
        except (KeyError, TypeError, ValueError):
            return fail("crashed", "the job's supervisor sent a malformed report")
    memory_hint = _MEMORY_HINTS.search(tail) is not None
    if os.WIFEXITED(wait_status):
        code = os.WEXITSTATUS(wait_status)
        if code == EXIT_SETUP_FAILED:
            return fail("crashed", "sandbox set-up failed in the worker (see stderr_tail)")
        if memory_hint:
            return fail(
                "memory", f"ran out of memory (exit {code}; limit {limits.address_space_mb} MB)"
            )
        return fail("crashed", f"worker exited with status {code} without a result")
    sig = os.WTERMSIG(wait_status)
    name = signal.Signals(sig).name if sig in set(signal.Signals) else f"signal {sig}"
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu_seconds - 0.05):
        return fail(
            "killed", f"CPU-time limit of {limits.cpu_seconds} s exceeded (used {cpu:.1f} s)"
        )
    if sig == signal.SIGXFSZ:
        return fail("killed", f"file-size limit of {limits.file_size_mb} MB exceeded")
    if sig == signal.SIGKILL:
        return fail(
            "killed", f"killed by SIGKILL (peak memory {peak_mb:.0f} MB; out-of-memory killer?)"
        )
    if memory_hint:
        return fail("memory", f"ran out of memory ({name}; limit {limits.address_space_mb} MB)")
    return fail("crashed", f"worker crashed with {name}")


def _cpu_seconds(ru: resource.struct_rusage | None) -> float:
    return 0.0 if ru is None else ru.ru_utime + ru.ru_stime


def _read_json(path: Path) -> dict[str, Any] | None:
    """A record the job wrote (untrusted): symlinks, oversized and malformed files are
    ignored (a missing or unreadable result is reported from how the process ended)."""
    try:
        record = read_untrusted_json(path, RESULT_MAX_BYTES, root=path.parent)
    except UntrustedDataError:
        return None
    return record if isinstance(record, dict) else None


def _tail(log: IO[bytes]) -> str:
    """The end of the job's log, read from the descriptor the parent opened."""
    try:
        log.flush()
        log.seek(0, os.SEEK_END)
        log.seek(max(0, log.tell() - TAIL_CHARS))
        return clean_text(log.read().decode(errors="replace"), TAIL_CHARS)
    except OSError:
        return ""


def render_groups() -> list[int]:
    """Supplementary groups the sandbox uid keeps: GPU/render device access only."""
    import grp

    gids = []
    for name in ("video", "render"):
        try:
            gids.append(grp.getgrnam(name).gr_gid)
        except KeyError:
            continue
    return gids
