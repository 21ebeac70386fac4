"""The learner's round trip to the reward process: replies are untrusted data, the clocks are
the learner's. The reward side runs in a thread here (`rewardproc.serve` or a hand-written
hostile server on a raw socket); `test_train_reward_process.py` runs the real containers."""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from autoreward.envs.registry import load_schema
from autoreward.errors import RewardCodeError
from autoreward.train.job import TrainJob
from autoreward.train.rewardhost import reward_payload
from autoreward.train.rewardlink import (
    COUNT,
    SECONDS,
    RemoteReward,
    RewardLink,
    RewardTooSlow,
    recv_frame,
    send_frame,
)
from autoreward.train.rewardproc import serve

ZERO_S = SECONDS.pack(0.0)

GOOD = """import numpy as np


def compute_reward(state, action, next_state):
    up = 1.0 - np.abs(next_state["pole_angle"])
    push = -0.1 * np.abs(action)
    return up + push, {"up": up, "push": push}
"""


def _state(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"pole_angle": rng.normal(size=n), "cart_position": rng.normal(size=n)}


@pytest.fixture
def linked() -> Iterator[Callable[..., RemoteReward]]:
    threads: list[threading.Thread] = []
    clients: list[RemoteReward] = []

    def make(code: str = GOOD, fields: list[str] | None = None, **link: Any) -> RemoteReward:
        learner, reward = socket.socketpair()
        payload = {"fd": reward.detach(), "code": code, "fields": fields or []}
        thread = threading.Thread(target=serve, args=(payload,), daemon=True)
        thread.start()
        threads.append(thread)
        client = RemoteReward(learner, RewardLink(fd=-1, fields=fields, **link))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
    for thread in threads:
        thread.join(5)


def _hostile(reply: Callable[[socket.socket], None]) -> RemoteReward:
    """A client whose 'reward process' says hello, reads one request and sends `reply`."""
    learner, reward = socket.socketpair()

    def run() -> None:
        send_frame(reward, b"B")
        send_frame(reward, b"H")
        recv_frame(reward, 1 << 20, None)  # the layout
        recv_frame(reward, 1 << 20, None)  # the step
        reply(reward)

    threading.Thread(target=run, daemon=True).start()
    return RemoteReward(learner, RewardLink(fd=-1, call_seconds=2.0))


def test_the_round_trip_returns_what_the_reward_computes(linked: Any) -> None:
    client = linked()
    state, next_state = _state(8, 1), _state(8, 2)
    action = np.arange(8, dtype=np.int64) % 2
    total, terms = client(state, action, next_state)
    up = 1.0 - np.abs(next_state["pole_angle"])
    push = -0.1 * np.abs(action)
    np.testing.assert_allclose(total, up + push)
    assert list(terms) == ["up", "push"]
    np.testing.assert_allclose(terms["push"], push)
    # a second call (no layout message) and a batch of another size
    total, _ = client(_state(3), np.ones(3, dtype=np.int64), _state(3, 4))
    assert total.shape == (3,)
    assert client.calls == 2 and client.steps == 11
    assert client.timing()["reward_calls"] == 2


def test_the_reward_sees_only_the_public_fields_read_only(linked: Any) -> None:
    code = """import numpy as np


def compute_reward(state, action, next_state):
    names = sorted(state)
    try:
        next_state["pole_angle"][0] = 1.0
        wrote = 1.0
    except ValueError:
        wrote = 0.0
    total = np.full(len(action), float(len(names))) + wrote
    return total, {"n_fields": total}
"""
    client = linked(code, fields=["pole_angle"])
    total, _ = client(_state(4), np.zeros(4), _state(4, 1))
    np.testing.assert_array_equal(total, 1.0)  # one field, and the write was refused


def test_a_reward_that_raises_fails_with_its_error_and_step(linked: Any) -> None:
    code = GOOD.replace("up = 1.0", "up = 1 / 0 + 1.0")
    client = linked(code)
    client.step_offset = 4096
    with pytest.raises(
        RewardCodeError, match=r"compute_reward raised ZeroDivisionError at training step 4096"
    ):
        client(_state(2), np.zeros(2), _state(2))


def test_a_malformed_output_fails_as_in_process(linked: Any) -> None:
    client = linked(GOOD.replace("return up + push, {", "return [up], {"))
    with pytest.raises(RewardCodeError, match=r"total has shape \(1, 2\), expected \(2,\)"):
        client(_state(2), np.zeros(2), _state(2))


def test_a_module_body_that_never_ends_is_stopped_by_the_learners_clock() -> None:
    learner, reward = socket.socketpair()
    send_frame(reward, b"B")  # started; the module body then never finishes
    client = RemoteReward(learner, RewardLink(fd=-1, call_seconds=0.3))
    with pytest.raises(
        RewardCodeError, match=r"reward call exceeded 0.3 s at step 0 while loading"
    ):
        client(_state(2), np.zeros(2), _state(2))
    reward.close()


