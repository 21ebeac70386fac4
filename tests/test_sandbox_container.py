"""The container holds when the code inside has unrestricted Python.

`autoreward.sandbox._probe:unrestricted` runs arbitrary code inside the worker, bypassing the
validator and the restricted loader on purpose: these tests assume the escape and check what
the operating system still refuses (secrets, the host filesystem, the network, the parent's
environment), and that the parent reads what such a worker wrote only as capped, validated
data. Skipped where no container is possible (the README says what each mode protects).
"""

from __future__ import annotations

import json
import os
import socket
import textwrap
import uuid
from pathlib import Path

import pytest

from autoreward.sandbox import worker
from autoreward.sandbox.container import ContainerSpec, bwrap_argv, python_paths
from autoreward.sandbox.untrusted import (
    UntrustedDataError,
    clean_text,
    load_npz,
    read_json,
)
from autoreward.sandbox.worker import Limits, isolation, run_isolated

PROBE = "autoreward.sandbox._probe:"
LIMITS = Limits(
    cpu_seconds=20, address_space_mb=2048, file_size_mb=8, max_processes=32, wall_seconds=60
)


def _container() -> worker.Isolation:
    mode = isolation()
    if not mode.private_filesystem:
        pytest.skip(f"no container here (mode {mode.name}); install bubblewrap")
    return mode


def _unrestricted(code: str, workdir: Path | None = None, **payload: object) -> dict:
    res = run_isolated(
        PROBE + "unrestricted",
        {"code": textwrap.dedent(code), **payload},
        LIMITS,
        workdir=workdir,
    )
    assert res.ok and res.value is not None, (res.status, res.reason, res.stderr_tail[-2000:])
    return res.value


# --------------------------------------------------------------------------- the policy


def test_the_command_line_is_the_policy(tmp_path: Path) -> None:
    out = tmp_path / "run" / "iter_0" / "cand_0" / "train"
    spec = ContainerSpec(ro=python_paths(), rw=[out], env={"PATH": "/usr/bin"})
    argv = bwrap_argv("bwrap", spec, ["python", "-c", "pass"])
    assert "--die-with-parent" in argv and "--new-session" in argv and "--clearenv" in argv
    if os.geteuid() == 0:
        assert "--unshare-net" in argv and "--unshare-pid" in argv and "--cap-drop" in argv
        assert argv[argv.index("--cap-drop") + 1] == "ALL"
    else:
        assert "--unshare-all" in argv and "--share-net" not in argv
    size = str(spec.tmp_mb * 1024 * 1024)
    assert ["--perms", "1777", "--size", size, "--tmpfs", "/tmp"] == argv[
        argv.index("/tmp") - 5 : argv.index("/tmp") + 1
    ]
    # The only writable binds are the ones asked for; the run directory itself is not bound.
    writable = [argv[i + 1] for i, a in enumerate(argv) if a == "--bind"]
    assert writable == [str(out)]
    bound = [argv[i + 1] for i, a in enumerate(argv) if a == "--ro-bind"]
    assert not any(b.startswith(str(tmp_path)) for b in bound)
    # The project root (holding runs/, .env files) is never bound whole, only the package.
    root = Path(__file__).resolve().parents[1]
    assert str(root) not in bound
    assert str(root / "autoreward") in bound
    assert argv[-3:] == ["python", "-c", "pass"] and argv[-4] == "--"


def test_network_is_only_shared_when_asked() -> None:
    spec = ContainerSpec(network=True)
    argv = bwrap_argv("bwrap", spec, ["true"])
    assert "--unshare-net" not in argv
    if os.geteuid() != 0:
        assert "--share-net" in argv


# --------------------------------------------------------------------------- assume the escape


