"""Sandbox v3 (issue 17): binds are an allow-list, and every limit holds per job.

Each test runs UNRESTRICTED Python in the container (`_probe:unrestricted`), so what it
checks is what the operating system refuses, not what the validator catches. Bounded: a few
hundred MB, a few dozen processes. Skipped where no container is possible.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from autoreward.sandbox import container, worker
from autoreward.sandbox.container import BIND_ENV_VAR, python_paths
from autoreward.sandbox.worker import Limits, isolation, run_isolated

PROBE = "autoreward.sandbox._probe:unrestricted"


def _container() -> worker.Isolation:
    mode = isolation()
    if not mode.private_filesystem:
        pytest.skip(f"no container here (mode {mode.name}); install bubblewrap")
    return mode


def _limits(**kw: object) -> Limits:
    base = {"cpu_seconds": 30, "address_space_mb": 2048, "file_size_mb": 64,
            "max_processes": 24, "wall_seconds": 60, "disk_quota_mb": 256}  # fmt: skip
    return Limits(**{**base, **kw})  # type: ignore[arg-type]


def _run(
    code: str, limits: Limits | None = None, workdir: Path | None = None
) -> worker.WorkerResult:
    return run_isolated(PROBE, {"code": textwrap.dedent(code)}, limits or _limits(), workdir)


# --------------------------------------------------------------------------- binds


def test_binds_are_an_allow_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver script's folder, the current directory and PYTHONPATH entries are no longer
    bound (a `.env` beside a user's script was read); `--sandbox-bind` names one explicitly."""
    _container()
    driver = tmp_path / "scripts"
    driver.mkdir()
    (driver / ".env").write_text("OPENAI_API_KEY=sk-beside-the-script")
    pythonpath = tmp_path / "pp"
    pythonpath.mkdir()
    (pythonpath / ".env").write_text("TOKEN=sk-on-pythonpath")
    monkeypatch.syspath_prepend(str(pythonpath))
    monkeypatch.syspath_prepend(str(driver))
    monkeypatch.chdir(driver)
    monkeypatch.delenv(BIND_ENV_VAR, raising=False)
    bound = python_paths()
    assert driver not in bound and pythonpath not in bound
    code = f"""
        import os
        result = {{p: os.path.exists(p) for p in [{str(driver / ".env")!r}, {str(pythonpath / ".env")!r}]}}
    """
    res = _run(code)
    assert res.ok, res
    assert res.value == {str(driver / ".env"): False, str(pythonpath / ".env"): False}
    monkeypatch.setenv(BIND_ENV_VAR, str(driver))
    assert driver in container.python_paths()
    res = _run(code)
    assert res.ok and res.value is not None
    assert res.value[str(driver / ".env")] is True  # named by the user: bound (read-only)


# --------------------------------------------------------------------------- memory and disk


def test_tmpfs_is_inside_the_memory_budget() -> None:
    """/tmp and /dev/shm were tmpfs mounts of half the machine's RAM: a job under a 1 GiB
    limit stored 2 GB there. Now each holds an eighth of the job's memory limit."""
    _container()
    code = """
        import os
        written = {}
        for folder in ("/tmp", "/dev/shm"):
            n = 0
            try:
                with open(os.path.join(folder, "fill"), "wb") as fh:
                    for _ in range(300):  # up to 300 MB
                        fh.write(b"x" * 2**20)
                        fh.flush()
                        n += 1
            except OSError as err:
                written[folder + " error"] = err.errno
            written[folder] = n
            if os.path.exists(os.path.join(folder, "fill")):
                os.unlink(os.path.join(folder, "fill"))
        result = written
    """
    res = _run(code, _limits(address_space_mb=1024, file_size_mb=512))
    assert res.ok, res
    assert res.value is not None
    assert res.value["/tmp"] <= 1024 // 8 + 1 and res.value["/dev/shm"] <= 1024 // 8 + 1
    assert res.value["/tmp error"] == 28  # ENOSPC


def test_the_disk_quota_stops_the_job_with_a_reason(tmp_path: Path) -> None:
    """The writable folder had no total quota (2 GB written); now the job is stopped."""
    _container()
    code = """
        import time
        for i in range(6):  # 6 x 30 MB, each file under the 64 MB file-size limit
            with open(f"part{i}.bin", "wb") as fh:
                fh.write(b"x" * 30 * 2**20)
        time.sleep(30)
        result = {"stopped": False}
    """
    out = tmp_path / "out"
    res = _run(code, _limits(disk_quota_mb=64, file_size_mb=32 + 1), workdir=out)
    assert not res.ok
    assert res.status == "killed"
    assert "disk quota of 64 MB exceeded" in res.reason
    assert res.wall_s < 25


