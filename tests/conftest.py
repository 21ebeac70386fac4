"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakellm import KEY, FakeLLMServer


@pytest.fixture(autouse=True)
def _isolated_llm_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test gets its own LLM answer cache: nothing leaks into ~/.cache or between tests."""
    path = tmp_path_factory.mktemp("llm-cache")
    monkeypatch.setenv("AUTOREWARD_CACHE_DIR", str(path))
    return path


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLMServer]:
    """A local OpenAI-compatible server; point a client at it with
    `LLMClient(**fake_llm.client_kwargs(), ...)` (`openai/fake-model` at `fake_llm.url + "/v1"`)."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeLLMServer() as server:
        yield server
