"""The isolated worker: where untrusted code runs, and under which limits.

`run_isolated(target, payload, limits)` starts `python -m autoreward.sandbox.child` in a
fresh process, hands it the JSON payload through a private job directory, waits, and returns
a `WorkerResult` whose `status` says how it ended: `ok`, `error` (an exception: message and
traceback tail), `memory` (MemoryError under RLIMIT_AS), `timeout` (wall clock; the whole
process group was killed), `killed` (a signal: CPU-time limit, the OOM killer, ...) or
`crashed` (a native crash or a set-up failure). The parent never raises for what the child
does.

Layers, applied to every job:

- **Environment**: an allow-list (PATH, locale, TZ, rendering and thread variables, ...);
  anything whose name looks like a credential (KEY, TOKEN, SECRET, PASSWORD, CREDENTIAL,
  AUTH), proxies and cloud variables (AWS_, AZURE_, GOOGLE_, GCP_, ...) are dropped even if
  allow-listed. HOME and TMPDIR point into the private job directory.
- **rlimits** (set by the child before it imports the target): CPU seconds (SIGXCPU, then
  SIGKILL 2 s later), address space, file size, number of processes/threads (counted beyond
  those already running as the child's uid), no core dumps.
- **Process group**: the child starts its own session; on a wall-clock timeout, and after
  every job, the whole group gets SIGKILL.
- **Privileges**: the child sets no-new-privileges and drops every capability. When the
  parent runs as root the child runs as `nobody` (65534), with the job directory and
  `workdir` lent to that uid for the run.
- **Namespaces** (where `unshare` allows): own user, PID, mount and network namespaces. The
  child sees only its own processes in /proc (so no
  `/proc/<pid>/environ` of the parent or of your shell), has only a down loopback interface
  (no network), and everything it spawned dies with it, even processes that called setsid().

Which isolation applies is detected once per process (`isolation()`), by running a real
probe job through each mode, strongest first:

1. `userns`: `unshare --user --map-root-user --pid --fork --mount-proc [--net]` (as root:
   after dropping to `nobody`). Needs unprivileged user namespaces (most distros; Ubuntu
   24.04 restricts them through AppArmor unless allowed for the binary).
2. `rootns` (root only): the same namespaces without a user namespace, `--setuid nobody`.
   RLIMIT_NPROC then counts every process of `nobody` on the machine.
3. `userns-root` (root only, when `nobody` cannot run the interpreter, e.g. pyenv under
   /root): the namespaces of `userns`, uid 0 without capabilities. Root-owned files stay
   readable; RLIMIT_NPROC does not bind uid 0, so the child caps its PID namespace through
   the per-namespace pid_max (Linux >= 6.14) instead.
4. `uid` (root only): no namespaces; the child runs as `nobody`. No network isolation; it can
   list other processes but not read a root process's environment.
5. `none` (no namespaces): the child runs as you, with the network. The parent makes itself
   non-dumpable (prctl PR_SET_DUMPABLE 0, as ssh-agent does) so the child cannot read the
   parent's /proc/<pid>/environ; the environments of *other* processes you own (e.g. the
   shell that exported an API key) stay readable through /proc, and processes that call
   setsid() escape the group kill. The static validator is then the main defence; a warning
   says so once per process.

In the namespace modes the child is PID 1 of its namespace and acts as a tiny supervisor
(`child.supervise`): the job runs one level down, so signals behave normally, and its exit
status and resource usage come back in `exit.json` (unshare cannot pass a SIGKILL on).

`AUTOREWARD_SANDBOX=userns|rootns|userns-root|uid|none` forces a mode (an unavailable mode is
an error); `auto` (default) picks the first that works. The parent is also made non-dumpable
whenever the child keeps the parent's uid.
"""

from __future__ import annotations

import ctypes
import fnmatch
import json
import logging
import os
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from autoreward.errors import WorkerError
from autoreward.sandbox.child import EXIT_SETUP_FAILED, TARGET_PATTERN
from autoreward.sandbox.container import ContainerSpec, bwrap_argv, bwrap_path, python_paths
from autoreward.sandbox.untrusted import UntrustedDataError, clean_text
from autoreward.sandbox.untrusted import read_json as read_untrusted_json

