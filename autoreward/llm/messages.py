"""Chat messages: validation, the canonical text rendering, and the prompt hash.

The canonical rendering is what a person reads (manual prompt files, logs) and what a replay
transcript stores and diffs; the prompt hash is the sha256 of that rendering, so anyone can
check a transcript line by hand.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

Messages = list[dict[str, Any]]

_ROLES = ("system", "user", "assistant")


def check_messages(messages: Messages) -> None:
    """Raise `ValueError` naming the bad message when `messages` is not a chat prompt."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {'role', 'content'} dicts")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or "role" not in msg or "content" not in msg:
            raise ValueError(
                f"message {i} must be a dict with 'role' and 'content', got {msg!r:.80}"
            )
        if msg["role"] not in _ROLES:
            raise ValueError(f"message {i} has role {msg['role']!r}; expected one of {_ROLES}")


def _content_text(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content, sort_keys=True)


def render_messages(messages: Messages) -> str:
    """The prompt as one readable text: `=== role ===` then the content, per message."""
    blocks = [
        f"=== {msg['role']} ===\n{_content_text(msg['content']).strip()}\n" for msg in messages
    ]
    return "\n".join(blocks)


def prompt_hash(messages: Messages) -> str:
    """sha256 (hex) of the canonical rendering: independent of model, provider and sampling."""
    return hashlib.sha256(render_messages(messages).encode("utf-8")).hexdigest()
