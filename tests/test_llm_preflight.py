"""`LLMClient.preflight()`: one clear line before any work when a provider cannot work."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fakellm import FakeLLMServer

from autoreward.errors import LLMError
from autoreward.llm import LLMClient


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_missing_openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(
        LLMError, match=r"^OPENAI_API_KEY is not set \(needed by model 'gpt-4o-mini'\)"
    ) as info:
        LLMClient("gpt-4o-mini").preflight()
    assert "export OPENAI_API_KEY=..." in str(info.value)
    assert "--model manual" in str(info.value)


def test_missing_anthropic_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(LLMError, match=r"^ANTHROPIC_API_KEY is not set"):
        LLMClient("anthropic/claude-3-5-haiku-latest").preflight()


def test_missing_key_for_a_local_server_says_any_value_works(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMError, match=r"any value \(export OPENAI_API_KEY=none\)"):
        LLMClient("openai/qwen", api_base="http://127.0.0.1:8000/v1").preflight()


def test_unreachable_api_base_names_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LLMError, match=rf"^cannot reach {url}: connection refused"):
        LLMClient("openai/fake-model", api_base=url).preflight()


def test_unresolvable_host_names_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    url = "http://no-such-host.invalid:8000/v1"
    with pytest.raises(
        LLMError, match=rf"^cannot reach {url}: host 'no-such-host.invalid' does not resolve"
    ):
        LLMClient("openai/fake-model", api_base=url).preflight()


def test_ollama_default_endpoint_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("OLLAMA_API_BASE", url)
    with pytest.raises(LLMError, match=rf"^cannot reach {url}"):
        LLMClient("ollama/qwen2.5-coder").preflight()


def test_unknown_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        LLMError, match=r"litellm does not know which provider serves model 'made-up-model'"
    ):
        LLMClient("made-up-model").preflight()


def test_reachable_server_with_key_passes(fake_llm: FakeLLMServer) -> None:
    client = LLMClient(**fake_llm.client_kwargs())
    client.preflight()
    assert fake_llm.requests == []  # a TCP connect, no request that could cost money


def test_manual_preflight_creates_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "run" / "manual"
    LLMClient("manual", manual_dir=folder).preflight()
    assert folder.is_dir()
