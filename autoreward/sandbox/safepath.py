"""Opening and copying what a worker wrote without following any link it planted.

A job with unrestricted Python can replace any file or folder it may write with a symlink
(`train/checkpoint -> ~/.ssh`, `policy/ -> /`). Checking only the last component, or calling
`Path.resolve()`, follows such a link. Everything the parent opens below a job's folder goes
through this module instead: the caller names a *trusted root* (a folder the parent made,
such as the job's bound output folder, which the job cannot replace because it is a mount
point) and a relative path below it, and no component of that relative path may be a
symlink, `..`, or anything but a directory (then a regular file at the end).

The kernel does the walk where it can: `openat2(2)` with `RESOLVE_NO_SYMLINKS |
RESOLVE_BENEATH` (Linux >= 5.6, called through ctypes). Elsewhere the same rule is enforced
by a walk from the root's file descriptor, one `O_NOFOLLOW | O_DIRECTORY` open per folder,
so a link swapped in between two checks is never followed either.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

MAX_NAME_CHARS = 128
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]*")
"""What a file or folder name in a worker's folder may look like when the parent copies it:
no leading dot, no separators, no spaces or control characters."""

_SYS_OPENAT2 = 437  # the same number on every architecture (new syscalls are unified)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08


class UnsafePathError(OSError):
    """A worker-written path that holds a symlink, `..`, a bad name or a non-regular file."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_openat2_works: bool | None = None


def _openat2(dir_fd: int, rel: str, flags: int) -> int:
    """openat2 with no symlinks beneath `dir_fd`; -1 with ENOSYS when the kernel lacks it."""
    how = _OpenHow(
        flags | os.O_CLOEXEC, 0, _RESOLVE_NO_SYMLINKS | _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS
    )
    fd = _libc.syscall(
        _SYS_OPENAT2, dir_fd, os.fsencode(rel), ctypes.byref(how), ctypes.sizeof(how)
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), rel)
    return int(fd)


def has_openat2() -> bool:
    """Whether the kernel resolves for us (else the descriptor walk is used)."""
    global _openat2_works
    if _openat2_works is None:
        top = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.close(_openat2(top, ".", os.O_RDONLY))
            _openat2_works = True
        except OSError:  # ENOSYS (old kernel), EPERM (a seccomp filter), ...
            _openat2_works = False
        finally:
            os.close(top)
    return _openat2_works


def relative_parts(rel: str | os.PathLike[str]) -> list[str]:
    """The components of a relative path; UnsafePathError for absolute paths and `..`."""
    text = os.fspath(rel)
    if text.startswith("/") or "\0" in text:
        raise UnsafePathError(errno.EINVAL, "expected a relative path below the root", text)
    parts = [p for p in PurePosixPath(text).parts if p != "."]
    if any(p == ".." for p in parts):
        raise UnsafePathError(errno.EINVAL, "'..' is not allowed in a worker's path", text)
    return parts


def open_beneath(
    root: str | os.PathLike[str] | int, rel: str | os.PathLike[str], *, directory: bool = False
) -> int:
    """A read-only descriptor of `root/rel`, no symlink followed in `rel`, opened only if it
    is a directory (`directory=True`) or a regular file. `root` is a trusted folder (a path
    or an open descriptor). Raises UnsafePathError (or OSError: missing, unreadable)."""
    root_fd = root if isinstance(root, int) else os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        parts = relative_parts(rel)
        flags = os.O_RDONLY | os.O_NONBLOCK | (os.O_DIRECTORY if directory else 0)
        try:
            if has_openat2():
                fd = _openat2(root_fd, "/".join(parts) or ".", flags)
            else:
                fd = _walk(root_fd, parts, flags)
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.EXDEV, errno.ENOTDIR):
                raise UnsafePathError(
                    err.errno, "a symlink or non-folder on the way (planted by the job?)",
                    os.fspath(rel),
                ) from None  # fmt: skip
            raise
        info = os.fstat(fd)
        wanted = stat.S_ISDIR if directory else stat.S_ISREG
        if not wanted(info.st_mode):
            os.close(fd)
            kind = "a folder" if directory else "a regular file"
            raise UnsafePathError(errno.EINVAL, f"not {kind}", os.fspath(rel))
        return fd
    finally:
        if not isinstance(root, int):
            os.close(root_fd)


def _walk(root_fd: int, parts: list[str], flags: int) -> int:
    """The descriptor walk: every folder opened with O_NOFOLLOW | O_DIRECTORY from the last."""
    cur = os.dup(root_fd)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=cur)  # fmt: skip
            os.close(cur)
            cur = nxt
        if not parts:
            return os.dup(cur)
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur)
    finally:
        os.close(cur)


