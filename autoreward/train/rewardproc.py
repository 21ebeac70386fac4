"""The reward process: the only container of a training job that runs reward code.

`serve(payload)` is its worker target. The payload holds the reward code, the names of the
schema's state fields and the descriptor of its end of the socket pair; nothing else of the
job (no fitness, no schema, no folders). The container has no writable folder of any other
job: the learner's folder, the evaluation's and the parent's are not bound into it. It
answers one request per vector step (`rewardlink.py` has the wire format) until the learner
closes its end.

Whatever runs here is untrusted, so this side only formats; the learner checks every reply
again (sizes, names, shapes, finiteness) and keeps its own clocks.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from autoreward.errors import AutorewardError
from autoreward.train.reward_output import reward_raised, reward_rows
from autoreward.train.rewardlink import COUNT, SECONDS, STEP, recv_frame, send_frame
from autoreward.types import RewardFn

MAX_REQUEST_BYTES = 1 << 31


def serve(payload: dict[str, Any], load: Callable[[str], RewardFn] | None = None) -> dict[str, Any]:
    """Worker target: load the reward, say so, then answer requests until the learner leaves.
    `load` (default: the restricted loader) exists for tests that run the code unrestricted."""
    from autoreward.sandbox.loader import load_reward_fn

    sock = socket.socket(fileno=int(payload["fd"]))
    allowed = {str(x) for x in payload.get("fields", [])}
    send_frame(sock, b"B")  # the learner times the module's load from here
    try:
        fn = (load or load_reward_fn)(str(payload["code"]))
    except AutorewardError as err:
        _send_error(sock, err.message, err.hint)
        return {"calls": 0}
    except Exception as err:  # the module body raised (an unrestricted loader does not wrap it)
        _send_error(sock, f"the reward module raised {type(err).__name__}: {err}", None)
        return {"calls": 0}
    send_frame(sock, b"H")
    calls = 0
    plan: _Plan | None = None
    while True:
        try:
            frame = recv_frame(sock, MAX_REQUEST_BYTES, None)
        except (EOFError, OSError):
            return {"calls": calls}
        kind = bytes(frame[:1])
        if kind == b"L":
            plan = _Plan(json.loads(bytes(frame[1:])), allowed)
            continue
        if kind != b"S" or plan is None:
            return {"calls": calls}
        n, step = STEP.unpack_from(frame, 1)
        state, action, next_state = plan.split(memoryview(frame)[1 + STEP.size :], n)
        where = f"at training step {step}"
        started = time.monotonic()
        try:
            out = fn(state, action, next_state)
        except Exception as err:
            raised = reward_raised(err, step)
            _send_error(sock, raised.message, raised.hint)
            continue
        try:
            names, rows = reward_rows(out, n, where)
        except AutorewardError as err:
            _send_error(sock, err.message, err.hint)
            continue
        head = json.dumps(names).encode()
        inside = SECONDS.pack(time.monotonic() - started)
        send_frame(sock, b"R", COUNT.pack(len(head)), inside, head, rows.data.cast("B"))
        calls += 1


class _Plan:
    """How a request's bytes split into `state`, `action`, `next_state` (read-only views)."""

    def __init__(self, layout: dict[str, Any], allowed: set[str]) -> None:
        self.fields = [(str(k), tuple(int(d) for d in shape)) for k, shape in layout["fields"]]
        self.keep = {k for k, _ in self.fields if not allowed or k in allowed}
        dtype, shape = layout["action"]
        self.action_dtype = np.dtype(str(dtype))
        self.action_shape = tuple(int(d) for d in shape)

    def split(self, body: memoryview, n: int) -> tuple[dict[str, Any], Any, dict[str, Any]]:
        at = 0

        def take(dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
            nonlocal at
            count = n * int(np.prod(shape, dtype=np.int64))
            arr = np.frombuffer(body, dtype=dtype, count=count, offset=at).reshape((n, *shape))
            arr.setflags(write=False)
            at += count * dtype.itemsize
            return arr

        f8 = np.dtype("<f8")
        state = {k: take(f8, s) for k, s in self.fields}
        action = take(self.action_dtype, self.action_shape)
        next_state = {k: take(f8, s) for k, s in self.fields}
        return (
            {k: v for k, v in state.items() if k in self.keep},
            action,
            {k: v for k, v in next_state.items() if k in self.keep},
        )


def _send_error(sock: socket.socket, message: str, hint: str | None) -> None:
    doc = json.dumps({"message": message[:4000], "hint": (hint or "")[:1000] or None})
    try:
        send_frame(sock, b"E", doc.encode())
    except OSError:
        pass