def test_unrestricted_code_cannot_read_secrets_outside(tmp_path: Path) -> None:
    _container()
    secret = tmp_path / "secret.txt"
    secret.write_text("sk-top-secret")
    secret.chmod(0o644)  # readable by anyone on the host: only the container hides it
    run = tmp_path / "run"
    (run / "llm").mkdir(parents=True)
    (run / "config.yaml").write_text("fitness: hidden\n")
    (run / "llm" / "1_designer.answer.md").write_text("answer")
    work = run / "iter_0" / "cand_0" / "train"
    work.mkdir(parents=True)
    sibling = run / "iter_0" / "cand_1"
    sibling.mkdir(parents=True)
    (sibling / "eval.json").write_text("{}")
    code = """
    import os
    result = {}
    for name in payload["paths"]:
        try:
            with open(name) as fh:
                result[name] = "READ: " + fh.read()[:20]
        except OSError as err:
            result[name] = type(err).__name__
    result["listing"] = sorted(os.listdir(payload["run"]))
    """
    paths = [str(secret), str(run / "config.yaml"), str(run / "llm" / "1_designer.answer.md"),
             str(sibling / "eval.json"), "/etc/shadow", str(Path.home() / ".bashrc"),
             str(Path(__file__).resolve().parents[1] / "pyproject.toml")]  # fmt: skip
    found = _unrestricted(code, workdir=work, paths=paths, run=str(run))
    for name in paths:
        assert not str(found[name]).startswith("READ"), f"{name} was readable: {found[name]}"
    # Only the path down to its own folder exists in there.
    assert found["listing"] == ["iter_0"]


def test_unrestricted_code_cannot_write_outside_its_folder(tmp_path: Path) -> None:
    _container()
    work = tmp_path / "cand_0" / "train"
    work.mkdir(parents=True)
    marker = f"planted-{uuid.uuid4().hex[:8]}"
    import autoreward

    targets = {
        "own": str(work / "ok.txt"),
        "parent": str(work.parent / "eval.json"),
        "package": str(Path(autoreward.__file__).parent / f"{marker}.py"),
        "site": str(Path(os.__file__).parent / f"{marker}.pth"),
        "host_tmp": f"/tmp/{marker}",
        "usr": f"/usr/{marker}",
    }
    code = """
    result = {}
    for key, name in payload["targets"].items():
        try:
            with open(name, "w") as fh:
                fh.write("x")
            result[key] = "written"
        except OSError as err:
            result[key] = type(err).__name__
    """
    found = _unrestricted(code, workdir=work, targets=targets)
    assert found["own"] == "written" and (work / "ok.txt").read_text() == "x"
    assert found["parent"] != "written" and not (work.parent / "eval.json").exists()
    assert found["package"] != "written" and found["site"] != "written"
    assert found["usr"] != "written"
    # /tmp inside is private: whatever was written there never reaches the host's /tmp.
    assert not Path(targets["host_tmp"]).exists()
    assert not Path(targets["package"]).exists() and not Path(targets["site"]).exists()


