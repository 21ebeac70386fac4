"""`LLMClient`: the one way the rest of autoreward talks to a language model.

    client = LLMClient("gpt-4o-mini", log_dir=run_dir / "llm", cache_dir=run_dir / "cache")
    client.preflight()                       # missing key / unreachable endpoint: one clear error
    answers = client.complete_many(messages, k=4, role="designer", meta={"iteration": 0})
    client.usage                             # calls, tokens, cost so far

Model strings: anything litellm takes; `manual` (a person answers, see `manual.py`);
`replay:PATH` (answers from a recorded transcript, see `replay.py`). Every call goes through
the on-disk cache (not replay), the call log (`log_dir`) and the transcript recorder
(`record_path`), whichever provider answers it. The `meta` a caller passes (iteration,
candidate, stage, attempt, template stamp) becomes the call's `CallSite`, which a transcript
records and a replay uses to match calls whose prompts differ only in data.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console

from autoreward.errors import LLMError
from autoreward.llm.cache import AnswerCache, cache_key, default_cache_dir
from autoreward.llm.calllog import CallLog
from autoreward.llm.completion import Answer, Completion, Usage
from autoreward.llm.manual import ManualProvider
from autoreward.llm.messages import (
    Messages,
    check_messages,
    image_name,
    message_images,
    prompt_hash,
    render_messages,
)
from autoreward.llm.provider import Provider
from autoreward.llm.remote import LiteLLMProvider
from autoreward.llm.replay import ReplayProvider
from autoreward.llm.transcript import CallSite, Slot, TranscriptEntry, TranscriptRecorder

REPLAY_PREFIX = "replay:"


class LLMClient:
    """Thread-safe client over one model. Options:

    - `api_base`: an OpenAI-compatible endpoint (vLLM, LM Studio, a proxy), or a provider's base.
    - `timeout`: seconds per HTTP request; `max_retries`: extra attempts on rate limits,
      timeouts, connection errors and 5xx (exponential backoff from `backoff_base` seconds,
      with jitter; a `Retry-After` header wins). Auth and bad-request errors are not retried.
    - `concurrency`: most calls in flight at once, across all threads using this client.
    - `temperature`: default for calls that do not pass one.
    - `cache_dir`: on-disk answer cache (default `$AUTOREWARD_CACHE_DIR` or
      `~/.cache/autoreward/llm`); `use_cache=False` turns it off.
    - `log_dir`: `calls.jsonl` and `<n>_<role>.prompt.md` / `.answer.md` for every call.
    - `record_path`: append every answer used to a replay transcript.
    - `manual_dir`: where `manual` writes `prompt_<n>.md` (default `log_dir/manual`, else
      `./autoreward-manual`); `manual_stdin`: read answers from the terminal when stdin is a
      tty; `manual_timeout`: seconds to wait for an answer file (None: wait for ever);
      `manual_notify`: receives `manual_wait` / `manual_answered` events (where each prompt
      and its answer file are) for the caller to show, instead of printing them.
    """

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 4,
        concurrency: int = 8,
        temperature: float = 1.0,
        cache_dir: Path | None = None,
        use_cache: bool = True,
        log_dir: Path | None = None,
        record_path: Path | None = None,
        manual_dir: Path | None = None,
        manual_stdin: bool = False,
        manual_poll_interval: float = 1.0,
        manual_timeout: float | None = None,
        manual_notify: Callable[[dict[str, Any]], None] | None = None,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        console: Console | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.model = model
        self.api_base = api_base
        self.temperature = temperature
        self.concurrency = concurrency
        self.provider: Provider
        if model == "manual":
            folder = manual_dir or (
                Path(log_dir) / "manual" if log_dir else Path("autoreward-manual")
            )
            interactive = manual_stdin and sys.stdin is not None and sys.stdin.isatty()
            self.provider = ManualProvider(
                folder,
                poll_interval=manual_poll_interval,
                timeout=manual_timeout,
                input_fn=input if interactive else None,
                console=console,
                notify=manual_notify,
            )
        elif model.startswith(REPLAY_PREFIX):
            path = model[len(REPLAY_PREFIX) :]
            if not path:
                raise LLMError(
                    "--model replay: needs a transcript path", hint="--model replay:PATH.jsonl"
                )
            self.provider = ReplayProvider(Path(path).expanduser())
        else:
            self.provider = LiteLLMProvider(
                model,
                api_base=api_base,
                timeout=timeout,
                max_retries=max_retries,
                backoff_base=backoff_base,
                backoff_max=backoff_max,
            )
        self.cache = (
            AnswerCache(Path(cache_dir) if cache_dir else default_cache_dir())
            if use_cache and self.provider.uses_cache
            else None
        )
        self.log = CallLog(Path(log_dir), model) if log_dir else None
        self.recorder = TranscriptRecorder(Path(record_path)) if record_path else None
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._usage = Usage()
        self._by_role: dict[str, Usage] = {}
        self._occurrences: dict[Slot, int] = {}

    # ------------------------------------------------------------------ accounting
    @property
    def usage(self) -> Usage:
        """Totals so far (a copy)."""
        with self._lock:
            return self._usage.model_copy()

    @property
    def usage_by_role(self) -> dict[str, Usage]:
        with self._lock:
            return {role: u.model_copy() for role, u in self._by_role.items()}

    @property
    def replay_counts(self) -> dict[str, int] | None:
        """For a `replay:` model, answers found so far: `exact` (same prompt) and `position`
        (same place in the run and same templates, other data); None for other models."""
        if not isinstance(self.provider, ReplayProvider):
            return None
        with self._lock:
            return {
                "exact": self._usage.replayed_exact,
                "position": self._usage.replayed_by_position,
            }

    @property
    def sees_images(self) -> bool:
        """Whether prompts may carry images: a vision model as litellm knows it, `manual` (the
        images are files to attach), or a replay of a transcript recorded with images."""
        if isinstance(self.provider, ManualProvider):
            return True
        if isinstance(self.provider, ReplayProvider):
            return self.provider.has_images
        try:
            import litellm

            return bool(litellm.supports_vision(model=self.model))
        except Exception:  # an unknown model: text only
            return False

    def preflight(self) -> None:
        """Check the provider can work before any work starts (keys, endpoint, transcript)."""
        self.provider.preflight()

    # ------------------------------------------------------------------ calls
    def complete(
        self,
        messages: Messages,
        *,
        role: str,
        temperature: float | None = None,
        sample_index: int = 0,
        meta: dict[str, Any] | None = None,
    ) -> Completion:
        """Answer one prompt. `sample_index` tells apart independent samples of the same
        prompt (each has its own cache entry); `meta` (prompt version, iteration, candidate)
        goes into the call log and, as the call's site, into a recorded transcript."""
        check_messages(messages)
        temp = self.temperature if temperature is None else temperature
        phash = prompt_hash(messages)
        site = self._site(role, sample_index, meta)
        key = cache_key(self.model, messages, temp, sample_index)
        start = time.perf_counter()

        cached = self.cache.get(key) if self.cache else None
        if cached is not None:
            completion = _completion(cached, role, phash, sample_index, time.perf_counter() - start)
            completion.cached = True
            completion.cost = 0.0
            return self._finish(messages, completion, cached, temp, meta, site)

        try:
            with self._slots:
                answer = self.provider.complete(
                    messages,
                    role=role,
                    temperature=temp,
                    sample_index=sample_index,
                    prompt_hash=phash,
                    site=site,
                )
        except LLMError as err:
            with self._lock:
                self._usage.failed_calls += 1
                self._by_role.setdefault(role, Usage()).failed_calls += 1
            if self.log:
                self.log.record_failure(
                    messages,
                    role=role,
                    prompt_hash=phash,
                    sample_index=sample_index,
                    temperature=temp,
                    meta=meta,
                    error=str(err),
                )
            raise
        completion = _completion(answer, role, phash, sample_index, time.perf_counter() - start)
        if self.cache:
            self.cache.put(key, answer, role=role, prompt_hash=phash)
        return self._finish(messages, completion, answer, temp, meta, site)

    def _site(self, role: str, sample_index: int, meta: dict[str, Any] | None) -> CallSite:
        """The call's site; `occurrence` counts earlier calls at the same position."""
        site = CallSite.from_meta(meta)
        position = site.slot(role, sample_index)
        with self._lock:
            n = self._occurrences.get(position, 0)
            self._occurrences[position] = n + 1
        return site.model_copy(update={"occurrence": n}) if n else site

    def complete_many(
        self,
        messages: Messages,
        k: int,
        *,
        role: str,
        temperature: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> list[Completion]:
        """`k` independent samples of one prompt, concurrently (sample indices 0..k-1), in
        sample order. If any fails, the others still finish (and are cached) before the first
        error is raised, so retrying repays nothing."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        with ThreadPoolExecutor(max_workers=min(k, self.concurrency)) as pool:
            futures = [
                pool.submit(
                    self.complete,
                    messages,
                    role=role,
                    temperature=temperature,
                    sample_index=i,
                    meta=meta,
                )
                for i in range(k)
            ]
        return [f.result() for f in futures]

    def _finish(
        self,
        messages: Messages,
        completion: Completion,
        answer: Answer,
        temperature: float,
        meta: dict[str, Any] | None,
        site: CallSite,
    ) -> Completion:
        with self._lock:
            self._usage.add(completion)
            self._by_role.setdefault(completion.role, Usage()).add(completion)
        if self.log:
            self.log.record(messages, completion, temperature=temperature, meta=meta)
        if self.recorder:
            images = message_images(messages)
            self.recorder.record(
                TranscriptEntry(
                    role=completion.role,
                    prompt_hash=completion.prompt_hash,
                    prompt=render_messages(messages),
                    answer=answer.text,
                    model=answer.model,
                    prompt_tokens=answer.prompt_tokens,
                    completion_tokens=answer.completion_tokens,
                    sample_index=completion.sample_index,
                    site=site,
                    images=[image_name(png) for png in images],
                ),
                images,
            )
        return completion


def _completion(
    answer: Answer, role: str, phash: str, sample_index: int, latency: float
) -> Completion:
    return Completion(
        text=answer.text,
        model=answer.model,
        role=role,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        cost=answer.cost,
        latency_s=latency,
        prompt_hash=phash,
        sample_index=sample_index,
        replay=answer.replay,
    )