# --------------------------------------------------------------------------- processes


def test_the_process_limit_is_per_job() -> None:
    """RLIMIT_NPROC counted every process of uid nobody on the machine, so one job holding its
    quota starved the others. Each job now has a uid of its own (parent as root)."""
    mode = _container()
    if not mode.switch_uid:
        pytest.skip("a uid per job needs the parent to run as root (see README, 'Sandbox')")
    hold = """
        import os, time
        kids = []
        for _ in range(40):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(20)
                os._exit(0)
            kids.append(pid)
        open(payload["flag"], "w").close()
        time.sleep(12)
        result = {"held": len(kids)}
    """
    results: dict[str, worker.WorkerResult] = {}
    workdir = Path(tempfile.mkdtemp(prefix="autoreward-hold-"))
    flag = workdir / "flag"
    limits = _limits(max_processes=20)

    def holder() -> None:
        results["a"] = run_isolated(
            PROBE, {"code": textwrap.dedent(hold), "flag": str(flag)}, limits, workdir
        )

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        deadline = time.monotonic() + 40
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert flag.exists(), "the first job never reached its process limit"
        count = """
            import os
            n = 0
            for _ in range(40):
                try:
                    pid = os.fork()
                except OSError:
                    break
                if pid == 0:
                    os._exit(0)
                os.waitpid(pid, 0)
                n += 1
            result = {"forked": n}
        """
        res = _run(count, limits)
    finally:
        thread.join()
        shutil.rmtree(workdir, ignore_errors=True)
    assert results["a"].ok and results["a"].value is not None
    assert results["a"].value["held"] < 40  # the first job hit its own limit
    assert res.ok and res.value is not None
    assert res.value["forked"] == 40  # ... and the second did not feel it


# --------------------------------------------------------------------------- the supervisor


def test_the_job_cannot_ptrace_or_signal_its_supervisor() -> None:
    """The job could ptrace its supervisor (same uid, dumpable) and forge its status."""
    mode = _container()
    code = """
        import ctypes, os, signal
        libc = ctypes.CDLL(None, use_errno=True)
        sup = os.getppid()
        out = {"ptrace": libc.ptrace(16, sup, 0, 0), "ptrace_errno": ctypes.get_errno()}
        try:
            os.kill(sup, 0)
            out["signal"] = "allowed"
        except PermissionError:
            out["signal"] = "denied"
        try:
            os.listdir(f"/proc/{sup}/fd")
            out["fds"] = "readable"
        except PermissionError:
            out["fds"] = "denied"
        result = out
    """
    res = _run(code)
    assert res.ok, res
    assert res.value is not None
    assert res.value["ptrace"] == -1 and res.value["ptrace_errno"] == 1  # EPERM
    assert res.value["fds"] == "denied"
    if mode.switch_uid:  # a uid of its own: no signal either (same uid otherwise: README)
        assert res.value["signal"] == "denied"


def test_a_job_cannot_forge_the_supervisors_report() -> None:
    """The supervisor's status lived in exit.json in the job's writable folder; now it comes
    back on a pipe the job never holds. A job that writes a fake exit.json and then hangs in
    a reward call is still reported by the watchdog."""
    _container()
    code = """
        import json, os, sys, time
        from autoreward.sandbox import watchdog
        jobdir = os.environ["HOME"].rsplit("/", 1)[0]
        fake = {"wait_status": 0, "cpu_seconds": 0.0, "maxrss_kb": 0, "watchdog_step": None}
        with open(os.path.join(jobdir, "exit.json"), "w") as fh:
            json.dump(fake, fh)
        with watchdog.reward_call(7):
            time.sleep(30)
        result = {}
    """
    res = _run(code, _limits(reward_call_seconds=1.0))
    assert not res.ok
    assert "reward call exceeded 1 s at step 7" in res.reason


def test_sandbox_bind_option_names_a_folder_and_refuses_project_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from autoreward.cli import app

    monkeypatch.setenv(BIND_ENV_VAR, "")  # restored (unset) after the test
    runner = CliRunner()
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text("")
    res = runner.invoke(app, ["--sandbox-bind", str(project), "--version"])
    assert res.exit_code == 0  # --version is eager: nothing else is applied
    res = runner.invoke(app, ["--sandbox-bind", str(project), "envs", "list"])
    assert res.exit_code != 0 and "never bound whole" in res.output
    lib = tmp_path / "mylib"
    lib.mkdir()
    res = runner.invoke(app, ["--sandbox-bind", str(lib), "envs", "list"])
    assert res.exit_code == 0, res.output
    assert os.environ[BIND_ENV_VAR] == str(lib.resolve())
