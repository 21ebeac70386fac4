"""Diagnostics targets for the isolated worker: raw, UNVALIDATED Python.

These functions are what a hostile program would do if it got past the static check and the
restricted builtins. The tests run them through `run_isolated` to prove that the worker layer
holds on its own (secrets, processes, network, CPU, memory, files), and `worker.py` uses
`ping` to find out which isolation the machine allows. Nothing else should call them; never
point a worker at them with untrusted input.
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import os
import socket
import time
from pathlib import Path
from typing import Any

_MNT_DETACH = 2


def ping(payload: dict[str, Any]) -> dict[str, Any]:
    """Who and where the worker is: pid, uids, capabilities, network interfaces."""
    status = Path("/proc/self/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    return {
        "pid": os.getpid(),
        "init_cmdline": _read("/proc/1/cmdline"),
        "uid": os.getuid(),
        "euid": os.geteuid(),
        "cap_eff": int(fields["CapEff"].strip(), 16),
        "no_new_privs": fields.get("NoNewPrivs", "").strip() == "1",
        "interfaces": sorted(name for _, name in socket.if_nameindex()),
        "home": os.environ.get("HOME"),
        "cwd": os.getcwd(),
        "canary_visible": bool(payload.get("canary")) and os.path.exists(payload["canary"]),
    }


def echo(payload: dict[str, Any]) -> dict[str, Any]:
    return {"payload": payload, "env": dict(os.environ)}


def _read(path: str) -> str:
    try:
        return Path(path).read_bytes().replace(b"\0", b"\n").decode(errors="replace")
    except OSError as err:
        return f"<{type(err).__name__}: {err.strerror}>"


def _digest_environ(text: str) -> dict[str, Any] | str:
    """Variable names and sha256 of each value: enough to spot a planted key without
    copying anyone's environment out of the sandbox."""
    if text.startswith("<"):
        return text
    names, hashes = [], []
    for line in text.splitlines():
        name, _, value = line.partition("=")
        names.append(name)
        hashes.append(hashlib.sha256(value.encode()).hexdigest())
    return {"names": names, "value_sha256": hashes}


def _scan_proc() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found[f"/proc/{entry.name}/environ"] = _digest_environ(_read(f"{entry}/environ"))
            try:
                for task in (entry / "task").iterdir():
                    found[f"{task}/environ"] = _digest_environ(_read(f"{task}/environ"))
            except OSError:
                continue
    return found


def environ_probe(payload: dict[str, Any]) -> dict[str, Any]:
    """Every route to an environment we know of, digested (names + value hashes)."""
    own = "\n".join(f"{k}={v}" for k, v in os.environ.items())
    routes: dict[str, Any] = {
        "os.environ": _digest_environ(own),
        "/proc/self/environ": _digest_environ(_read("/proc/self/environ")),
        "/proc/<getppid>/environ": _digest_environ(_read(f"/proc/{os.getppid()}/environ")),
        "/proc/1/environ": _digest_environ(_read("/proc/1/environ")),
        "scan": _scan_proc(),
    }
    for pid in payload.get("parent_pids", []):
        routes[f"/proc/{pid}/environ (host pid)"] = _digest_environ(_read(f"/proc/{pid}/environ"))
    # With capabilities, the private /proc could be unmounted to reveal the host's.
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(b"/proc", _MNT_DETACH) == 0:
        routes["umount /proc"] = "succeeded"
        routes["scan after umount"] = _scan_proc()
    else:
        routes["umount /proc"] = f"<refused: {os.strerror(ctypes.get_errno())}>"
    return {"routes": routes, "pid": os.getpid()}


def fork_bomb(payload: dict[str, Any]) -> dict[str, Any]:
    """Fork `tries` children that exec `sleep` under the name `marker` (optionally setsid)."""
    marker, forked, error = payload["marker"], 0, None
    for _ in itertools.count() if payload.get("forever") else range(payload["tries"]):
        try:
            pid = os.fork()
        except OSError as err:
            error = f"{type(err).__name__}: {err}"
            if not payload.get("forever"):
                break
            continue
        if pid == 0:
            if payload.get("setsid"):
                os.setsid()
            os.execv("/bin/sleep", [marker, "300"])
        forked += 1
    return {"forked": forked, "error": error}


