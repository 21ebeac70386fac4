"""The learner's side of the reward process: one round trip per vector step over a socket pair.

The learner (SB3 or rsl-rl training container) never loads reward code. The pipeline starts a
reward process in its own container (`rewardproc.py`) and hands one end of a Unix socket pair
to each container as an inherited file descriptor. Per vector step the learner sends the
batched `state`, `action` and `next_state` as raw float64 arrays and receives the reward and
its components; `RemoteReward` is called like a `RewardFn`, so both trainers' wrappers check
its reply as untrusted data exactly as they checked an in-process reward's output.

Wire format (little-endian; every message is `u64 length` + body):
- learner → reward: `L` + JSON layout `{"fields": [[name, [dims]]...], "action": [dtype,
  [dims]]}` when the arrays' layout changes (the first call), then `S` + `u32 n` + `i64
  step` + the state
  fields, the action, the next-state fields, each C-contiguous;
- reward → learner: `B` once it runs, `H` once it has loaded the code; per step `R` + `u32 len` +
  `f64` seconds the call took inside the reward process + a JSON list of component names +
  float64 rows `[total, components...]` of length n each, or `E` + JSON `{"message", "hint"}`
  when the reward raised or returned something malformed.

The per-call limit is the learner's clock alone (the socket's timeout). The cumulative budget
compares the seconds spent waiting for replies with the wall time since the first call; on a
busy machine that wait is mostly the two processes waiting to be scheduled, so a job is only
stopped when the reward process's own account of its calls (clamped to each round trip) is
over the limit too. A reward that under-reports only escapes this one check: the per-call
limit, the job's wall limit and the budget still hold, and nothing it reports reaches its
fitness.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import time
from typing import Any

import numpy as np

from autoreward.errors import AutorewardError, RewardCodeError
from autoreward.sandbox.untrusted import clean_text
from autoreward.types import RewardOutput, State

FRAME = struct.Struct("<Q")
COUNT = struct.Struct("<I")
SECONDS = struct.Struct("<d")
STEP = struct.Struct("<Iq")  # n, the env step of the call (for messages)
MAX_NAMES = 64
MAX_NAME_CHARS = 80
MAX_ERROR_BYTES = 16 * 1024
START_SECONDS = 120.0
"""How long the reward process may take to start and load the reward module."""


class RewardTooSlow(AutorewardError):
    """The reward's share of the training time went over the limit."""


