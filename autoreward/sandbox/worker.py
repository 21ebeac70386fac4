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
  parent runs as root, in the container the job runs as a uid of its own (`jobuid.py`: its
  own RLIMIT_NPROC; its supervisor stays uid 0 with CAP_KILL only, out of the job's reach),
  in the `unshare` modes as `nobody` (65534), with the job directory and `workdir` lent to
  that uid for the run.
- **Disk**: the job's writable folders together may hold `Limits.disk_quota_mb`
  (`quota.py`, measured while it runs); the container's `/tmp` and `/dev/shm` are tmpfs
  mounts sized inside its memory limit.
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

The child acts as a tiny supervisor (`child.supervise`; PID 1 of its namespace in the
`unshare` modes): the job runs one level down, so signals behave normally, and its exit
status, resource usage and the watchdog's verdict come back on a pipe only the supervisor
holds (unshare cannot pass a SIGKILL on; a file in the job's folder could be forged).

`AUTOREWARD_SANDBOX=userns|rootns|userns-root|uid|none` forces a mode (an unavailable mode is
an error); `auto` (default) picks the first that works. The parent is also made non-dumpable
whenever the child keeps the parent's uid.
"""

from __future__ import annotations

import ctypes
import fnmatch
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from autoreward.errors import WorkerError
from autoreward.sandbox.child import TARGET_PATTERN
from autoreward.sandbox.container import (
    ContainerSpec,
    bwrap_path,
    child_pythonpath,
    python_paths,
    tmpfs_sizes_mb,
)
from autoreward.sandbox.jobuid import JOB_UID_BASE, job_uid
from autoreward.sandbox.jobuid import SLOTS as JOB_UID_SLOTS
from autoreward.sandbox.limits import (
    Limits,
    Status,
    WorkerResult,
    default_memory_mb,
    physical_memory_mb,
)
from autoreward.sandbox.quota import DiskQuota
from autoreward.sandbox.spawn import (
    SANDBOX_GID,
    SANDBOX_UID,
    TAIL_CHARS,
    Isolation,
    Service,
    classify,
    kill_running_workers,
    service_result,
    spawn_and_wait,
)

__all__ = [
    "SANDBOX_GID", "SANDBOX_UID", "TAIL_CHARS", "Isolation", "Limits", "Status", "WorkerResult",
    "default_memory_mb", "isolation", "kill_running_workers", "physical_memory_mb",
    "run_isolated", "scrub_environment", "set_policy",
]  # fmt: skip
"""Also re-exported from `limits.py` and `spawn.py`: what callers import from here."""

log = logging.getLogger(__name__)

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


def _child_environment(
    extra: Mapping[str, str] | None, jobdir: Path, modules: Sequence[str] = ()
) -> dict[str, str]:
    env = scrub_environment(os.environ)
    for key, value in (extra or {}).items():
        if is_secret_name(key):
            raise WorkerError(
                f"refusing to pass '{key}' to a worker: it looks like a credential",
                hint="workers never receive keys, tokens, passwords or cloud credentials",
            )
        env[key] = str(value)
    env.setdefault("PATH", os.defpath)
    # The child imports from what is bound (python_paths): the standard library,
    # site-packages, autoreward, a `module:Class` env's module; not the parent's cwd.
    env["PYTHONPATH"] = os.pathsep.join(child_pythonpath(python_paths(modules), modules))
    env["HOME"] = str(jobdir / "home")
    env["TMPDIR"] = str(jobdir / "tmp")
    # A job uid has no /etc/passwd entry: getpass.getuser() (torch, matplotlib caches) reads
    # these instead of failing on a pwd lookup.
    env["USER"] = env["LOGNAME"] = "autoreward-job"
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


# =========================================================================== isolation modes


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
            notes=container_notes
            + (
                ["a uid of its own per job; its supervisor outside it"]
                if root
                else ["your uid, in a user namespace"]
            ),
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
    if mode.switch_uid and not JOB_UID_BASE <= v["uid"] < JOB_UID_BASE + JOB_UID_SLOTS:
        return f"child runs as uid {v['uid']}, not a job uid of its own"
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
    service = Service(tuple(pass_fds), writable, stop, started)
    return _run(mode, target, payload, limits or Limits(), workdir, env, inputs, modules, service)


def _run(
    mode: Isolation,
    target: str,
    payload: dict[str, Any],
    limits: Limits,
    workdir: Path | None,
    extra_env: Mapping[str, str] | None,
    inputs: Sequence[Path] = (),
    modules: Sequence[str] = (),
    service: Service | None = None,
) -> WorkerResult:
    service = service or Service()
    start = time.monotonic()
    if mode.same_uid:
        _make_parent_undumpable()
    with ExitStack() as stack:
        uid = stack.enter_context(job_uid()) if mode.switch_uid else SANDBOX_UID
        result = _run_as(
            mode, uid, target, payload, limits, workdir, extra_env, inputs, modules, service
        )
    result.wall_s = round(time.monotonic() - start, 3)
    result.isolation = mode.describe()
    return result


def _run_as(
    mode: Isolation,
    uid: int,
    target: str,
    payload: dict[str, Any],
    limits: Limits,
    workdir: Path | None,
    extra_env: Mapping[str, str] | None,
    inputs: Sequence[Path],
    modules: Sequence[str],
    service: Service,
) -> WorkerResult:
    """One job whose code runs as `uid` (when the parent is root and the mode drops it)."""
    jobdir = Path(tempfile.mkdtemp(prefix="autoreward-job-"))
    try:
        for sub in ("home", "tmp"):
            (jobdir / sub).mkdir()
        job: dict[str, Any] = {"target": target, "payload": payload, "limits": limits.model_dump()}
        cwd = Path(workdir).resolve() if workdir is not None else jobdir / "home"
        cwd.mkdir(parents=True, exist_ok=True)
        job["cwd"] = str(cwd)
        job["pid_namespace"] = mode.container is not None
        job["status_fd"] = None  # set by spawn_and_wait
        child_env = _child_environment(extra_env, jobdir, modules)
        if not service.writable and mode.container is not None:
            child_env.update(HOME="/tmp", TMPDIR="/tmp")
        writable = [jobdir] + ([cwd] if workdir is not None else [])
        spec = None
        if mode.container is not None:
            # An input that holds a writable folder would show the job that folder's siblings.
            readable = [
                Path(p).resolve()
                for p in inputs
                if Path(p).exists() and not any(Path(p).resolve() in w.parents for w in writable)
            ]
            if not service.writable:
                readable, writable = [*readable, jobdir], []
            tmp_mb, shm_mb = tmpfs_sizes_mb(limits.address_space_mb)
            spec = ContainerSpec(
                ro=python_paths(modules) + readable,
                rw=writable,
                cwd=Path("/"),  # the worker changes into `cwd` once it runs as its own uid
                env=child_env,
                network=limits.network,
                gpu=limits.gpu,
                switch_to_uid=uid if mode.switch_uid else None,
                tmp_mb=tmp_mb,
                shm_mb=shm_mb,
            )
        if mode.runs_as_nobody:
            _lend_tree(jobdir, uid, uid)
            if workdir is not None:
                _lend_tree(cwd, uid, uid)
            # The supervisor (uid 0 without DAC capabilities) reads job.json: the job's uid
            # owns the folder, so it may be entered but job.json stays the parent's.
            os.chmod(jobdir, 0o711)
        quota = DiskQuota(writable, limits.disk_quota_mb)
        try:
            outcome = spawn_and_wait(
                mode, limits, jobdir, cwd, child_env, spec, uid, quota, job, service
            )
        finally:
            if workdir is not None and mode.runs_as_nobody:
                _lend_tree(cwd, os.getuid(), os.getgid())
        return classify(outcome, limits, jobdir) if service.writable else service_result(outcome)
    finally:
        shutil.rmtree(jobdir, ignore_errors=True)


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
