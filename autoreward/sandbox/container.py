"""The container every job that runs reward code lives in: bubblewrap, built by subtraction.

A job starts with nothing and is given, by explicit binds, only what it needs: the system
libraries, the interpreter and its site-packages, the `autoreward` package and the modules of
a `module:Class` env, all read-only (schemas travel in the job's payload); a private
`/tmp`, `/dev` and `/proc`; its private job folder and its own output folder as the only
writable places. Nothing else of the run directory (other candidates, `config.yaml`, `llm/`,
`best/`), nothing of the user's home, no network, new PID/IPC/UTS/cgroup namespaces, no
capabilities, and it dies with its parent. `bwrap_argv` is that policy as one readable
argument list (a test reads it).

Which uid the job runs as: started by an unprivileged user, bubblewrap makes a user namespace
and the job keeps the user's uid. Started by root, bubblewrap needs no user namespace; the job
keeps only CAP_SETUID/CAP_SETGID long enough for the worker to switch to `nobody` (65534)
before any job code is imported (`child.py`), after which it has no capabilities at all.

What is bound read-only is an allow-list (`python_paths`): the interpreter's prefixes, its
standard library and site-packages, the `autoreward` package and the modules a
`module:Class` env names. Nothing from the current directory, the driver script's folder or
`PYTHONPATH` is bound (a `.env` beside a script stays out of reach) unless the user names the
folder with `--sandbox-bind PATH` / `AUTOREWARD_SANDBOX_BIND` (off by default). Project roots
(a folder with `pyproject.toml`, `setup.py` or `.git`) are never bound whole, not even when
named: they hold `.env` files, the `runs/` folder and other secrets.

The private `/tmp` and `/dev/shm` are size-capped tmpfs mounts inside the job's memory budget
(`tmpfs_sizes_mb`): tmpfs pages are not counted by RLIMIT_AS, so an uncapped one (half the
machine's RAM by default) would let a job under a 1 GiB limit hold gigabytes.
"""

from __future__ import annotations

import os
import shutil
import site
import sys
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt/conda")
"""Read-only system folders (symlinks, as in merged-/usr systems, are recreated as symlinks)."""

ETC_FILES = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "timezone",
    "passwd", "group", "nsswitch.conf", "fonts", "glvnd", "OpenCL", "vulkan", "nvidia",
    "mime.types", "ssl/certs",
)  # fmt: skip
"""What of /etc a worker may read: the loader, user names, fonts, GL vendor files. Not
/etc/shadow, ssh keys, cron, the package manager's credentials, ..."""

GPU_DEVICES = (
    "/dev/nvidia0", "/dev/nvidia1", "/dev/nvidia2", "/dev/nvidia3", "/dev/nvidia4",
    "/dev/nvidia5", "/dev/nvidia6", "/dev/nvidia7", "/dev/nvidiactl", "/dev/nvidia-uvm",
    "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset", "/dev/dri",
)  # fmt: skip
"""Device nodes bound into a GPU job (missing ones are skipped)."""

PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
BIND_ENV_VAR = "AUTOREWARD_SANDBOX_BIND"
"""Extra folders to bind read-only into every container (os.pathsep-separated; empty by
default); set by `--sandbox-bind`."""
TMPFS_SHARE = 8
"""`/tmp` and `/dev/shm` may each hold 1/TMPFS_SHARE of the job's memory limit."""


@dataclass
class ContainerSpec:
    """What one job's container is given. Paths are bound at the same place inside."""

    ro: list[Path] = field(default_factory=list)
    rw: list[Path] = field(default_factory=list)
    cwd: Path = Path("/")
    env: dict[str, str] = field(default_factory=dict)
    network: bool = False
    gpu: bool = False
    switch_to_uid: int | None = None
    """Root only: keep CAP_SETUID/CAP_SETGID so the worker can drop to this uid itself (and
    CAP_KILL for its supervisor, which stays outside that uid)."""
    tmp_mb: int = 256
    shm_mb: int = 256
    """Sizes of the private `/tmp` and `/dev/shm` tmpfs mounts."""