def test_code_the_loader_rejects_never_starts(linked: Any) -> None:
    client = linked("import os\n" + GOOD)
    with pytest.raises(RewardCodeError, match="only numpy and math may be imported"):
        client(_state(2), np.zeros(2), _state(2))


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            lambda s: send_frame(s, b"R", COUNT.pack(2), ZERO_S, b"[]", b"\0" * 7),
            r"sent 7 bytes of values",
        ),
        (lambda s: send_frame(s, b"R", COUNT.pack(3), ZERO_S, b"{}x"), "not a list of at most"),
        (lambda s: send_frame(s, b"R", COUNT.pack(2), b"[]"), "malformed reply"),
        (
            lambda s: send_frame(s, b"R", COUNT.pack(10), ZERO_S, b'["a", "a"]', b"\0" * 48),
            "distinct short strings",
        ),
        (lambda s: send_frame(s, b"X"), "malformed reply"),
        (lambda s: s.sendall(struct.pack("<Q", 1 << 40)), "malformed reply"),
        (lambda s: s.close(), "the reward process ended during the reward call"),
        (lambda s: send_frame(s, b"E", b"not json"), "without a readable reason"),
    ],
)
def test_a_hostile_reply_is_refused_with_a_clear_reason(
    reply: Callable[[socket.socket], None], message: str
) -> None:
    client = _hostile(reply)
    with pytest.raises(RewardCodeError, match=message):
        client(_state(2), np.zeros(2), _state(2))


def test_reply_text_is_cleaned_for_the_terminal() -> None:
    doc = json.dumps({"message": "bad \x1b[31mred\x1b[0m", "hint": "x" * 5000}).encode()
    client = _hostile(lambda s: send_frame(s, b"E", doc))
    with pytest.raises(RewardCodeError) as err:
        client(_state(2), np.zeros(2), _state(2))
    assert "\x1b" not in str(err.value) and len(err.value.hint or "") < 600


def test_a_slow_call_is_stopped_by_the_learners_clock() -> None:
    slow = RemoteReward(_sleepy_server(5.0), RewardLink(fd=-1, call_seconds=0.3))
    t0 = time.monotonic()
    with pytest.raises(RewardCodeError, match=r"reward call exceeded 0.3 s at step 0"):
        slow(_state(2), np.zeros(2), _state(2))
    assert time.monotonic() - t0 < 4.5  # not the 5 s the reply would take


def _sleepy_server(
    seconds: float, calls: int = 1000, reports: float | None = None
) -> socket.socket:
    """A reward process that answers correctly, `seconds` late, and cannot be hurried; it
    says each call took `reports` seconds inside it (default: the `seconds` it slept)."""
    learner, reward = socket.socketpair()

    def run() -> None:
        send_frame(reward, b"B")
        send_frame(reward, b"H")
        n = 0
        try:
            while n < calls:
                frame = recv_frame(reward, 1 << 20, None)
                if bytes(frame[:1]) != b"S":
                    continue
                (k,) = struct.unpack_from("<I", frame, 1)
                time.sleep(seconds)
                inside = SECONDS.pack(seconds if reports is None else reports)
                send_frame(reward, b"R", COUNT.pack(2), inside, b"[]", np.zeros(k).tobytes())
                n += 1
        except (EOFError, OSError):
            return

    threading.Thread(target=run, daemon=True).start()
    return learner


def test_a_reward_over_its_share_of_training_time_stops_the_job() -> None:
    client = RemoteReward(
        _sleepy_server(0.05),
        RewardLink(fd=-1, call_seconds=2.0, share_limit=0.5, warmup_seconds=0.3),
    )
    t0 = time.monotonic()
    with pytest.raises(RewardTooSlow) as err:
        for _ in range(100):
            client(_state(4), np.zeros(4), _state(4))
    assert time.monotonic() - t0 < 4  # 100 calls would take 5 s
    assert "% of training time by step" in str(err.value)
    assert re.search(r"\(\d+% computing; limit 50%\)", str(err.value)), str(err.value)


def test_waiting_for_a_busy_machine_is_not_the_rewards_share() -> None:
    """Round trips that are slow while the reward computes nothing (both processes waiting for
    a core) do not stop the job; the two shares are recorded."""
    client = RemoteReward(
        _sleepy_server(0.01, reports=0.0001),
        RewardLink(fd=-1, call_seconds=2.0, share_limit=0.5, warmup_seconds=0.05),
    )
    for _ in range(40):
        client(_state(4), np.zeros(4), _state(4))
    timing = client.timing()
    assert timing["reward_share"] > 0.5 and timing["reward_compute_share"] < 0.1


@pytest.mark.parametrize("reports", [1e9, float("nan"), -5.0])
def test_the_reward_processs_account_is_never_more_than_the_round_trip(reports: float) -> None:
    client = RemoteReward(
        _sleepy_server(0.001, reports=reports),
        RewardLink(fd=-1, call_seconds=2.0, share_limit=0.0),
    )
    for _ in range(5):
        client(_state(4), np.zeros(4), _state(4))
    assert 0.0 <= client.compute_s <= client.reward_s


def test_the_reward_process_payload_holds_no_fitness() -> None:
    schema = load_schema("CartPole-v1")
    job = TrainJob(env_id="CartPole-v1", out_dir="/nowhere", reward_code=GOOD,
                   schema_data=schema.model_dump(mode="json"))  # fmt: skip
    payload = reward_payload(job, 7)
    assert set(payload) == {"code", "fields", "fd"}
    text = json.dumps(payload)
    assert schema.fitness.expression not in text and "fitness" not in text
    assert payload["fields"] == [f.name for f in schema.fields if not f.hidden]


def test_a_reward_running_code_receives_a_schema_without_the_fitness() -> None:
    schema = load_schema("CartPole-v1")
    stripped = schema.without_fitness()
    text = stripped.model_dump_json()
    assert schema.fitness.expression not in text and schema.fitness.description not in text
    assert [f.name for f in stripped.fields] == [f.name for f in schema.fields if not f.hidden]
