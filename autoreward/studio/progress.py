"""Live progress of a run for the page: the lines the loop appends to `events.jsonl`, read
from a byte offset on, as server-sent events.

Only the fields a person follows are passed on (phase, candidate state, training steps,
iteration boundaries, the best so far), every string cleaned by the sandbox's sanitiser and
written by the page as text, never as markup."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from autoreward.sandbox.untrusted import clean_text

FOLLOWED = {
    "iteration_start",
    "phase",
    "candidate",
    "progress",
    "halving",
    "best",
    "iteration_end",
    "analysis",
    "analysis_skipped",
    "final",
    "run_end",
    "feedback",
}
FIELDS = (
    "event",
    "iteration",
    "phase",
    "candidate",
    "state",
    "reason",
    "steps",
    "total_steps",
    "fitness",
    "best_fitness",
    "t",
)
MAX_CHUNK = 1024 * 1024


def read_events(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Followed events from byte `offset` of `path` to its last whole line, and the offset
    after it (a line still being written is read next time)."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            chunk = fh.read(MAX_CHUNK)
    except OSError:
        return [], offset
    end = chunk.rfind(b"\n")
    if end < 0:
        return [], offset
    events = []
    for line in chunk[: end + 1].splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") in FOLLOWED:
            events.append(_public(event))
    return events, offset + end + 1


def _public(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in FIELDS:
        value = event.get(key)
        if isinstance(value, str):
            out[key] = clean_text(value, 300)
        elif isinstance(value, (int, float)) or value is None:
            if value is not None:
                out[key] = value
    return out


async def event_stream(
    path: Path, offset: int, job_state: Callable[[], dict[str, Any] | None], poll_s: float = 0.5
) -> AsyncIterator[str]:
    """Server-sent events: `progress` for each followed event, `job` when the background
    iteration's state changes; a comment every few seconds keeps the connection open."""
    last_job: dict[str, Any] | None = None
    quiet = 0.0
    while True:
        events, offset = read_events(path, offset)
        for event in events:
            yield _sse("progress", event, offset)
        job = job_state()
        state = None if job is None else job.get("state")
        if job is not None and state != (last_job or {}).get("state"):
            yield _sse("job", job, offset)
            last_job = job
        if events or job != last_job:
            quiet = 0.0
        else:
            quiet += poll_s
            if quiet >= 10:
                quiet = 0.0
                yield ": keep-alive\n\n"
        await asyncio.sleep(poll_s)


def _sse(kind: str, data: dict[str, Any], offset: int) -> str:
    return f"event: {kind}\nid: {offset}\ndata: {json.dumps(data)}\n\n"