def tmpfs_sizes_mb(memory_mb: int) -> tuple[int, int]:
    """(`/tmp`, `/dev/shm`) sizes for a job with `memory_mb` of memory: together a quarter of
    it, at least 16 MiB each."""
    each = max(16, memory_mb // TMPFS_SHARE)
    return each, each


def bwrap_path() -> str | None:
    """The bubblewrap binary, or None when it is not installed."""
    return shutil.which("bwrap")


def bwrap_argv(bwrap: str, spec: ContainerSpec, command: Sequence[str]) -> list[str]:
    """The complete bubblewrap command line for `spec` (the container's policy, in one place)."""
    argv: list[str] = [bwrap]
    if os.geteuid() == 0:
        # Root needs no user namespace (which would map uid 0 alone, so the worker could not
        # switch to nobody); the other namespaces are unshared one by one.
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        argv += [] if spec.network else ["--unshare-net"]
        argv += ["--cap-drop", "ALL"]
        if spec.switch_to_uid is not None:
            argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_KILL"]
    else:
        argv += ["--unshare-all", "--disable-userns"]
        argv += ["--share-net"] if spec.network else []
    argv += ["--die-with-parent", "--new-session", "--hostname", "autoreward-sandbox"]
    for name in SYSTEM_DIRS:
        path = Path(name)
        if path.is_symlink():
            argv += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            argv += ["--ro-bind", name, name]
    for name in ETC_FILES:
        path = Path("/etc") / name
        if path.exists():
            argv += ["--ro-bind", str(path), str(path)]
    mib = 1024 * 1024
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "1777", "--size", str(spec.shm_mb * mib), "--tmpfs", "/dev/shm"]
    argv += ["--perms", "1777", "--size", str(spec.tmp_mb * mib), "--tmpfs", "/tmp"]
    if spec.gpu:
        for dev in GPU_DEVICES:
            if Path(dev).exists():
                argv += ["--dev-bind", dev, dev]
        argv += ["--ro-bind-try", "/sys", "/sys"]
    ro = _outermost(spec.ro)
    binds = [("--ro-bind", p) for p in ro] + [("--bind", p) for p in spec.rw]
    made: set[Path] = set()
    for flag, path in binds:
        for parent in reversed(path.parents):
            # Folders bubblewrap creates on the way copy the host's mode (e.g. /root is 0700);
            # make them traversable so the sandbox uid can reach what is bound below them.
            # Folders inside a read-only bind exist there already.
            if parent in made or _covered(parent, ro) or parent in _MOUNTED:
                continue
            argv += ["--perms", "0755", "--dir", str(parent)]
            made.add(parent)
        argv += [flag, str(path), str(path)]
    argv += ["--chdir", str(spec.cwd), "--clearenv"]
    for key, value in sorted(spec.env.items()):
        argv += ["--setenv", key, value]
    return [*argv, "--", *command]


def python_paths(extra_modules: Iterable[str] = ()) -> list[Path]:
    """Read-only paths a worker needs: the interpreter and its prefixes, the standard library
    and site-packages, the `autoreward` package, `extra_modules` (top-level module names a
    `module:Class` env imports) and the folders the user named (`extra_binds`). Never the
    current directory, the driver script's folder or PYTHONPATH entries by themselves."""
    paths: list[Path] = []
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        paths.append(Path(prefix))
    exe = Path(sys.executable)
    paths += [exe.parent, exe.resolve().parent.parent]
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.append(Path(sysconfig.get_paths()[key]))
    paths += [Path(p) for p in site.getsitepackages()]
    paths.append(_package_dir("autoreward"))
    for name in extra_modules:
        found = _module_location(name)
        if found is not None:
            paths.append(found)
    paths += extra_binds()
    kept = [p for p in paths if p.exists() and p not in (Path("/"), Path.home())]
    kept = [p for p in kept if not is_project_root(p)]
    return [p.resolve() if not p.is_symlink() else p for p in kept]


def import_paths(bound: Iterable[Path]) -> list[str]:
    """The `sys.path` entries of this process that lie inside `bound` (the child's
    PYTHONPATH: the rest is not in its container)."""
    roots = [Path(b) for b in bound]
    out: list[str] = []
    for entry in sys.path:
        if not entry or not os.path.isabs(entry) or not os.path.exists(entry):
            continue
        path = Path(entry).resolve()
        if any(r == path or r in path.parents for r in roots):
            out.append(entry)
    return list(dict.fromkeys(out))


def child_pythonpath(bound: Iterable[Path], extra_modules: Iterable[str] = ()) -> list[str]:
    """PYTHONPATH for a worker: this process's import roots inside `bound`, and the folder each
    of `extra_modules` is imported from (only the module itself is bound, not its folder)."""
    out = import_paths(bound)
    for name in extra_modules:
        found = _module_location(name)
        if found is not None:
            out.append(str(found.parent))
    return list(dict.fromkeys(out))


def extra_binds() -> list[Path]:
    """The folders named with `--sandbox-bind` / `AUTOREWARD_SANDBOX_BIND` (none by default)."""
    raw = os.environ.get(BIND_ENV_VAR, "")
    return [Path(p).expanduser().absolute() for p in raw.split(os.pathsep) if p.strip()]


def is_project_root(path: Path) -> bool:
    """A source checkout (it may hold `.env` files, `runs/` and other secrets)."""
    return any((path / marker).exists() for marker in PROJECT_MARKERS)


def env_modules(env_id: str) -> list[str]:
    """The top-level module a `module:Class` env id needs imported (none for registered ids)."""
    if ":" not in env_id:
        return []
    return [env_id.split(":", 1)[0].split(".")[0]]


# --------------------------------------------------------------------------- internals


def _package_dir(name: str) -> Path:
    module = sys.modules.get(name) or __import__(name)
    return Path(next(iter(module.__path__)))


def _module_location(name: str) -> Path | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin) if spec.origin and spec.origin not in ("built-in", "frozen") else None


_MOUNTED = {Path(p) for p in ("/", "/tmp", "/dev", "/dev/shm", "/proc")}


def _covered(path: Path, binds: Iterable[Path]) -> bool:
    """Inside a system folder or an ro bind: the folder exists there as on the host."""
    return _under_system(path) or any(b == path or b in path.parents for b in binds)


def _under_system(path: Path) -> bool:
    return any(path == Path(s) or Path(s) in path.parents for s in SYSTEM_DIRS)


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """Drop paths already inside another path of the list (one bind covers them)."""
    unique = sorted(set(paths), key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in unique:
        if not any(k == path or k in path.parents for k in kept) and not _under_system(path):
            kept.append(path)
    return kept