def spin(payload: dict[str, Any]) -> dict[str, Any]:
    """Burn CPU forever, in Python bytecode or inside one long C call."""
    if payload.get("in_c"):
        sum(itertools.repeat(1, 10**15))
    while True:
        pass


def sleep(payload: dict[str, Any]) -> dict[str, Any]:
    time.sleep(float(payload["seconds"]))
    return {"slept": payload["seconds"]}


def allocate(payload: dict[str, Any]) -> dict[str, Any]:
    block = bytearray(int(payload["bytes"]))
    return {"allocated": len(block)}


def fail(payload: dict[str, Any]) -> dict[str, Any]:
    raise ValueError(payload.get("message", "probe failure"))


def abort(payload: dict[str, Any]) -> dict[str, Any]:
    os.abort()


def write_file(payload: dict[str, Any]) -> dict[str, Any]:
    """Write `mb` MiB into `name` in the working directory."""
    chunk = b"x" * (1024 * 1024)
    with open(payload["name"], "wb") as f:
        for _ in range(int(payload["mb"])):
            f.write(chunk)
    return {"written_mb": payload["mb"]}


def connect(payload: dict[str, Any]) -> dict[str, Any]:
    """Try a TCP connection; the result says whether the network was reachable."""
    try:
        with socket.create_connection((payload["host"], int(payload["port"])), timeout=2):
            return {"connected": True, "error": None}
    except OSError as err:
        return {"connected": False, "error": f"{type(err).__name__}: {err}"}


def not_a_dict(payload: dict[str, Any]) -> list[int]:
    return [1, 2, 3]


def not_json(payload: dict[str, Any]) -> dict[str, Any]:
    return {"value": object()}


def flood(payload: dict[str, Any]) -> dict[str, Any]:
    """Write `mb` MiB to stdout and to stderr (the capped log keeps a head and a tail)."""
    import sys

    line = ("x" * 1023 + "\n").encode()
    for _ in range(int(payload["mb"]) * 1024):
        sys.stdout.buffer.write(line)
        sys.stderr.buffer.write(line)
    sys.stderr.flush()
    sys.stdout.buffer.write(b"THE-END\n")
    sys.stdout.flush()
    return {"done": True}


def hang_in_reward_call(payload: dict[str, Any]) -> dict[str, Any]:
    """Mark a reward call at `step`, then never return (in Python or inside one C call)."""
    from autoreward.sandbox.watchdog import reward_call

    with reward_call(int(payload.get("step", 0))):
        if payload.get("in_c"):
            sum(itertools.repeat(1, 10**15))
        while True:
            pass


def unrestricted(payload: dict[str, Any]) -> dict[str, Any]:
    """Run `code` as UNRESTRICTED Python (full builtins, any import): what hostile reward
    code could do after escaping the validator and the loader. It leaves its findings in a
    dict named `result`."""
    namespace: dict[str, Any] = {"payload": payload}
    exec(compile(payload["code"], "<unrestricted>", "exec"), namespace)  # noqa: S102
    result = namespace.get("result", {})
    return dict(result)


def train_unrestricted(payload: dict[str, Any]) -> dict[str, Any]:
    """The training container's job with the reward module run as UNRESTRICTED Python (no
    validator, full builtins): what a reward that escaped both could do during training."""
    from autoreward.train.sb3 import trainer

    def load_unrestricted(code: str | None) -> Any:
        if code is None:
            return None
        namespace: dict[str, Any] = {"__name__": "hostile_reward"}
        exec(compile(code, "<hostile reward>", "exec"), namespace)  # noqa: S102
        return namespace["compute_reward"]

    trainer.load_reward = load_unrestricted  # type: ignore[attr-defined]
    return trainer.run_train_job(payload)