def read_beneath(
    root: str | os.PathLike[str] | int, rel: str | os.PathLike[str], max_bytes: int
) -> bytes:
    """The bytes of the regular file `root/rel` (no symlink followed); UnsafePathError when
    it is larger than `max_bytes`."""
    fd = open_beneath(root, rel)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafePathError(errno.EFBIG, f"larger than {max_bytes} bytes", os.fspath(rel))
    return data


def check_name(name: str) -> str:
    """`name` if a copied file or folder may have it, else UnsafePathError."""
    if len(name) > MAX_NAME_CHARS or not NAME_PATTERN.fullmatch(name):
        shown = name[:40].encode("unicode_escape").decode("ascii")
        raise UnsafePathError(
            errno.EINVAL, f"unexpected name {shown!r} (expected letters, digits, _ . + = -)"
        )
    return name


def iter_tree(
    root: str | os.PathLike[str] | int,
    rel: str | os.PathLike[str] = ".",
    max_depth: int = 8,
    skip_unsafe: bool = False,
) -> Iterator[tuple[str, int]]:
    """(relative path, size) of every regular file below `root/rel`, walked by descriptor
    with no symlink followed. A link, a device, a socket, a bad name or folders nested deeper
    than `max_depth` raise UnsafePathError, or are left out with `skip_unsafe`."""
    top = open_beneath(root, rel, directory=True)
    yield from _iter_fd(top, "", max_depth, skip_unsafe)


def _iter_fd(dir_fd: int, prefix: str, depth_left: int, skip: bool) -> Iterator[tuple[str, int]]:
    try:
        with os.scandir(dir_fd) as entries:
            listing = sorted((e.name, e.stat(follow_symlinks=False)) for e in entries)
        for name, info in listing:
            rel = f"{prefix}{name}"
            try:
                check_name(name)
                if stat.S_ISREG(info.st_mode):
                    yield rel, info.st_size
                elif stat.S_ISDIR(info.st_mode):
                    if depth_left <= 0:
                        raise UnsafePathError(errno.ELOOP, "folders nested too deeply", rel)
                    sub = open_beneath(dir_fd, name, directory=True)
                    yield from _iter_fd(sub, rel + "/", depth_left - 1, skip)
                else:
                    what = "a symlink" if stat.S_ISLNK(info.st_mode) else "not a regular file"
                    raise UnsafePathError(errno.ELOOP, f"{what} (planted by the job?)", rel)
            except UnsafePathError:
                if not skip:
                    raise
    finally:
        os.close(dir_fd)


def read_tree(
    root: str | os.PathLike[str],
    rel: str | os.PathLike[str],
    *,
    max_bytes: int,
    max_files: int = 1000,
    skip_unsafe: bool = False,
) -> dict[str, bytes]:
    """{relative path: bytes} of the regular files below `root/rel` (see `iter_tree`), the
    total capped at `max_bytes`."""
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        files = list(iter_tree(root_fd, rel, skip_unsafe=skip_unsafe))
        if len(files) > max_files:
            raise UnsafePathError(errno.EFBIG, f"more than {max_files} files", os.fspath(rel))
        base = "/".join(relative_parts(rel))
        out: dict[str, bytes] = {}
        budget = max_bytes
        for name, _ in files:
            data = read_beneath(root_fd, f"{base}/{name}" if base else name, budget)
            budget -= len(data)
            out[name] = data
        return out
    finally:
        os.close(root_fd)


def copy_tree(
    root: str | os.PathLike[str],
    rel: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    max_bytes: int,
    max_files: int = 1000,
) -> list[str]:
    """Copy the regular files below `root/rel` into the new folder `dest` (which must not
    exist), following no symlink, with names validated and the total size capped; the
    relative names copied. UnsafePathError (and nothing copied) for anything else."""
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        files = list(iter_tree(root_fd, rel))
        if len(files) > max_files:
            raise UnsafePathError(errno.EFBIG, f"more than {max_files} files", os.fspath(rel))
        total = sum(size for _, size in files)
        if total > max_bytes:
            raise UnsafePathError(
                errno.EFBIG, f"{total} bytes, more than the {max_bytes}-byte cap", os.fspath(rel)
            )
        target = Path(dest)
        target.mkdir(parents=True)
        budget = max_bytes
        base = "/".join(relative_parts(rel))
        for name, _ in files:
            out = target / name
            out.parent.mkdir(parents=True, exist_ok=True)
            src = os.fdopen(open_beneath(root_fd, f"{base}/{name}" if base else name), "rb")
            dst_fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with src, os.fdopen(dst_fd, "wb") as dst:
                while chunk := src.read(min(1 << 20, budget + 1)):
                    budget -= len(chunk)
                    if budget < 0:  # grew since it was listed
                        raise UnsafePathError(errno.EFBIG, "grew past the cap", name)
                    dst.write(chunk)
        return [name for name, _ in files]
    finally:
        os.close(root_fd)
