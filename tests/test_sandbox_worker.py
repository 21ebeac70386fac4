"""The isolated worker holds on its own: raw, unvalidated Python (`autoreward.sandbox._probe`)
is contained, and every way a job can end comes back as a structured result."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoreward.errors import WorkerError
from autoreward.sandbox import worker
from autoreward.sandbox.worker import Limits, isolation, run_isolated, scrub_environment

PROBE = "autoreward.sandbox._probe:"
SMALL = Limits(
    cpu_seconds=2, address_space_mb=1024, file_size_mb=4, max_processes=16, wall_seconds=20
)


def _mode_available(mode: str) -> str | None:
    """None when `mode` works on this machine, else why not."""
    old = os.environ.get(worker.MODE_ENV_VAR)
    os.environ[worker.MODE_ENV_VAR] = mode
    try:
        isolation()
        return None
    except WorkerError as err:
        return str(err)
    finally:
        if old is None:
            del os.environ[worker.MODE_ENV_VAR]
        else:
            os.environ[worker.MODE_ENV_VAR] = old


def _processes_named(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture
def marker() -> Iterator[str]:
    name = f"arbomb-{uuid.uuid4().hex[:12]}"
    yield name
    for pid in _processes_named(name):  # only ever processes this test started
        try:
            os.kill(pid, 9)
        except OSError:
            pass


# --------------------------------------------------------------------------- environment


def test_scrub_environment_keeps_the_allow_list_minus_credentials() -> None:
    env = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "OMP_NUM_THREADS": "1",
        "MUJOCO_GL": "egl",
        "OPENAI_API_KEY": "sk-x",
        "HF_TOKEN": "hf",
        "openai_api_key": "sk-y",
        "MY_PASSWORD": "p",
        "AWS_REGION": "eu",
        "GOOGLE_APPLICATION_CREDENTIALS": "/k.json",
        "https_proxy": "http://p",
        "OMP_SECRET": "s",
        "HOME": "/root",
        "USER": "root",
        "RANDOM_VAR": "1",
    }
    assert scrub_environment(env) == {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "OMP_NUM_THREADS": "1",
        "MUJOCO_GL": "egl",
    }


def test_extra_variables_that_look_like_credentials_are_refused() -> None:
    with pytest.raises(WorkerError, match="refusing to pass 'WANDB_API_KEY' to a worker"):
        run_isolated(PROBE + "echo", {}, SMALL, env={"WANDB_API_KEY": "x"})


@pytest.mark.parametrize(
    "target", ["os:system", "autoreward.sandbox._probe", "autoreward_x.y:z", "x.autoreward.y:z"]
)
def test_targets_outside_the_package_are_refused(target: str) -> None:
    with pytest.raises(
        WorkerError, match="worker target must look like 'autoreward.module:function'"
    ):
        run_isolated(target, {}, SMALL)


def test_unknown_sandbox_mode_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(worker.MODE_ENV_VAR, "docker")
    with pytest.raises(WorkerError, match="AUTOREWARD_SANDBOX='docker' is not a sandbox mode"):
        isolation()


# --------------------------------------------------------------------------- outcomes


def test_ok_round_trip_with_scrubbed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake")
    res = run_isolated(PROBE + "echo", {"x": [1, 2.5, "a"]}, SMALL, env={"OMP_NUM_THREADS": "1"})
    assert res.ok and res.status == "ok", res
    assert res.value is not None and res.value["payload"] == {"x": [1, 2.5, "a"]}
    env = res.value["env"]
    assert "ANTHROPIC_API_KEY" not in env and env["OMP_NUM_THREADS"] == "1"
    assert env["HOME"].startswith(env["TMPDIR"].rsplit("/", 1)[0])
    assert res.isolation.startswith(isolation().name)
    assert res.wall_s > 0


def test_child_runs_without_capabilities_or_new_privileges() -> None:
    res = run_isolated(PROBE + "ping", {}, SMALL)
    assert res.value is not None
    assert res.value["cap_eff"] == 0 and res.value["no_new_privs"]


def test_exception_reports_message_and_traceback() -> None:
    res = run_isolated(PROBE + "fail", {"message": "boom"}, SMALL)
    assert (res.ok, res.status, res.reason) == (False, "error", "ValueError: boom")
    assert "_probe.py" in res.traceback and "raise ValueError" in res.traceback


def test_wall_clock_timeout_kills_the_job() -> None:
    res = run_isolated(
        PROBE + "sleep", {"seconds": 60}, SMALL.model_copy(update={"wall_seconds": 1})
    )
    assert res.status == "timeout"
    assert res.reason.startswith("wall-clock timeout after 1 s")
    assert res.wall_s < 30


@pytest.mark.parametrize("in_c", [False, True], ids=["python-loop", "inside-one-C-call"])
def test_cpu_limit_kills_a_busy_loop(in_c: bool) -> None:
    res = run_isolated(PROBE + "spin", {"in_c": in_c}, SMALL.model_copy(update={"cpu_seconds": 1}))
    assert res.status == "killed"
    assert res.reason.startswith("CPU-time limit of 1 s exceeded")


def test_address_space_limit_turns_a_huge_allocation_into_memory() -> None:
    res = run_isolated(PROBE + "allocate", {"bytes": 10 * 1024**3}, SMALL)
    assert res.status == "memory"
    assert "MemoryError" in res.reason and "address-space limit 1024 MB" in res.reason


def test_file_size_limit_stops_a_big_write(tmp_path: Path) -> None:
    res = run_isolated(PROBE + "write_file", {"name": "big.bin", "mb": 50}, SMALL, workdir=tmp_path)
    assert res.status == "error" and "File too large" in res.reason
    assert (tmp_path / "big.bin").stat().st_size <= 4 * 1024 * 1024


def test_native_crash_is_reported_not_raised() -> None:
    res = run_isolated(PROBE + "abort", {}, SMALL)
    assert (res.status, res.reason) == ("crashed", "worker crashed with SIGABRT")


def test_results_must_be_json_dicts() -> None:
    res = run_isolated(PROBE + "not_a_dict", {}, SMALL)
    assert res.status == "error" and "returned list, expected a dict" in res.reason
    res = run_isolated(PROBE + "not_json", {}, SMALL)
    assert res.status == "error" and "not JSON" in res.reason


def test_workdir_is_the_childs_cwd_and_stays_ours(tmp_path: Path) -> None:
    res = run_isolated(
        PROBE + "write_file", {"name": "out.bin", "mb": 1}, SMALL, workdir=tmp_path / "w"
    )
    assert res.ok, res
    out = tmp_path / "w" / "out.bin"
    assert out.stat().st_size == 1024 * 1024
    assert (out.stat().st_uid, (tmp_path / "w").stat().st_uid) == (os.getuid(), os.getuid())


# --------------------------------------------------------------------------- processes


def test_fork_bomb_is_capped_and_cleaned_up(marker: str) -> None:
    iso = isolation()
    payload = {"marker": marker, "tries": 1000, "setsid": iso.pid_namespace}
    res = run_isolated(PROBE + "fork_bomb", payload, SMALL)
    assert res.ok, res
    assert res.value is not None
    # RLIMIT_NPROC (or, for uid 0 in a user namespace, the namespace's pid_max) stops it.
    assert res.value["forked"] < 1000
    assert "Resource temporarily unavailable" in res.value["error"]
    assert _processes_named(marker) == []


def test_endless_fork_bomb_that_escapes_its_session_dies_with_the_namespace(marker: str) -> None:
    if not isolation().pid_namespace:
        pytest.skip("no PID namespace here: processes that call setsid() escape (documented)")
    payload = {"marker": marker, "forever": True, "setsid": True}
    res = run_isolated(PROBE + "fork_bomb", payload, SMALL.model_copy(update={"wall_seconds": 3}))
    assert res.status in ("timeout", "killed"), res
    # The kernel tears the namespace down asynchronously once its PID 1 is gone: allow it a
    # moment (containment, not speed, is what this test is about).
    deadline = time.monotonic() + 5
    while _processes_named(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_named(marker) == []


def test_no_network_unless_asked() -> None:
    iso = isolation()
    if not iso.net_namespace:
        pytest.skip(f"no network namespace in mode {iso.name} (documented)")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        res = run_isolated(PROBE + "connect", {"host": "127.0.0.1", "port": port}, SMALL)
        # The worker's 127.0.0.1 is its own loopback (down, or up with nothing listening).
        assert res.value is not None and res.value["connected"] is False, res
        assert any(
            e in res.value["error"] for e in ("Network is unreachable", "Connection refused")
        ), res.value
        res = run_isolated(PROBE + "ping", {}, SMALL)
        assert res.value is not None and res.value["interfaces"] == ["lo"]
        allowed = SMALL.model_copy(update={"network": True})
        res = run_isolated(PROBE + "connect", {"host": "127.0.0.1", "port": port}, allowed)
        assert res.value is not None and res.value["connected"] is True


# --------------------------------------------------------------------------- secrets

_DRIVER = textwrap.dedent(
    """
    import json, os, subprocess, sys
    from autoreward.sandbox.worker import Limits, run_isolated
    # A sibling process of the same user that also holds the key (like the user's shell).
    sibling = subprocess.Popen(["sleep", "60"], env=dict(os.environ))
    try:
        res = run_isolated(
            "autoreward.sandbox._probe:environ_probe",
            {"parent_pids": [os.getpid(), os.getppid(), sibling.pid]},
            Limits(cpu_seconds=10, address_space_mb=1024, file_size_mb=4, max_processes=16,
                   wall_seconds=30),
        )
    finally:
        sibling.kill()
    print(json.dumps({"result": res.model_dump(), "parent": os.getpid(), "sibling": sibling.pid}))
    """
)


def _leaks(routes: dict, secret: str) -> list[str]:
    """Routes whose digest shows the key's name or value."""
    digest = hashlib.sha256(secret.encode()).hexdigest()
    found = []

    def visit(name: str, node: object) -> None:
        if isinstance(node, dict) and "names" in node:
            if "OPENAI_API_KEY" in node["names"] or digest in node["value_sha256"]:
                found.append(name)
        elif isinstance(node, dict):
            for key, sub in node.items():
                visit(f"{name} {key}", sub)

    for name, node in routes.items():
        visit(name, node)
    return found