log = logging.getLogger(__name__)

Status = Literal["ok", "error", "timeout", "killed", "memory", "crashed"]
SANDBOX_UID = 65534
SANDBOX_GID = 65534
TAIL_CHARS = 4000
RESULT_MAX_BYTES = 64 * 1024 * 1024
"""A worker's result.json larger than this is not read (the job is reported as crashed)."""
MODE_ENV_VAR = "AUTOREWARD_SANDBOX"
MODES = ("bwrap", "bwrap-root", "userns", "rootns", "userns-root", "uid", "none")
CONTAINER_MODES = ("bwrap", "bwrap-root")
"""The modes `strict` accepts: a real container (bubblewrap)."""
POLICIES = ("auto", "strict")

ENV_ALLOW = (
    "PATH", "LANG", "LANGUAGE", "LC_*", "TZ", "TERM", "PYTHONPATH",
    "MUJOCO_GL", "MUJOCO_EGL_DEVICE_ID", "PYOPENGL_PLATFORM", "EGL_PLATFORM",
    "__EGL_VENDOR_LIBRARY_FILENAMES", "__EGL_VENDOR_LIBRARY_DIRS", "__GLX_VENDOR_LIBRARY_NAME",
    "DISPLAY", "WAYLAND_DISPLAY", "LD_LIBRARY_PATH",
    "OMP_*", "MKL_*", "OPENBLAS_*", "KMP_*", "NUMEXPR_*", "VECLIB_MAXIMUM_THREADS",
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "NVIDIA_VISIBLE_DEVICES",
    "NVIDIA_DRIVER_CAPABILITIES", "CUBLAS_WORKSPACE_CONFIG",
    "SDL_VIDEODRIVER", "SDL_AUDIODRIVER",
)  # fmt: skip
"""Variables passed to the worker (shell-style patterns); everything else is dropped."""

ENV_DENY = (
    "*KEY*", "*TOKEN*", "*SECRET*", "*PASSWORD*", "*PASSWD*", "*CREDENTIAL*", "*AUTH*",
    "*COOKIE*", "*SESSION*", "*PROXY*", "AWS_*", "AZURE_*", "GOOGLE_*", "GCP_*", "GCLOUD_*",
    "CLOUDSDK_*", "SSH_*", "GPG_*", "XAUTHORITY",
)  # fmt: skip
"""Never passed, even when allow-listed or given explicitly (case-insensitive)."""


def physical_memory_mb() -> int:
    """This machine's RAM in MiB (from /proc/meminfo; 8 GiB when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 8192


def default_memory_mb() -> int:
    """The default address-space limit of a training job: below physical memory (60% of
    RAM, at most 16 GiB, at least 3 GiB), so a reward that grows without bound fails with
    MemoryError instead of taking the machine down."""
    return max(3072, min(16384, int(physical_memory_mb() * 0.6)))


class Limits(BaseModel):
    """Resource limits of one worker job. The defaults suit a training job."""

    cpu_seconds: int = Field(default=4 * 3600, gt=0, description="CPU time (RLIMIT_CPU).")
    address_space_mb: int = Field(
        default_factory=default_memory_mb,
        gt=0,
        description="Virtual memory (RLIMIT_AS; RLIMIT_DATA for GPU jobs, whose drivers "
        "reserve far more address space than they use).",
    )
    file_size_mb: int = Field(default=1024, gt=0, description="Largest file it may write.")
    max_processes: int = Field(
        default=256, gt=0, description="Processes/threads it may start (RLIMIT_NPROC)."
    )
    wall_seconds: float = Field(default=4 * 3600, gt=0, description="Wall-clock timeout.")
    network: bool = Field(default=False, description="Allow network access.")
    reward_call_seconds: float = Field(
        default=5.0,
        ge=0,
        description="Longest one reward call may run before the watchdog ends the job (0: off).",
    )
    reward_call_unit: Literal["step", "call"] = Field(
        default="step", description="What the watchdog's count means: env steps or reward calls."
    )
    gpu: bool = Field(default=False, description="Bind the GPU device nodes into the container.")
    reward_share_limit: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Largest share of a training job's time its reward may take, measured by "
        "the learner after the warm-up (0: off).",
    )
    reward_share_warmup_seconds: float = Field(
        default=10.0, ge=0, description="Training seconds before the reward's share is judged."
    )

    @classmethod
    def dry_run(cls) -> Limits:
        """Limits for a reward dry run: a real env, a few hundred reward calls."""
        return cls(
            cpu_seconds=60,
            address_space_mb=3072,
            file_size_mb=64,
            max_processes=64,
            wall_seconds=120,
            reward_call_seconds=7.0,
        )


class WorkerResult(BaseModel):
    """How a worker job ended. `value` is the target's returned dict when `ok`."""

    ok: bool
    status: Status
    reason: str = ""
    value: dict[str, Any] | None = None
    wall_s: float = 0.0
    stderr_tail: str = Field(default="", description="Last lines of the child's stdout+stderr.")
    traceback: str = ""
    isolation: str = Field(default="", description="Isolation mode the job ran under.")


