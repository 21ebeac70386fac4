"""LLMClient against a real local OpenAI-compatible HTTP server (the whole litellm path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakellm import FakeLLMServer, load_answer

from autoreward.errors import LLMError
from autoreward.llm import LLMClient
from autoreward.llm.messages import prompt_hash

DESIGNER = [
    {"role": "system", "content": "You are a reward designer for reinforcement learning."},
    {"role": "user", "content": "Task: balance the pole in the left half of the track."},
]
CRITIC = [
    {"role": "system", "content": "You are a critic of reward functions."},
    {"role": "user", "content": "Review this reward and answer with a JSON verdict."},
]


def make_client(server: FakeLLMServer, tmp_path: Path, **kwargs: object) -> LLMClient:
    options: dict[str, object] = {
        "cache_dir": tmp_path / "cache",
        "backoff_base": 0.001,
        "timeout": 20,
        **server.client_kwargs(),
    }
    options.update(kwargs)
    return LLMClient(**options)  # type: ignore[arg-type]


def test_answer_text_and_tokens_come_from_the_server(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    answer = load_answer("designer_cartpole")
    fake_llm.enqueue(answer)
    client = make_client(fake_llm, tmp_path)

    done = client.complete(DESIGNER, role="designer", temperature=0.7)

    assert done.text == answer
    assert done.role == "designer" and not done.cached
    assert done.prompt_tokens == sum(len(m["content"].split()) for m in DESIGNER)
    assert done.completion_tokens == len(answer.split())
    assert done.prompt_hash == prompt_hash(DESIGNER)
    (request,) = fake_llm.chat_requests
    assert request.body["messages"] == DESIGNER
    assert request.body["temperature"] == 0.7
    assert request.body["model"] == "fake-model"
    assert request.headers["Authorization"] == "Bearer sk-fake"


def test_cost_is_priced_by_litellm_for_a_known_model(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    import litellm

    fake_llm.enqueue("a short answer with six words")
    client = make_client(fake_llm, tmp_path, model="openai/gpt-4o-mini")

    done = client.complete(DESIGNER, role="designer")

    price = litellm.model_cost["gpt-4o-mini"]
    expected = (
        done.prompt_tokens * price["input_cost_per_token"]
        + done.completion_tokens * price["output_cost_per_token"]
    )
    assert done.cost == pytest.approx(expected) and done.cost > 0
    assert client.usage.cost == pytest.approx(expected)


def test_unknown_model_costs_zero(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    fake_llm.enqueue("fine")
    done = make_client(fake_llm, tmp_path).complete(DESIGNER, role="designer")
    assert done.cost == 0.0


def test_rate_limit_is_retried_then_succeeds(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    fake_llm.fail_next(429, times=2)
    fake_llm.enqueue("after the storm")
    client = make_client(fake_llm, tmp_path, max_retries=3)

    done = client.complete(DESIGNER, role="designer")

    assert done.text == "after the storm"
    assert [r.status for r in fake_llm.chat_requests] == [429, 429, 200]


def test_server_errors_are_retried_until_max_retries(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.fail_next(500, times=10)
    client = make_client(fake_llm, tmp_path, max_retries=2)

    with pytest.raises(LLMError, match=r"failed after 3 attempts: InternalServerError"):
        client.complete(DESIGNER, role="designer")
    assert len(fake_llm.chat_requests) == 3
    assert client.usage.failed_calls == 1


def test_bad_key_is_not_retried_and_names_the_variable(
    fake_llm: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    fake_llm.enqueue("never sent")
    client = make_client(fake_llm, tmp_path, max_retries=4)

    with pytest.raises(LLMError, match=r"rejected the API key in OPENAI_API_KEY \(401\)") as info:
        client.complete(DESIGNER, role="designer")
    assert "export OPENAI_API_KEY=" in str(info.value)
    assert [r.status for r in fake_llm.chat_requests] == [401]


def test_bad_request_is_not_retried(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    client = make_client(fake_llm, tmp_path)  # nothing scripted: the server answers 400

    with pytest.raises(LLMError, match=r"refused the request \(400\).*no scripted answer"):
        client.complete(DESIGNER, role="designer")
    assert len(fake_llm.chat_requests) == 1


def test_retry_after_header_sets_the_wait(fake_llm: FakeLLMServer) -> None:
    from autoreward.llm.remote import LiteLLMProvider

    waits: list[float] = []
    fake_llm.fail_next(429, retry_after=7)
    fake_llm.enqueue("ok")
    provider = LiteLLMProvider(
        "openai/fake-model", api_base=fake_llm.url + "/v1", timeout=20, sleep=waits.append
    )

    answer = provider.complete(
        DESIGNER, role="designer", temperature=1.0, sample_index=0, prompt_hash=""
    )

    assert answer.text == "ok"
    assert waits == [7.0]


def test_backoff_grows_exponentially_with_jitter() -> None:
    from autoreward.llm.remote import LiteLLMProvider

    provider = LiteLLMProvider("openai/x", backoff_base=1.0, backoff_max=5.0)
    delays = [provider._backoff(attempt, RuntimeError()) for attempt in range(5)]
    for attempt, delay in enumerate(delays):
        full = min(5.0, 2.0**attempt)
        assert full / 2 <= delay <= full


def test_identical_calls_hit_the_cache(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    fake_llm.enqueue("first", "second")
    client = make_client(fake_llm, tmp_path, model="openai/gpt-4o-mini")

    a = client.complete(DESIGNER, role="designer", temperature=0.5)
    b = client.complete(DESIGNER, role="designer", temperature=0.5)

    assert len(fake_llm.chat_requests) == 1
    assert (a.text, a.cached) == ("first", False)
    assert (b.text, b.cached, b.cost) == ("first", True, 0.0)
    assert a.cost > 0
    usage = client.usage
    assert (usage.calls, usage.cached_calls) == (2, 1)
    assert usage.total_tokens == a.prompt_tokens + a.completion_tokens  # paid once
    assert usage.cost == pytest.approx(a.cost)


def test_cache_survives_a_new_client_and_another_endpoint(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.enqueue("remembered")
    make_client(fake_llm, tmp_path).complete(DESIGNER, role="designer")

    with FakeLLMServer() as other:
        again = make_client(other, tmp_path).complete(DESIGNER, role="designer")

    assert (again.text, again.cached) == ("remembered", True)
    assert other.chat_requests == []


def test_sample_index_and_temperature_are_part_of_the_key(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.enqueue("s0", "s1", "hot")
    client = make_client(fake_llm, tmp_path)

    texts = [
        client.complete(DESIGNER, role="designer", temperature=1.0, sample_index=0).text,
        client.complete(DESIGNER, role="designer", temperature=1.0, sample_index=1).text,
        client.complete(DESIGNER, role="designer", temperature=0.2, sample_index=0).text,
        client.complete(DESIGNER, role="designer", temperature=1.0, sample_index=1).text,
    ]

    assert texts == ["s0", "s1", "hot", "s1"]
    assert len(fake_llm.chat_requests) == 3


def test_use_cache_false_always_calls(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    fake_llm.enqueue("one", "two")
    client = make_client(fake_llm, tmp_path, use_cache=False)
    assert [client.complete(DESIGNER, role="designer").text for _ in range(2)] == ["one", "two"]


def test_complete_many_runs_concurrently_and_keeps_sample_order(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.wait_for_concurrent(4)
    fake_llm.add_rule("reward designer", "a", "b", "c", "d")
    client = make_client(fake_llm, tmp_path, concurrency=4)

    done = client.complete_many(DESIGNER, 4, role="designer")

    assert fake_llm.max_in_flight == 4
    assert [c.sample_index for c in done] == [0, 1, 2, 3]
    assert sorted(c.text for c in done) == ["a", "b", "c", "d"]
    again = client.complete_many(DESIGNER, 4, role="designer")
    assert [c.text for c in again] == [c.text for c in done]
    assert all(c.cached for c in again)


def test_concurrency_bounds_calls_in_flight(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    fake_llm.wait_for_concurrent(3, timeout=0.5)  # never reached: the client allows only 2
    fake_llm.add_rule("reward designer", "a", "b", "c", "d")
    client = make_client(fake_llm, tmp_path, concurrency=2)

    client.complete_many(DESIGNER, 4, role="designer")

    assert fake_llm.max_in_flight == 2


def test_rules_route_concurrent_roles(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    fake_llm.add_rule("critic of reward", '{"verdict": "ok"}', repeat_last=True)
    fake_llm.add_rule("reward designer", load_answer("designer_cartpole"), repeat_last=True)
    client = make_client(fake_llm, tmp_path, use_cache=False)

    with ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(client.complete, msgs, role=role, sample_index=i)
            for i in range(3)
            for msgs, role in ((DESIGNER, "designer"), (CRITIC, "critic"))
        ]
    results = [f.result() for f in futures]

    assert all(r.text == '{"verdict": "ok"}' for r in results if r.role == "critic")
    assert all("def compute_reward" in r.text for r in results if r.role == "designer")
    by_role = client.usage_by_role
    assert by_role["critic"].calls == 3 and by_role["designer"].calls == 3


def test_one_failed_sample_fails_complete_many_after_the_rest_are_cached(
    fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.add_rule("reward designer", "a", "b")  # a third sample gets HTTP 400
    client = make_client(fake_llm, tmp_path, concurrency=1)

    with pytest.raises(LLMError, match="no scripted answer"):
        client.complete_many(DESIGNER, 3, role="designer")
    assert client.usage.calls == 2 and client.usage.failed_calls == 1

    fake_llm.add_rule("reward designer", "c")
    done = client.complete_many(DESIGNER, 3, role="designer")
    assert [c.cached for c in done] == [True, True, False]


def test_every_call_is_logged(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    fake_llm.add_rule("reward designer", "designed", repeat_last=True)
    fake_llm.fail_next(400, match="critic")
    log_dir = tmp_path / "run" / "llm"
    client = make_client(fake_llm, tmp_path, log_dir=log_dir)
    meta = {"prompt_version": "designer_v1", "iteration": 0}

    client.complete(DESIGNER, role="designer", meta=meta)
    client.complete(DESIGNER, role="designer", meta=meta)  # cached, still logged
    with pytest.raises(LLMError):
        client.complete(CRITIC, role="critic")

    records = [json.loads(line) for line in (log_dir / "calls.jsonl").read_text().splitlines()]
    assert [r["n"] for r in records] == [1, 2, 3]
    first, second, failed = records
    assert first["role"] == "designer" and first["meta"] == meta
    assert first["answer"] == "designed" and first["messages"] == DESIGNER
    assert first["prompt_tokens"] > 0 and first["cached"] is False
    assert first["prompt_hash"] == prompt_hash(DESIGNER)
    assert second["cached"] is True
    assert "refused the request" in failed["error"] and failed["role"] == "critic"
    prompt_md = (log_dir / "0001_designer.prompt.md").read_text()
    assert "=== system ===\nYou are a reward designer" in prompt_md
    assert (log_dir / "0001_designer.answer.md").read_text() == "designed"
    assert (log_dir / "0003_critic.prompt.md").exists()
    assert not (log_dir / "0003_critic.answer.md").exists()

    # A resumed run continues the numbering instead of overwriting.
    resumed = make_client(fake_llm, tmp_path, log_dir=log_dir)
    resumed.complete(DESIGNER, role="designer")
    assert (log_dir / "0004_designer.answer.md").exists()


def test_record_writes_every_answer_used_once(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    fake_llm.add_rule("reward designer", "s0", "s1")
    record = tmp_path / "session.jsonl"
    client = make_client(fake_llm, tmp_path, record_path=record)

    used = client.complete_many(DESIGNER, 2, role="designer")
    make_client(fake_llm, tmp_path, record_path=record).complete(
        DESIGNER, role="designer"
    )  # cached

    lines = [json.loads(line) for line in record.read_text().splitlines()]
    recorded = sorted((r["sample_index"], r["answer"]) for r in lines)
    assert recorded == [(c.sample_index, c.text) for c in used]
    assert sorted(answer for _, answer in recorded) == ["s0", "s1"]
    assert {r["model"] for r in lines} == {"fake-model"}
    assert all(r["prompt"].startswith("=== system ===") for r in lines)


def test_bad_messages_are_rejected_before_any_call(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    client = make_client(fake_llm, tmp_path)
    with pytest.raises(ValueError, match="message 1 has role 'robot'"):
        client.complete(
            [{"role": "user", "content": "x"}, {"role": "robot", "content": "y"}], role="x"
        )
    assert fake_llm.requests == []