class RewardLink:
    """What a learner needs to reach its reward process: the socket's descriptor and the
    limits the learner enforces (travels in the training payload as `_reward_link`)."""

    def __init__(
        self,
        fd: int,
        call_seconds: float = 5.0,
        share_limit: float = 0.5,
        warmup_seconds: float = 10.0,
        reward_sha256: str | None = None,
        fields: list[str] | None = None,
    ) -> None:
        self.fd = fd
        self.fields = fields
        self.call_seconds = call_seconds
        self.share_limit = share_limit
        self.warmup_seconds = warmup_seconds
        self.reward_sha256 = reward_sha256

    def to_payload(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> RewardLink:
        return cls(
            fd=int(data["fd"]),
            call_seconds=float(data.get("call_seconds", 5.0)),
            share_limit=float(data.get("share_limit", 0.5)),
            warmup_seconds=float(data.get("warmup_seconds", 10.0)),
            reward_sha256=data.get("reward_sha256"),
            fields=[str(x) for x in data["fields"]] if data.get("fields") is not None else None,
        )


def send_frame(sock: socket.socket, *parts: bytes | memoryview) -> None:
    size = sum(len(p) for p in parts)
    sock.sendall(FRAME.pack(size) + b"".join(parts))


def recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytearray:
    """Exactly `n` bytes, or `TimeoutError` at `deadline` (monotonic), or `EOFError`."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
        k = sock.recv_into(view[got:], n - got)  # TimeoutError past the socket's timeout
        if k == 0:
            raise EOFError
        got += k
    return buf


def recv_frame(sock: socket.socket, max_bytes: int, deadline: float | None) -> bytearray:
    (size,) = FRAME.unpack(recv_exact(sock, FRAME.size, deadline))
    if size > max_bytes:
        raise ValueError(f"a {size}-byte message, more than the {max_bytes} expected")
    return recv_exact(sock, size, deadline)


class RemoteReward:
    """A `RewardFn` that is a round trip to the reward process, timed by the learner.

    `step_offset` (env steps trained before this run) and the calls so far give the step
    that error messages name. `reward_s` / `calls` are what the benchmarks and `train.json`
    read."""

    remote = True

    def __init__(self, sock: socket.socket, link: RewardLink) -> None:
        self.sock = sock
        self.link = link
        self.step_offset = 0
        self.calls = 0
        self.steps = 0
        self.reward_s = 0.0
        self.compute_s = 0.0
        self.first_call: float | None = None
        self._layout: tuple[Any, ...] | None = None
        self._public = set(link.fields or ())
        self._ready = False

    @classmethod
    def connect(cls, link: RewardLink) -> RemoteReward:
        return cls(socket.socket(fileno=link.fd), link)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # ------------------------------------------------------------------ the round trip

    def __call__(self, state: State, action: np.ndarray, next_state: State) -> RewardOutput:
        if not self._ready:
            self._wait_ready()
        act = np.ascontiguousarray(action)
        if act.dtype.kind in "iub":
            act = act.astype(np.int64, copy=False)
        else:
            act = act.astype(np.float64, copy=False)
        n = int(act.shape[0]) if act.ndim else 1
        names = list(state) if self.link.fields is None else [k for k in state if k in self._public]
        arrays = [np.ascontiguousarray(state[k], dtype=np.float64) for k in names]
        arrays.append(act)
        arrays += [np.ascontiguousarray(next_state[k], dtype=np.float64) for k in names]
        layout = (tuple((k, state[k].shape[1:]) for k in names), act.dtype.str, act.shape[1:])
        step = self.step_offset + self.steps
        t0 = time.monotonic()
        if self.first_call is None:
            self.first_call = t0
        try:
            if layout != self._layout:
                doc = {"fields": [[k, list(s)] for k, s in layout[0]],
                       "action": [act.dtype.str, list(act.shape[1:])]}  # fmt: skip
                send_frame(self.sock, b"L", json.dumps(doc).encode())
                self._layout = layout
            send_frame(self.sock, b"S", STEP.pack(n, step), *[a.data.cast("B") for a in arrays])
            reply = recv_frame(
                self.sock,
                1 + COUNT.size + MAX_NAMES * (MAX_NAME_CHARS + 8) + (MAX_NAMES + 1) * n * 8,
                t0 + self.link.call_seconds if self.link.call_seconds > 0 else None,
            )
        except TimeoutError:
            raise RewardCodeError(
                f"reward call exceeded {self.link.call_seconds:g} s at step {step} (stopped by "
                "the learner; an endless loop or a very slow computation in compute_reward?)",
                hint="a reward call must take milliseconds: vectorise over the batch dimension",
            ) from None
        except (EOFError, OSError) as err:
            raise RewardCodeError(
                f"the reward process ended during the reward call at step {step} "
                f"({type(err).__name__})",
                hint="compute_reward must return (total, terms) and nothing else; it must not "
                "exit or close files",
            ) from None
        except ValueError as err:
            raise RewardCodeError(
                f"the reward process sent a malformed reply at step {step}: {err}"
            ) from None
        elapsed = time.monotonic() - t0
        self.reward_s += elapsed
        self.calls += 1
        self.steps += n
        out, inside = self._parse(reply, n, step)
        # untrusted: only believed up to the round trip the learner measured
        self.compute_s += min(inside, elapsed) if math.isfinite(inside) and inside > 0 else 0.0
        self._check_share(step + n)
        return out

    def _wait_ready(self) -> None:
        """`B` once the process runs (its start-up is not the reward's time), then `H` once the
        module is loaded, within the per-call limit (a module body that never ends)."""
        started = f"the reward process did not start within {START_SECONDS:g} s"
        reply = self._startup_frame(time.monotonic() + START_SECONDS, started)
        if bytes(reply) == b"B":
            limit = self.link.call_seconds
            loading = (f"reward call exceeded {limit:g} s at step 0 while loading the reward "
                       "module (stopped by the learner)")  # fmt: skip
            reply = self._startup_frame(time.monotonic() + limit if limit > 0 else None, loading)
        if bytes(reply[:1]) == b"E":
            self._raise_error(reply[1:])  # e.g. the module failed validation
        if bytes(reply) != b"H":
            raise RewardCodeError("the reward process ended before it loaded the reward")
        self._ready = True

    def _startup_frame(self, deadline: float | None, late: str) -> bytearray:
        try:
            return recv_frame(self.sock, MAX_ERROR_BYTES, deadline)
        except TimeoutError:
            raise RewardCodeError(
                late, hint="the module body of the reward must only define functions and constants"
            ) from None
        except (EOFError, OSError, ValueError):
            return bytearray()

    def _parse(self, reply: bytearray, n: int, step: int) -> tuple[RewardOutput, float]:
        """The reward and its components, and the seconds the reward process says the call
        took inside it (untrusted)."""
        kind = bytes(reply[:1])
        if kind == b"E":
            self._raise_error(reply[1:])
        if kind != b"R" or len(reply) < 1 + COUNT.size + SECONDS.size:
            raise RewardCodeError(f"the reward process sent a malformed reply at step {step}")
        (size,) = COUNT.unpack_from(reply, 1)
        (inside,) = SECONDS.unpack_from(reply, 1 + COUNT.size)
        start = 1 + COUNT.size + SECONDS.size
        try:
            names = json.loads(bytes(reply[start : start + size]))
        except ValueError:
            names = None
        if (
            not isinstance(names, list)
            or len(names) > MAX_NAMES
            or not all(isinstance(x, str) and 0 < len(x) <= MAX_NAME_CHARS for x in names)
            or len(set(names)) != len(names)
        ):
            raise RewardCodeError(
                f"the reward's component names at step {step} are not a list of at most "
                f"{MAX_NAMES} distinct short strings",
                hint="return a dict of at most 64 named components",
            )
        body = memoryview(reply)[start + size :]
        if len(body) != (len(names) + 1) * n * 8:
            raise RewardCodeError(
                f"the reward process sent {len(body)} bytes of values at step {step}, expected "
                f"{(len(names) + 1) * n * 8} ({len(names)} components and the total for {n} envs)"
            )
        rows = np.frombuffer(body, dtype="<f8").reshape(len(names) + 1, n).copy()
        clean = [clean_text(x, MAX_NAME_CHARS) for x in names]
        return (rows[0], dict(zip(clean, rows[1:], strict=True))), float(inside)

    def _raise_error(self, body: bytearray) -> None:
        try:
            doc = json.loads(bytes(body[:MAX_ERROR_BYTES]))
            message, hint = doc.get("message"), doc.get("hint")
        except (ValueError, AttributeError):
            message, hint = None, None
        if not isinstance(message, str):
            raise RewardCodeError("the reward process failed without a readable reason")
        raise RewardCodeError(
            clean_text(message, 2000), hint=clean_text(hint, 500) if isinstance(hint, str) else None
        )

    def _check_share(self, step: int) -> None:
        if self.first_call is None or self.link.share_limit <= 0:
            return
        elapsed = time.monotonic() - self.first_call
        if elapsed < self.link.warmup_seconds:
            return
        share = self.reward_s / elapsed
        inside = self.compute_s / elapsed
        if share > self.link.share_limit and inside > self.link.share_limit:
            raise RewardTooSlow(
                f"reward took {math.floor(share * 100):.0f}% of training time by step {step:,} "
                f"({math.floor(inside * 100):.0f}% computing; limit "
                f"{self.link.share_limit * 100:.0f}%)",
                hint="a reward call must cost a small part of an env step: vectorise over the "
                "batch, avoid Python loops over envs and repeated work",
            )

    def timing(self) -> dict[str, float]:
        """What `train.json` records of the round trips."""
        wall = (time.monotonic() - self.first_call) if self.first_call is not None else 0.0
        return {
            "reward_calls": self.calls,
            "reward_round_trip_s": round(self.reward_s, 4),
            "reward_share": round(self.reward_s / wall, 4) if wall > 0 else 0.0,
            "reward_compute_share": round(self.compute_s / wall, 4) if wall > 0 else 0.0,
        }