def test_unrestricted_code_cannot_reach_the_parents_environment_or_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _container()
    secret = f"sk-fake-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = """
        import os, socket
        seen = dict(os.environ)
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    seen[pid] = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
                except OSError:
                    pass
        try:
            socket.create_connection(("127.0.0.1", payload["port"]), timeout=2).close()
            reached = True
        except OSError:
            reached = False
        result = {"seen": seen, "reached": reached, "parent": os.getppid()}
        """
        found = _unrestricted(code, port=port)
    assert secret not in json.dumps(found["seen"])
    assert found["reached"] is False


def test_symlinks_and_huge_files_a_worker_leaves_are_not_followed_or_read(tmp_path: Path) -> None:
    _container()
    work = tmp_path / "out"
    work.mkdir()
    code = """
    import os
    os.symlink("/etc/shadow", "eval.json")
    with open("big.json", "w") as fh:
        fh.write("[" + "1," * 3_000_000 + "1]")
    with open("bomb.npz", "wb") as fh:
        fh.write(b"PK\\x03\\x04 not a real archive")
    result = {"ok": True}
    """
    _unrestricted(code, workdir=work)
    assert (work / "eval.json").is_symlink()
    with pytest.raises(UntrustedDataError, match="planted by the job"):
        read_json(work / "eval.json")
    with pytest.raises(UntrustedDataError, match="larger than 1 MiB"):
        read_json(work / "big.json", max_bytes=1024 * 1024)
    with pytest.raises(UntrustedDataError, match="not a valid pickle-free .npz"):
        load_npz(work / "bomb.npz")


def test_text_from_a_worker_is_cut_and_loses_terminal_escapes() -> None:
    text = clean_text("[red]boom\x1b]0;pwned\x07\x1b[2J" + "x" * 10_000, limit=100)
    assert "\x1b" not in text and "\x07" not in text
    assert text.startswith("[red]boomxxx") and "characters cut]" in text
    assert len(text) < 140


# --------------------------------------------------------------------------- limits inside


def test_output_flood_is_capped_in_the_log() -> None:
    res = run_isolated(PROBE + "flood", {"mb": 8}, LIMITS)
    assert res.ok, res.reason
    assert len(res.stderr_tail) <= worker.TAIL_CHARS
    assert "THE-END" in res.stderr_tail


def test_the_capped_log_keeps_a_head_and_a_tail() -> None:
    import io

    from autoreward.sandbox.child import _CappedLog

    out = io.BytesIO()
    log = _CappedLog(out, head=1000, tail=500)
    for i in range(10_000):
        log.feed(f"line {i:06d}\n".encode())
    log.close()
    text = out.getvalue().decode()
    assert text.startswith("line 000000\n") and text.endswith("line 009999\n")
    assert "bytes of output cut]" in text and len(text) < 1000 + 500 + 100


@pytest.mark.parametrize("in_c", [False, True], ids=["python-loop", "inside-one-C-call"])
def test_watchdog_ends_a_hung_reward_call_within_seconds(in_c: bool) -> None:
    limits = LIMITS.model_copy(update={"reward_call_seconds": 1.0, "wall_seconds": 120})
    res = run_isolated(PROBE + "hang_in_reward_call", {"step": 150, "in_c": in_c}, limits)
    assert res.status == "error"
    assert res.reason.startswith("reward call exceeded 1 s at step 150"), res.reason
    assert res.wall_s < 30


def test_the_heartbeat_is_never_read_torn() -> None:
    """The supervisor reads the heartbeat while the job writes it: a read in the middle of a
    write must not look like a call that started at time 0 (a real spurious 'reward call
    exceeded 5 s' for a microsecond reward on a loaded machine)."""
    import os
    import time

    from autoreward.sandbox.watchdog import Heartbeat

    beat = Heartbeat()
    pid = os.fork()
    if pid == 0:  # the job: calls as fast as it can
        t_end = time.monotonic() + 2.0
        step = 0
        while time.monotonic() < t_end:
            beat.begin(step)
            beat.end()
            step += 1
        os._exit(0)
    # Torn reads, judged by what was read, not by timing (a reader descheduled for a second
    # on a busy machine sees a genuinely long call): begin() writes (1, t > 0, step) and end()
    # writes (0, 0.0, 0), so any other mix was read in the middle of a write.
    torn = reads = 0
    t_end = time.monotonic() + 2.0
    while time.monotonic() < t_end:
        snap = beat.snapshot()
        if snap is None:
            continue
        reads += 1
        in_call, started, step = snap
        if (in_call == 1 and started <= 0.0) or (in_call == 0 and (started, step) != (0.0, 0)):
            torn += 1
    os.waitpid(pid, 0)
    assert reads > 0 and torn == 0
    beat.begin(7)
    assert beat.overdue(0.0) == 7 and beat.overdue(60.0) is None
    beat.end()
    assert beat.overdue(0.0) is None
