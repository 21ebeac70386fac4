"""The one no-follow helper: nothing below a trusted root is reached through a planted link."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoreward.sandbox import safepath
from autoreward.sandbox.safepath import UnsafePathError, copy_tree, iter_tree, read_beneath
from autoreward.sandbox.untrusted import UntrustedDataError, read_capped


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test runs with the kernel's resolver and with the descriptor walk."""
    if request.param == "openat2" and not safepath.has_openat2():
        pytest.skip("openat2 is not available here")
    monkeypatch.setattr(safepath, "_openat2_works", request.param == "openat2")
    yield request.param


def _job_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A job's folder with a secret outside it, and links to the secret planted three ways."""
    secret = tmp_path / "home"
    secret.mkdir()
    (secret / ".env").write_text("OPENAI_API_KEY=sk-secret")
    job = tmp_path / "job"
    (job / "policy").mkdir(parents=True)
    (job / "policy" / "final.npz").write_bytes(b"weights")
    (job / "checkpoint").symlink_to(secret)  # a whole folder replaced by a link
    (job / "policy" / "leak.npz").symlink_to(secret / ".env")  # a file replaced by a link
    (job / "nested").mkdir()
    (job / "nested" / "up").symlink_to(tmp_path)  # a link in the middle of a path
    return job, secret


def test_a_link_at_any_component_is_refused(tmp_path: Path, resolver: str) -> None:
    job, _ = _job_folder(tmp_path)
    assert read_beneath(job, "policy/final.npz", 100) == b"weights"
    for rel in ("checkpoint/.env", "policy/leak.npz", "nested/up/home/.env", "../home/.env"):
        with pytest.raises(UnsafePathError):
            read_beneath(job, rel, 100)
    with pytest.raises(UnsafePathError, match="larger than"):
        read_beneath(job, "policy/final.npz", 3)


def test_read_capped_refuses_a_linked_folder_on_the_way(tmp_path: Path, resolver: str) -> None:
    job, _ = _job_folder(tmp_path)
    # The old read_capped used O_NOFOLLOW on the last component only: this read the secret.
    with pytest.raises(UntrustedDataError, match="planted"):
        read_capped(job / "checkpoint" / ".env", 1000, root=job)
    assert read_capped(job / "policy" / "final.npz", 1000, root=job) == b"weights"


def test_fifos_and_devices_are_not_regular_files(tmp_path: Path, resolver: str) -> None:
    job, _ = _job_folder(tmp_path)
    os.mkfifo(job / "pipe")
    with pytest.raises(UnsafePathError, match="regular file"):
        read_beneath(job, "pipe", 10)
    with pytest.raises(UnsafePathError):
        list(iter_tree(job, "."))


def test_copy_tree_copies_regular_files_only_and_all_or_nothing(
    tmp_path: Path, resolver: str
) -> None:
    job, _ = _job_folder(tmp_path)
    (job / "policy" / "leak.npz").unlink()
    copied = copy_tree(job, "policy", tmp_path / "copy", max_bytes=1000)
    assert copied == ["final.npz"]
    assert (tmp_path / "copy" / "final.npz").read_bytes() == b"weights"
    with pytest.raises(UnsafePathError):
        copy_tree(job, "checkpoint", tmp_path / "copy2", max_bytes=1000)
    (job / "policy" / "sub").mkdir()
    (job / "policy" / "sub" / "x").symlink_to(tmp_path / "home" / ".env")
    with pytest.raises(UnsafePathError, match="symlink"):
        copy_tree(job, "policy", tmp_path / "copy3", max_bytes=1000)
    assert not (tmp_path / "copy3").exists()
    with pytest.raises(UnsafePathError, match="'..' is not allowed"):
        copy_tree(job, "nested/..", tmp_path / "copy4", max_bytes=1000)


def test_names_and_total_size_are_checked(tmp_path: Path, resolver: str) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "big.bin").write_bytes(b"x" * 2000)
    with pytest.raises(UnsafePathError, match="cap"):
        copy_tree(root, ".", tmp_path / "c1", max_bytes=1000)
    (root / "big.bin").unlink()
    (root / "\x1b]52;c;aGk=\x07").write_text("x")
    with pytest.raises(UnsafePathError, match="unexpected name"):
        copy_tree(root, ".", tmp_path / "c2", max_bytes=1000)
