"""Every real model, through litellm: retries with backoff, timeouts, errors mapped to one
clear `LLMError`, cost, and the preflight check (keys set, endpoint reachable)."""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from autoreward.errors import LLMError
from autoreward.llm.completion import Answer
from autoreward.llm.messages import Messages
from autoreward.llm.transcript import CallSite

# litellm fetches its price list from the internet on import unless told otherwise.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

_KEY_VARS = {
    "openai": "OPENAI_API_KEY",
    "text-completion-openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "azure": "AZURE_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "vertex_ai": "GOOGLE_APPLICATION_CREDENTIALS",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "xai": "XAI_API_KEY",
    "fireworks_ai": "FIREWORKS_AI_API_KEY",
    "cohere": "COHERE_API_KEY",
    "cohere_chat": "COHERE_API_KEY",
}
_DEFAULT_BASES = {"ollama": ("OLLAMA_API_BASE", "http://localhost:11434")}


def import_litellm() -> ModuleType:
    """Import litellm on first use (it takes seconds) with its chatter switched off."""
    import litellm

    litellm.suppress_debug_info = True
    return litellm


class LiteLLMProvider:
    """Any model string litellm accepts (`gpt-4o-mini`, `anthropic/...`, `ollama/...`,
    `openai/<name>` with an `api_base` for vLLM and other OpenAI-compatible servers)."""

    uses_cache = True

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self.api_base = api_base
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep

    # ------------------------------------------------------------------ preflight
    def provider_name(self) -> str:
        litellm = import_litellm()
        try:
            return str(litellm.get_llm_provider(self.model, api_base=self.api_base)[1])
        except Exception as err:  # litellm raises its BadRequestError for unknown providers
            raise LLMError(
                f"litellm does not know which provider serves model {self.model!r}",
                hint="prefix the provider (openai/..., anthropic/..., ollama/...), "
                "or use --model manual / --model replay:PATH",
            ) from err

    def key_var(self) -> str:
        provider = self.provider_name()
        return _KEY_VARS.get(provider, f"{provider.upper()}_API_KEY")

    def preflight(self) -> None:
        litellm = import_litellm()
        provider = self.provider_name()
        env = litellm.validate_environment(model=self.model, api_base=self.api_base)
        missing = [k for k in env.get("missing_keys", []) if not k.endswith("_API_BASE")]
        if missing:
            names = " and ".join(missing)
            verb = "is" if len(missing) == 1 else "are"
            var = _KEY_VARS.get(provider) if _KEY_VARS.get(provider) in missing else missing[0]
            local = (
                f"; a local OpenAI-compatible server takes any value (export {var}=none)"
                if self.api_base
                else ""
            )
            raise LLMError(
                f"{names} {verb} not set (needed by model {self.model!r})",
                hint=f"export {var}=... (keys are read from the environment only){local}, "
                "or pass --model manual / --model replay:PATH",
            )
        if self.api_base:
            check_reachable(self.api_base)
        elif provider in _DEFAULT_BASES:
            var, default = _DEFAULT_BASES[provider]
            check_reachable(
                os.environ.get(var) or default,
                hint=f"start the {provider} server, or set {var} / pass --api-base",
            )

    # ------------------------------------------------------------------ calls
    def complete(
        self,
        messages: Messages,
        *,
        role: str,
        temperature: float,
        sample_index: int,
        prompt_hash: str,
        site: CallSite | None = None,
    ) -> Answer:
        litellm = import_litellm()
        retryable = (
            litellm.RateLimitError,
            litellm.Timeout,
            litellm.APIConnectionError,
            litellm.ServiceUnavailableError,
            litellm.InternalServerError,
            litellm.BadGatewayError,
        )
        attempt = 0
        while True:
            try:
                response = litellm.completion(
                    model=self.model,
                    messages=messages,
                    api_base=self.api_base,
                    timeout=self.timeout,
                    temperature=temperature,
                    max_retries=0,  # retries are ours, with backoff, counted once
                    drop_params=True,  # e.g. models that only take temperature=1
                )
                break
            except retryable as err:
                if attempt >= self.max_retries:
                    raise LLMError(
                        f"{self.model} ({role}) failed after {attempt + 1} attempts: "
                        f"{_kind(err)}: {_short(err)}",
                        hint="the provider is overloaded or down; try again later, "
                        "raise --timeout, or lower --samples",
                    ) from err
                self._sleep(self._backoff(attempt, err))
                attempt += 1
            except Exception as err:
                # litellm's exception family (built on openai's); anything else raised from
                # inside it (an httpx error it did not map) is still a provider failure.
                if type(err).__module__.split(".")[0] in ("litellm", "openai", "httpx"):
                    raise self._fatal(err, role) from err
                raise
        return self._answer(litellm, response, role)

    def _answer(self, litellm: ModuleType, response: Any, role: str) -> Answer:
        choice = response.choices[0]
        text = choice.message.content or ""
        if not text.strip():
            raise LLMError(
                f"{self.model} ({role}) returned an empty answer "
                f"(finish_reason={getattr(choice, 'finish_reason', None)})",
                hint="a reasoning model may have spent its whole output budget; try another model",
            )
        usage = getattr(response, "usage", None)
        try:
            cost = float(litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:  # a model missing from litellm's price list costs "unknown" = 0
            cost = 0.0
        return Answer(
            text=text,
            model=str(getattr(response, "model", None) or self.model),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost=cost,
        )

    def _backoff(self, attempt: int, err: Exception) -> float:
        retry_after = _retry_after(err)
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        delay = min(self.backoff_max, self.backoff_base * 2**attempt)
        return delay * (0.5 + random.random() / 2)  # jitter: concurrent callers spread out

    def _fatal(self, err: Exception, role: str) -> LLMError:
        litellm = import_litellm()
        where = f"{self.model} ({role})"
        if isinstance(err, litellm.AuthenticationError):
            var = self.key_var()
            return LLMError(
                f"{where}: the provider rejected the API key in {var} (401): {_short(err)}",
                hint=f"export {var}=<a valid key> (keys are read from the environment only)",
            )
        if isinstance(err, litellm.ContextWindowExceededError):
            return LLMError(
                f"{where}: the prompt is longer than the model's context window: {_short(err)}",
                hint="use a model with a longer context, or fewer samples / shorter summaries",
            )
        if isinstance(err, litellm.NotFoundError):
            return LLMError(
                f"{where}: model not found at the provider: {_short(err)}",
                hint="check the model name (litellm model strings: provider/name)",
            )
        if isinstance(err, litellm.PermissionDeniedError):
            return LLMError(f"{where}: permission denied (403): {_short(err)}")
        if isinstance(err, litellm.BadRequestError):
            return LLMError(f"{where}: the provider refused the request (400): {_short(err)}")
        return LLMError(f"{where}: {_kind(err)}: {_short(err)}")


def check_reachable(
    url: str, timeout: float = 5.0, hint: str = "start the server, or fix --api-base"
) -> None:
    """TCP-connect to the host of `url`; one clear `LLMError` naming the URL when it fails."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host = parts.hostname
    if not host:
        raise LLMError(
            f"api base {url!r} is not a URL", hint="pass e.g. --api-base http://localhost:8000/v1"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as err:
        raise LLMError(f"api base {url!r} has a bad port") from err
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except socket.gaierror as err:
        raise LLMError(
            f"cannot reach {url}: host {host!r} does not resolve",
            hint=hint,
        ) from err
    except OSError as err:
        why = "timed out" if isinstance(err, TimeoutError) else (err.strerror or str(err)).lower()
        raise LLMError(
            f"cannot reach {url}: {why}",
            hint=hint,
        ) from err


def _kind(err: Exception) -> str:
    return type(err).__name__


def _short(err: Exception, limit: int = 300) -> str:
    text = str(getattr(err, "message", None) or err).strip().replace("\n", " ")
    for prefix in ("litellm.", f"{type(err).__name__}: "):
        while text.startswith(prefix):
            text = text[len(prefix) :]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _retry_after(err: Exception) -> float | None:
    # litellm keeps the provider's headers on the exception; `err.response` may be a stub.
    value = None
    for headers in (
        getattr(err, "litellm_response_headers", None),
        getattr(getattr(err, "response", None), "headers", None),
    ):
        if headers and headers.get("retry-after") is not None:
            value = headers.get("retry-after")
            break
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
