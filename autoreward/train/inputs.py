"""What a container reads of another container's output: parent-made copies, never the
folder itself.

A job with unrestricted Python may have replaced anything in its folder with a symlink
(`train/checkpoint -> ~`, `train/policy -> /`). Binding such a folder, or resolving it, hands
the next container whatever the link names. So before a container starts, the parent copies
the regular files it needs (`sandbox.safepath.copy_tree`: no link followed at any component,
names checked, sizes capped) into `<out>/inputs/<name>/`, a folder only the parent writes,
and binds that copy read-only. A link, a device or an oversized folder is a clear error for
this candidate, not a file of the host.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from autoreward.sandbox.safepath import UnsafePathError, copy_tree, read_beneath
from autoreward.store.atomic import atomic_write_bytes

INPUTS_DIR = "inputs"
MAX_CHECKPOINT_BYTES = 4 * 1024**3
MAX_POLICY_BYTES = 1024**3


class InputCopyError(ValueError):
    """What a container wrote cannot be handed to the next one (a link, a bad name, too big)."""


def input_dir(out: Path, name: str) -> Path:
    """`<out>/inputs/<name>`, emptied (the copy goes there)."""
    path = out / INPUTS_DIR / name
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def copy_folder(folder: Path, dest: Path, max_bytes: int, what: str) -> Path:
    """The regular files of `folder` (its parent is trusted: a folder the parent made or a
    job's bound folder, which the job cannot replace) copied into the new folder `dest`."""
    try:
        copy_tree(folder.parent, folder.name, dest, max_bytes=max_bytes)
    except (UnsafePathError, OSError) as err:
        shutil.rmtree(dest, ignore_errors=True)
        shown = f"{err.filename}: " if err.filename else ""
        raise InputCopyError(
            f"cannot use {what} {folder}: {shown}{err.strerror or err} (a job wrote it; links, "
            "devices and oversized folders are refused)"
        ) from None
    return dest


def copy_file(folder: Path, name: str, dest: Path, max_bytes: int, what: str) -> Path:
    """The regular file `folder/name` (no link followed) copied to `dest`."""
    try:
        atomic_write_bytes(dest, read_beneath(folder, name, max_bytes))
    except (UnsafePathError, OSError) as err:
        raise InputCopyError(f"cannot use {what} {folder / name}: {err.strerror or err}") from None
    return dest


def checkpoint_copy(resume_from: str | Path, out: Path) -> Path:
    """A parent-made copy of the checkpoint folder a job continues (successive halving,
    `resume_from`), in `<out>/inputs/checkpoint`."""
    return copy_folder(Path(resume_from), input_dir(out, "checkpoint"), MAX_CHECKPOINT_BYTES,
                       "the checkpoint")  # fmt: skip


def policy_copy(policy_folder: Path, out: Path) -> Path:
    """A parent-made copy of a training job's `policy/` folder (the evaluation container's
    input), in `<out>/inputs/policy`."""
    return copy_folder(policy_folder, input_dir(out, "policy"), MAX_POLICY_BYTES,
                       "the policy folder")  # fmt: skip