@pytest.mark.parametrize("mode", worker.MODES)
def test_a_child_cannot_read_the_parents_api_key_by_any_route(mode: str) -> None:
    why = _mode_available(mode)
    if why is not None:
        pytest.skip(f"mode {mode} not available here: {why}")
    secret = f"sk-fake-{uuid.uuid4().hex}"
    env = {**os.environ, "OPENAI_API_KEY": secret, worker.MODE_ENV_VAR: mode}
    # The key is in the driver's exec-time environment, i.e. in its /proc/<pid>/environ.
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    res = out["result"]
    assert res["status"] == "ok", res["reason"]
    assert secret not in json.dumps(res)
    routes = res["value"]["routes"]
    # The probe works: it read its own (scrubbed) environment and scanned /proc.
    assert "PATH" in routes["/proc/self/environ"]["names"]
    assert any(isinstance(v, dict) for v in routes["scan"].values())
    assert not routes["umount /proc"].startswith("succeeded")
    parent_route = routes[f"/proc/{out['parent']}/environ (host pid)"]
    assert isinstance(parent_route, str), "the parent's environment was readable"
    leaks = _leaks(routes, secret)
    if mode == "none":
        # Documented gap: without namespaces only the parent is shielded (non-dumpable);
        # another process of the same user that holds the key stays readable.
        assert all(str(out["sibling"]) in leak for leak in leaks), leaks
        return
    assert leaks == [], f"the API key is visible to the worker through {leaks}"


def test_key_set_in_the_parent_process_itself_is_not_visible(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = f"sk-fake-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    res = run_isolated(PROBE + "environ_probe", {"parent_pids": [os.getpid()]}, SMALL)
    assert res.ok and res.value is not None, res
    assert _leaks(res.value["routes"], secret) == []