# =========================================================================== environment


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, p.upper()) for p in patterns)


def is_secret_name(name: str) -> bool:
    """True for variable names that are never passed to a worker."""
    return _matches(name, ENV_DENY)


def scrub_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed, non-secret subset of `environ`."""
    return {
        k: v
        for k, v in environ.items()
        if _matches(k, ENV_ALLOW) and not is_secret_name(k) and "\0" not in v
    }


def _child_environment(extra: Mapping[str, str] | None, jobdir: Path) -> dict[str, str]:
    env = scrub_environment(os.environ)
    for key, value in (extra or {}).items():
        if is_secret_name(key):
            raise WorkerError(
                f"refusing to pass '{key}' to a worker: it looks like a credential",
                hint="workers never receive keys, tokens, passwords or cloud credentials",
            )
        env[key] = str(value)
    env.setdefault("PATH", os.defpath)
    # The child imports what the parent imports (editable installs, `module:Class` envs).
    paths = [p for p in sys.path if p and os.path.exists(p)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["HOME"] = str(jobdir / "home")
    env["TMPDIR"] = str(jobdir / "tmp")
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


# =========================================================================== isolation modes


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


def _candidates() -> dict[str, Isolation]:
    root = os.geteuid() == 0
    unshare = shutil.which("unshare")
    bwrap = bwrap_path()
    ns = ("--pid", "--fork", "--mount-proc", "--kill-child")
    out: dict[str, Isolation] = {}
    container_notes = ["bubblewrap container: read-only system and site-packages, private /tmp, "
                       "only its own folders writable", "no network", "own PID/IPC/UTS namespaces",
                       "no capabilities"]  # fmt: skip
    if bwrap:
        out["bwrap"] = Isolation(
            "bwrap",
            container=bwrap,
            switch_uid=root,
            runs_as_nobody=root,
            same_uid=not root,
            notes=container_notes + (["uid nobody"] if root else ["your uid, in a user namespace"]),
        )
        if root:
            out["bwrap-root"] = Isolation(
                "bwrap-root",
                container=bwrap,
                same_uid=True,
                notes=container_notes
                + [
                    "uid 0 without capabilities (nobody could not run the "
                    "interpreter); only bound paths are visible"
                ],  # fmt: skip
            )
    if unshare:
        out["userns"] = Isolation(
            "userns",
            (unshare, "--user", "--map-root-user", *ns),
            net_flag="--net",
            drop_uid=root,
            runs_as_nobody=root,
            same_uid=not root,
            notes=["own user/PID/mount/network namespaces", "no capabilities"]
            + (["uid nobody"] if root else []),
        )
        if root:
            ids = ("--setuid", str(SANDBOX_UID), "--setgid", str(SANDBOX_GID))
            out["rootns"] = Isolation(
                "rootns",
                (unshare, *ns, *ids),
                net_flag="--net",
                runs_as_nobody=True,
                notes=["own PID/mount/network namespaces", "uid nobody"],
            )
        if root:
            out["userns-root"] = Isolation(
                "userns-root",
                (unshare, "--user", "--map-root-user", *ns),
                net_flag="--net",
                same_uid=True,
                notes=[
                    "own user/PID/mount/network namespaces",
                    "no capabilities",
                    "uid 0 outside: root-owned files stay readable and writable",
                ],
            )
    if root:
        out["uid"] = Isolation(
            "uid",
            drop_uid=True,
            runs_as_nobody=True,
            notes=["uid nobody", "no namespaces: network not isolated"],
        )
    out["none"] = Isolation(
        "none",
        same_uid=True,
        notes=["no namespaces: network and /proc not isolated", "runs as your user"]
        if not root
        else ["no namespaces: network and /proc not isolated", "runs as root without capabilities"],
    )
    return out


_mode_lock = threading.Lock()
_mode_cache: dict[str, Isolation] = {}
_warned: set[str] = set()


def sandbox_policy() -> str:
    """`AUTOREWARD_SANDBOX`: auto (default), strict (a container or nothing), or one mode."""
    wanted = os.environ.get(MODE_ENV_VAR, "auto").strip().lower() or "auto"
    if wanted not in (*POLICIES, *MODES):
        raise WorkerError(
            f"{MODE_ENV_VAR}={wanted!r} is not a sandbox mode",
            hint=f"use one of: {', '.join(POLICIES)}, {', '.join(MODES)}",
        )
    return wanted


def set_policy(policy: str) -> None:
    """Use `policy` (auto, strict, or a mode name) for the workers of this process and of the
    processes it starts (it is kept in `AUTOREWARD_SANDBOX`)."""
    wanted = policy.strip().lower()
    if wanted not in (*POLICIES, *MODES):
        raise WorkerError(
            f"--sandbox {policy!r} is not a sandbox policy",
            hint=f"use one of: {', '.join(POLICIES)} (or a mode: {', '.join(MODES)})",
        )
    os.environ[MODE_ENV_VAR] = wanted


def isolation(refresh: bool = False) -> Isolation:
    """The isolation mode for this process (`AUTOREWARD_SANDBOX`, else the strongest that works)."""
    wanted = sandbox_policy()
    with _mode_lock:
        if not refresh and wanted in _mode_cache:
            return _mode_cache[wanted]
        candidates = _candidates()
        if wanted not in POLICIES:
            if wanted not in candidates:
                raise WorkerError(
                    f"sandbox mode '{wanted}' is not possible here ({_needs(wanted)})",
                    hint=f"unset {MODE_ENV_VAR} to pick the strongest available mode",
                )
            failure = _probe_mode(candidates[wanted])
            if failure:
                raise WorkerError(f"sandbox mode '{wanted}' does not work here: {failure}")
            _mode_cache[wanted] = candidates[wanted]
            return candidates[wanted]
        order = CONTAINER_MODES if wanted == "strict" else MODES
        failures: list[str] = []
        for name in order:
            if name not in candidates:
                failures.append(f"{name}: {_needs(name)}")
                continue
            failure = _probe_mode(candidates[name])
            if failure is None:
                mode = candidates[name]
                _warn_weaker(mode, failures)
                _mode_cache[wanted] = mode
                return mode
            failures.append(f"{name}: {failure}")
        if wanted == "strict":
            raise WorkerError(
                "--sandbox strict: no container is possible here (" + "; ".join(failures) + ")",
                hint="install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: "
                "dnf install bubblewrap; Arch: pacman -S bubblewrap) and allow unprivileged user "
                "namespaces, or run without --sandbox strict",
            )
        raise WorkerError("no sandbox mode works here: " + "; ".join(failures))


def _needs(mode: str) -> str:
    if mode in CONTAINER_MODES:
        return "needs bubblewrap (apt-get install bubblewrap)" + (
            "" if mode == "bwrap" else " and root"
        )
    return "needs unshare" if mode in ("userns", "none") else "needs root and unshare"


def _warn_weaker(mode: Isolation, failures: list[str]) -> None:
    if failures:
        log.info("sandbox: using mode '%s'; stronger modes failed: %s", mode.name,
                 "; ".join(failures))  # fmt: skip
    gaps = mode.unprotected()
    if gaps and mode.name not in _warned:
        _warned.add(mode.name)
        log.warning(
            "sandbox: no container here (install bubblewrap for one); mode '%s' does not "
            "protect against: %s (see the README, 'Sandbox')",
            mode.name,
            "; ".join(gaps),
        )


def _probe_mode(mode: Isolation) -> str | None:
    """None when a real job runs under `mode` with the isolation it promises, else why not."""
    hidden = Path(tempfile.mkdtemp(prefix="autoreward-probe-"))
    try:
        canary = hidden / "canary"
        canary.write_text("host")
        payload = {"canary": str(canary)}
        try:
            res = _run(mode, "autoreward.sandbox._probe:ping", payload, Limits.dry_run(), None,
                       None)  # fmt: skip
        except OSError as err:
            return str(err)
    finally:
        shutil.rmtree(hidden, ignore_errors=True)
    if not res.ok or res.value is None:
        return f"{res.status}: {res.reason} {res.stderr_tail[-300:]}".strip()
    v = res.value
    if v["cap_eff"] != 0:
        return "child kept capabilities"
    if mode.prefix and "autoreward.sandbox.child" not in v["init_cmdline"]:
        return f"no PID namespace (PID 1 is {v['init_cmdline'][:60]!r})"
    if mode.container and not v["init_cmdline"].startswith(("bwrap", Path(mode.container).name)):
        if "autoreward.sandbox.child" not in v["init_cmdline"]:
            return f"no PID namespace (PID 1 is {v['init_cmdline'][:60]!r})"
    if mode.net_namespace and v["interfaces"] != ["lo"]:
        return f"no network namespace (interfaces {v['interfaces']})"
    if mode.drop_uid and v["uid"] == 0 and not mode.prefix:
        return "child still runs as root"
    if mode.switch_uid and v["uid"] != SANDBOX_UID:
        return f"child runs as uid {v['uid']}, not nobody"
    if mode.private_filesystem and v.get("canary_visible"):
        return "the container did not hide the host filesystem"
    return None


# =========================================================================== running a job


def run_isolated(
    target: str,
    payload: dict[str, Any],
    limits: Limits | None = None,
    workdir: Path | None = None,
    env: Mapping[str, str] | None = None,
    inputs: Sequence[Path] = (),
    modules: Sequence[str] = (),
    *,
    pass_fds: Sequence[int] = (),
    writable: bool = True,
    stop: threading.Event | None = None,
    started: threading.Event | None = None,
) -> WorkerResult:
    """Run `target` ("autoreward.module:function") on `payload` in an isolated child.

    The function takes the payload dict and returns a JSON-able dict (`WorkerResult.value`).
    `workdir` is the child's working directory and, in a container, the only writable place
    besides its private job folder (created if missing; lent to the sandbox uid for the run
    when the parent is root); default: a private temporary directory. `inputs` are paths the
    job may read (bound read-only in a container); `modules` are top-level modules beyond
    autoreward and its dependencies that it imports (a `module:Class` env). `env` adds
    variables to the scrubbed environment (credential-like names are refused).
    `pass_fds` are inherited by the job with the same numbers (a socket to another container).
    `writable=False` (a service such as the reward process): in a container, the job folder is
    bound read-only and the job writes nowhere but its private `/tmp` (tmpfs); its output is
    discarded and its result is never read (`value` is None; only how it ended). `stop`: set
    it to end the job early (killed, status "killed"); `started` is set once the job's process
    exists (or could not be started), so the caller may close its copies of `pass_fds`.
    Raises `WorkerError` only for a malformed target or an unusable sandbox, never for what
    the child does.
    """
    if not TARGET_PATTERN.match(target):
        raise WorkerError(
            f"worker target must look like 'autoreward.module:function', got {target!r}",
            hint="only functions inside the autoreward package can be worker targets",
        )
    mode = isolation()
    return _run(mode, target, payload, limits or Limits(), workdir, env, inputs, modules,
                _Service(tuple(pass_fds), writable, stop, started))  # fmt: skip


@dataclass(frozen=True)
class _Service:
    pass_fds: tuple[int, ...] = ()
    writable: bool = True
    stop: threading.Event | None = None
    started: threading.Event | None = None


def _run(
    mode: Isolation,
    target: str,
    payload: dict[str, Any],
    limits: Limits,
    workdir: Path | None,
    extra_env: Mapping[str, str] | None,
    inputs: Sequence[Path] = (),
    modules: Sequence[str] = (),
    service: _Service | None = None,
) -> WorkerResult:
    service = service or _Service()
    start = time.monotonic()
    if mode.same_uid:
        _make_parent_undumpable()
    jobdir = Path(tempfile.mkdtemp(prefix="autoreward-job-"))
    try:
        for sub in ("home", "tmp"):
            (jobdir / sub).mkdir()
        job: dict[str, Any] = {"target": target, "payload": payload, "limits": limits.model_dump()}
        cwd = Path(workdir).resolve() if workdir is not None else jobdir / "home"
        cwd.mkdir(parents=True, exist_ok=True)
        job["cwd"] = str(cwd)
        job["pid_namespace"] = mode.container is not None
        (jobdir / "job.json").write_text(json.dumps(job))
        child_env = _child_environment(extra_env, jobdir)
        if not service.writable and mode.container is not None:
            child_env.update(HOME="/tmp", TMPDIR="/tmp")
        if mode.runs_as_nobody:
            _lend_tree(jobdir, SANDBOX_UID, SANDBOX_GID)
            if workdir is not None:
                _lend_tree(cwd, SANDBOX_UID, SANDBOX_GID)
        spec = None
        if mode.container is not None:
            writable = [jobdir] + ([cwd] if workdir is not None else [])
            # An input that holds a writable folder would show the job that folder's siblings.
            readable = [
                Path(p).resolve()
                for p in inputs
                if Path(p).exists() and not any(Path(p).resolve() in w.parents for w in writable)
            ]
            if not service.writable:
                readable, writable = [*readable, jobdir], []
            spec = ContainerSpec(
                ro=python_paths(modules) + readable,
                rw=writable,
                cwd=Path("/"),  # the worker changes into `cwd` once it runs as its own uid
                env=child_env,
                network=limits.network,
                gpu=limits.gpu,
                switch_to_uid=SANDBOX_UID if mode.switch_uid else None,
            )
        try:
            outcome = _spawn_and_wait(mode, limits, jobdir, cwd, child_env, spec, service)
        finally:
            if workdir is not None and mode.runs_as_nobody:
                _lend_tree(cwd, os.getuid(), os.getgid())
        if service.writable:
            result = _classify(outcome, limits, jobdir)
        else:
            result = _service_result(outcome)
    finally:
        shutil.rmtree(jobdir, ignore_errors=True)
    result.wall_s = round(time.monotonic() - start, 3)
    result.isolation = mode.describe()
    return result


@dataclass
class _Outcome:
    status: int | None  # raw wait status; None when it could not be started
    rusage: resource.struct_rusage | None
    timed_out: bool
    log_tail: str
    spawn_error: str | None = None


def _spawn_and_wait(
    mode: Isolation,
    limits: Limits,
    jobdir: Path,
    cwd: Path,
    env: dict[str, str],
    spec: ContainerSpec | None = None,
    service: _Service | None = None,
) -> _Outcome:
    service = service or _Service()
    flags = ["-s", "-B"] + (["-P"] if sys.version_info >= (3, 11) else [])
    child = [sys.executable, *flags, "-m", "autoreward.sandbox.child", str(jobdir)]
    if mode.switch_uid:
        child.append(f"{SANDBOX_UID}:{SANDBOX_GID}")
    if mode.container is not None and spec is not None:
        cmd = bwrap_argv(mode.container, spec, child)
        env = {"PATH": env.get("PATH", os.defpath)}  # bubblewrap itself; the job gets spec.env
    else:
        cmd = [*mode.command(limits.network), *child]
    drop: dict[str, Any] = {}
    if mode.drop_uid:
        drop = {"user": SANDBOX_UID, "group": SANDBOX_GID, "extra_groups": _render_groups()}
    log_path = jobdir / "output.log"
    with open(log_path if service.writable else os.devnull, "wb") as log_file:
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
                pass_fds=service.pass_fds,
                preexec_fn=_die_with_parent,
                **drop,
            )
        except OSError as err:
            return _Outcome(None, None, False, "", spawn_error=f"{type(err).__name__}: {err}")
        finally:
            if service.started is not None:
                service.started.set()
    with _live_lock:
        _live_groups.add(proc.pid)
    try:
        timed_out = not _wait_exit(proc.pid, time.monotonic() + limits.wall_seconds, service.stop)
        # The child is a zombie (or still running): its pid cannot be reused yet, so killing
        # its group cannot hit an unrelated one. This also removes anything it left behind.
        _kill_group(proc.pid)
        _, status, rusage = os.wait4(proc.pid, 0)
    finally:
        with _live_lock:
            _live_groups.discard(proc.pid)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return _Outcome(status, rusage, timed_out, _tail(log_path) if service.writable else "")


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the forked child, before exec: SIGKILL when the spawning thread's process dies, so a
    killed run (kill -9, OOM) leaves no orphaned worker training on (a resume retrains it)."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _wait_exit(pid: int, deadline: float, stop: threading.Event | None = None) -> bool:
    """Wait, without reaping, until `pid` exits (True) or the deadline passes or `stop` is
    set (False)."""
    if stop is not None:
        deadline_at = deadline
        while not stop.is_set():
            step_end = min(deadline_at, time.monotonic() + 0.1)
            if _wait_exit(pid, step_end):
                return True
            if time.monotonic() >= deadline_at:
                return False
        return False
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                ready, _, _ = select.select([fd], [], [], left)
                if ready:
                    return True
        finally:
            os.close(fd)
    delay = 0.005
    while time.monotonic() < deadline:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is not None:
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    return False


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


def _service_result(out: _Outcome) -> WorkerResult:
    """How a service ended, from its wait status alone (nothing it wrote is read)."""
    if out.status is None:
        return WorkerResult(ok=False, status="crashed", reason=out.spawn_error or "did not start")
    if out.timed_out:
        return WorkerResult(ok=False, status="killed", reason="stopped")
    code = os.waitstatus_to_exitcode(out.status)
    if code == 0:
        return WorkerResult(ok=True, status="ok")
    return WorkerResult(ok=False, status="crashed", reason=f"exit status {code}")


def _classify(out: _Outcome, limits: Limits, jobdir: Path) -> WorkerResult:
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
    # No result: how did the job process end? In a PID namespace the supervisor says so.
    wait_status, cpu = out.status, _cpu_seconds(out.rusage)
    peak_mb = out.rusage.ru_maxrss / 1024 if out.rusage else 0.0
    exit_record = _read_json(jobdir / "exit.json")
    if exit_record is not None:
        try:
            wait_status = int(exit_record["wait_status"])
            cpu = float(exit_record["cpu_seconds"])
            peak_mb = float(exit_record["maxrss_kb"]) / 1024
        except (KeyError, TypeError, ValueError):
            pass
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
    """A record the child wrote (untrusted): symlinks, oversized and malformed files are
    ignored (a missing or unreadable result is reported from how the process ended)."""
    try:
        record = read_untrusted_json(path, RESULT_MAX_BYTES)
    except UntrustedDataError:
        return None
    return record if isinstance(record, dict) else None


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - TAIL_CHARS))
            return clean_text(f.read().decode(errors="replace"), TAIL_CHARS)
    except OSError:
        return ""


# =========================================================================== privileges


def _lend_tree(root: Path, uid: int, gid: int) -> None:
    """chown `root` and everything under it, never following links nor touching hard links."""
    try:
        os.chown(root, uid, gid, follow_symlinks=False)
    except OSError:
        return
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
                if os.path.isfile(p) and not os.path.islink(p) and st.st_nlink > 1:
                    continue
                os.chown(p, uid, gid, follow_symlinks=False)
            except OSError:
                continue


def _render_groups() -> list[int]:
    """Supplementary groups the sandbox uid keeps: GPU/render device access only."""
    import grp

    gids = []
    for name in ("video", "render"):
        try:
            gids.append(grp.getgrnam(name).gr_gid)
        except KeyError:
            continue
    return gids


_dumpable_done = False


def _make_parent_undumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0): a same-uid child can no longer read our /proc/<pid>/environ."""
    global _dumpable_done
    if _dumpable_done:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
        log.warning(
            "sandbox: prctl(PR_SET_DUMPABLE, 0) failed: %s", os.strerror(ctypes.get_errno())
        )
    _dumpable_done = True
