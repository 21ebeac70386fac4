"""The studio's web app (Starlette): routes, the token, and the rules that keep it local.

- Every request carries the token: the printed URL has it as `?token=`, which the first page
  turns into a SameSite=Strict cookie; requests that change anything also send it in the
  `X-Studio-Token` header, which only the studio's own pages know.
- On a loopback bind, only `127.0.0.1` / `localhost` / `[::1]` are accepted as the Host
  (no DNS rebinding).
- Files are served by id only (`catalog.FileIds`); runs are named by their id in the listing.
- Pages load nothing from elsewhere (a Content-Security-Policy of 'self' says so to the
  browser); every text from a run is escaped (`pages.py`).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import AsyncIterator, Callable, MutableMapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from autoreward.errors import AutorewardError
from autoreward.report.data import load_run
from autoreward.studio import pages
from autoreward.studio.catalog import FileIds, RunEntry, find_run, list_runs
from autoreward.studio.progress import event_stream
from autoreward.studio.session import Jobs, TurnRequest

COOKIE = "autoreward_studio"
HEADER = "x-studio-token"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]
STATIC = {"studio.js": "text/javascript", "studio.css": "text/css"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; media-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
MAX_BODY = 2 * 1024 * 1024


class _Guard:
    """Token check and security headers around the whole app (plain ASGI, so server-sent
    events stream through untouched)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.query_params.get("token")
        if given is not None and request.method == "GET":
            if not secrets.compare_digest(given, self.token):
                await _deny("the token in the URL is wrong")(scope, receive, send)
                return
            response = RedirectResponse(scope["path"], status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            await _headers(response)(scope, receive, send)
            return
        cookie = request.cookies.get(COOKIE, "")
        if not secrets.compare_digest(cookie, self.token):
            await _deny("no valid token")(scope, receive, send)
            return
        if request.method not in ("GET", "HEAD"):
            header = request.headers.get(HEADER, "")
            if not secrets.compare_digest(header, self.token):
                await _deny(f"a request that changes something needs the {HEADER} header")(
                    scope, receive, send
                )
                return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in _SECURITY.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_SECURITY = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _deny(why: str) -> Response:
    return _headers(
        PlainTextResponse(
            f"403: {why}. Open the URL that `autoreward studio` printed (it carries the token).",
            status_code=403,
        )
    )


def _headers(response: Response) -> Response:
    response.headers.update(_SECURITY)
    return response


def create_app(
    root: str | Path,
    *,
    token: str | None = None,
    model: str | None = None,
    api_base: str | None = None,
    allowed_hosts: list[str] | None = None,
    warm: bool = False,
) -> Starlette:
    """The studio over the runs under `root` (pages are built in Starlette's thread pool, so a
    slow page never holds up the progress streams). `token`: random when None (read it back from
    `app.state.token`); `model` / `api_base`: for the next iterations, as `refine`'s options;
    `allowed_hosts`: Host headers accepted (default: loopback names only); `warm`: import what
    Next iteration needs once the first run page is served (`warm_up`)."""
    root = Path(root)
    token = token or secrets.token_urlsafe(24)
    files = FileIds(token)
    jobs = Jobs(model, api_base)
    env = pages.environment()
    cache = pages.CandidateCache(files)
    warming = _Once(warm_up if warm else lambda: None)

    def entry_or_404(request: Request) -> RunEntry:
        entry = find_run(root, str(request.path_params["run_id"]))
        if entry is None:
            raise _NotFound(f"no run {request.path_params['run_id']!r} under {root}")
        return entry

    def job_state(entry: RunEntry) -> dict[str, Any] | None:
        job = jobs.get(entry.path)
        return None if job is None else job.describe()

    def index(request: Request) -> Response:
        ctx = pages.index_context(list_runs(root), root)
        return HTMLResponse(env.get_template("studio_index.html").render(**ctx))

    def run_page(request: Request) -> Response:
        entry = entry_or_404(request)
        view = load_run(entry.path)
        offset = _size(entry.path / "events.jsonl")
        ctx = pages.run_context(entry, view, cache, token, job_state(entry), offset)
        page = env.get_template("studio_run.html").render(**ctx)
        warming.start()  # once, after the first run page: while the person reads it
        return HTMLResponse(page)

    def iteration_fragment(request: Request) -> Response:
        entry = entry_or_404(request)
        view = load_run(entry.path)
        i = int(request.path_params["i"])
        found = [it for it in view.iterations if it.index == i]
        if not found:
            raise _NotFound(f"run {entry.id} has no iteration {i}")
        last = [it for it in view.iterations if it.done]
        ctx = pages.iteration_context(view, found[0], cache, last[-1] if last else None)
        template = env.get_template("studio_iteration.html")
        return HTMLResponse(template.render(it=ctx, run_id=entry.id))

    def diff(request: Request) -> Response:
        entry = entry_or_404(request)
        a, b = _pair(request.query_params.get("a")), _pair(request.query_params.get("b"))
        return HTMLResponse(pages.diff_fragment(load_run(entry.path), a, b))

    async def events(request: Request) -> Response:
        entry = entry_or_404(request)
        offset = _int(request.query_params.get("offset"), 0)
        stream = event_stream(entry.path / "events.jsonl", offset, lambda: job_state(entry))
        return StreamingResponse(stream, media_type="text/event-stream")

    def job(request: Request) -> Response:
        return JSONResponse(job_state(entry_or_404(request)))

    async def next_iteration(request: Request) -> Response:
        entry = entry_or_404(request)
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, f"expected at most {MAX_BODY} bytes, got {len(body)}")
        try:
            turn_request = TurnRequest.model_validate_json(body)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            return _error(400, f"{where}: {first['msg']}")
        try:
            turn, started = await run_in_threadpool(jobs.next_iteration, entry.path, turn_request)
        except AutorewardError as err:  # the run cannot continue, or the turn does not fit
            return _error(409, err.message, err.hint)
        return JSONResponse(
            {
                "saved": f"iter_{turn.iteration}/feedback.json",
                "turn": turn.turn,
                "job": started.describe(),
            },
            status_code=202,
        )

    def file(request: Request) -> Response:
        found = files.read(str(request.path_params["file_id"]))
        if found is None:
            raise _NotFound("no such file")
        data, media = found
        return Response(data, media_type=media)

    def static(request: Request) -> Response:
        name = str(request.path_params["name"])
        if name not in STATIC:
            raise _NotFound(f"no static file {name!r}")
        return Response((pages.TEMPLATES / name).read_bytes(), media_type=STATIC[name])

    def favicon(request: Request) -> Response:
        return Response(status_code=204)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, str(exc))

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/favicon.ico", favicon),
        Route("/files/{file_id}", file),
        Route("/runs/{run_id}", run_page),
        Route("/runs/{run_id}/iterations/{i:int}", iteration_fragment),
        Route("/runs/{run_id}/diff", diff),
        Route("/runs/{run_id}/events", events),
        Route("/runs/{run_id}/job", job),
        Route("/runs/{run_id}/next", next_iteration, methods=["POST"]),
    ]
    hosts = allowed_hosts if allowed_hosts is not None else LOOPBACK_HOSTS
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
            Middleware(_Guard, token=token),
        ],
        exception_handlers={_NotFound: not_found},
        lifespan=_lifespan(jobs),
    )
    app.state.token = token
    app.state.jobs = jobs
    return app


