"""A real OpenAI-compatible HTTP server for tests: scripted answers, injected failures.

The client under test talks to it over HTTP exactly as it would to OpenAI or vLLM
(`model="openai/fake-model"`, `api_base=server.url + "/v1"`), so the whole litellm path runs.

Scripting, in order of precedence for each request:
1. `fail_next(status, times, match)`: answer HTTP `status` (429, 500, ...) `times` times;
2. `add_rule(match, *answers)`: the first rule whose `match` occurs in the prompt text answers
   with its next answer, so concurrent designer / critic calls get the right answers in any order;
3. `enqueue(*answers)`: a FIFO queue for requests no rule matched.
Nothing left to answer is an HTTP 400 naming the prompt's first line (a clear test failure,
never retried). An answer may be a string or a callable taking the request body.
`expected_key` (default `sk-fake`) is checked against the bearer token: a mismatch is a 401.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "llm"
MODEL = "openai/fake-model"
KEY = "sk-fake"

Answer = str | Callable[[dict[str, Any]], str]


def load_answer(name: str) -> str:
    """A scripted answer from `tests/fixtures/llm/<name>` (`.md` added when missing)."""
    path = FIXTURES / (name if "." in name else f"{name}.md")
    return path.read_text(encoding="utf-8")


def prompt_text(body: dict[str, Any]) -> str:
    """All message contents of a chat request joined, the text rules match against."""
    parts = []
    for msg in body.get("messages", []):
        content = msg.get("content", "")
        parts.append(content if isinstance(content, str) else json.dumps(content))
    return "\n".join(parts)


@dataclass
class _Rule:
    match: str
    answers: deque[Answer]
    repeat_last: bool
    last: Answer | None = None


@dataclass
class _Failure:
    status: int
    times: int
    match: str | None
    retry_after: float | None


class Headers(dict[str, str]):
    """HTTP header names are case-insensitive: clients differ in how they spell them."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__((str(k).lower(), v) for k, v in dict(items).items())

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)


@dataclass
class Request:
    path: str
    body: dict[str, Any]
    headers: Headers
    status: int = 0
    answer: str | None = None


@dataclass
class _Barrier:
    parties: int
    timeout: float
    arrived: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)


class FakeLLMServer:
    """OpenAI-compatible chat-completions server on 127.0.0.1 (random port), in a thread."""

    def __init__(self, expected_key: str | None = KEY, model_name: str = "fake-model") -> None:
        self.expected_key = expected_key
        self.model_name = model_name
        self.requests: list[Request] = []
        self._queue: deque[Answer] = deque()
        self._rules: list[_Rule] = []
        self._failures: list[_Failure] = []
        self._barrier: _Barrier | None = None
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments that point an `LLMClient` at this server."""
        return {"model": MODEL, "api_base": self.url + "/v1"}

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ scripting
    def enqueue(self, *answers: Answer) -> None:
        with self._lock:
            self._queue.extend(answers)

    def add_rule(self, match: str, *answers: Answer, repeat_last: bool = False) -> None:
        """Answer prompts containing `match` with `answers` in order (then the last forever
        when `repeat_last`)."""
        with self._lock:
            self._rules.append(_Rule(match, deque(answers), repeat_last))

    def fail_next(
        self,
        status: int = 429,
        times: int = 1,
        match: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        with self._lock:
            self._failures.append(_Failure(status, times, match, retry_after))

    def wait_for_concurrent(self, parties: int, timeout: float = 10.0) -> None:
        """Hold each chat request until `parties` are in flight together (or `timeout`
        passes): a serial client then shows up as `max_in_flight == 1`."""
        self._barrier = _Barrier(parties, timeout)

    @property
    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # ------------------------------------------------------------------ answering
    def _pick(self, body: dict[str, Any]) -> tuple[int, str, float | None]:
        text = prompt_text(body)
        with self._lock:
            for failure in self._failures:
                if failure.times > 0 and (failure.match is None or failure.match in text):
                    failure.times -= 1
                    return failure.status, f"injected HTTP {failure.status}", failure.retry_after
            for rule in self._rules:
                if rule.match not in text:
                    continue
                if rule.answers:
                    rule.last = rule.answers.popleft()
                    return 200, _resolve(rule.last, body), None
                if rule.repeat_last and rule.last is not None:
                    return 200, _resolve(rule.last, body), None
            if self._queue:
                return 200, _resolve(self._queue.popleft(), body), None
        first = text.strip().splitlines()[0] if text.strip() else "<empty>"
        return 400, f"fake LLM server: no scripted answer for prompt starting {first[:80]!r}", None

    def _wait_barrier(self) -> None:
        barrier = self._barrier
        if barrier is None:
            return
        with barrier.cond:
            barrier.arrived += 1
            barrier.cond.notify_all()
            barrier.cond.wait_for(lambda: barrier.arrived >= barrier.parties, barrier.timeout)

    def _chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._wait_barrier()
            status, text, retry_after = self._pick(body)
        finally:
            with self._lock:
                self.in_flight -= 1
        if status != 200:
            headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
            return status, _error(status, text), headers
        prompt_tokens = len(prompt_text(body).split())
        completion_tokens = len(text.split())
        payload = {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model_name),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return 200, payload, {}


def _resolve(answer: Answer, body: dict[str, Any]) -> str:
    return answer(body) if callable(answer) else answer


def _error(status: int, message: str) -> dict[str, Any]:
    kinds = {
        400: "invalid_request_error",
        401: "invalid_api_key",
        429: "rate_limit_exceeded",
    }
    return {
        "error": {"message": message, "type": kinds.get(status, "server_error"), "code": status}
    }


def _handler_for(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if server.expected_key is None:
                return True
            return self.headers.get("Authorization", "") == f"Bearer {server.expected_key}"

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            request = Request(self.path, {}, Headers(self.headers.items()))
            server.requests.append(request)
            if self.path.rstrip("/").endswith("/models"):
                request.status = 200
                models = [{"id": server.model_name, "object": "model", "owned_by": "fake"}]
                self._send(200, {"object": "list", "data": models}, {})
            else:
                request.status = 404
                self._send(404, _error(404, f"no route {self.path}"), {})

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {}
            request = Request(self.path, body, Headers(self.headers.items()))
            server.requests.append(request)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                request.status = 404
                self._send(404, _error(404, f"no route {self.path}"), {})
                return
            if not self._authorised():
                request.status = 401
                self._send(401, _error(401, "Incorrect API key provided."), {})
                return
            status, payload, headers = server._chat(body)
            request.status = status
            if status == 200:
                request.answer = payload["choices"][0]["message"]["content"]
            self._send(status, payload, headers)

    return Handler