def _lifespan(jobs: Jobs) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Background iterations are stopped when the server stops (they resume later with
    `autoreward run --resume`, or from the studio)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        jobs.stop_all()

    return lifespan


def warm_up() -> None:
    """Import what checking a turn needs (litellm for the model, SB3 and torch for the
    training options: tens of seconds on a busy machine) while the person reads the page, not
    when they press Next iteration."""
    import stable_baselines3  # noqa: F401 - imported to be loaded

    from autoreward.llm.remote import import_litellm
    from autoreward.loop import commands  # noqa: F401 - imported to be loaded

    import_litellm()


class _Once:
    """Runs `fn` once, in a daemon thread."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn, self._started, self._lock = fn, False, threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self.fn, daemon=True).start()


class _NotFound(Exception):
    pass


def _error(status: int, message: str, hint: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "hint": hint}, status_code=status)


def _pair(text: str | None) -> tuple[int, int]:
    """'1.2' → (1, 2): a candidate as iteration.index."""
    parts = (text or "").split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise _NotFound(f"expected a candidate as ITERATION.INDEX (e.g. 1.2), got {text!r}")
    return int(parts[0]), int(parts[1])


def _int(text: str | None, default: int) -> int:
    return int(text) if text is not None and text.isdigit() else default


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
