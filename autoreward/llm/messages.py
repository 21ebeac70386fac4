"""Chat messages: validation, the canonical text rendering, and the prompt hash.

The canonical rendering is what a person reads (manual prompt files, logs) and what a replay
transcript stores and diffs; the prompt hash is the sha256 of that rendering, so anyone can
check a transcript line by hand.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

Messages = list[dict[str, Any]]

_ROLES = ("system", "user", "assistant")
_DATA_URI = re.compile(r"^data:(image/[a-z+.-]+);base64,([A-Za-z0-9+/=\s]+)$")


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


def image_part(png: bytes, media_type: str = "image/png") -> dict[str, Any]:
    """An OpenAI-style image content part holding the image inline (a data URI)."""
    data = base64.b64encode(png).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{data}"}}


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def image_bytes(part: dict[str, Any]) -> tuple[bytes, str] | None:
    """The bytes and media type of an inline image part; None for any other part."""
    if part.get("type") != "image_url":
        return None
    url = str((part.get("image_url") or {}).get("url", ""))
    m = _DATA_URI.match(url)
    if m is None:
        return None
    return base64.b64decode(m.group(2)), m.group(1)


def message_images(messages: Messages) -> list[bytes]:
    """Every inline image of the chat, in order (what a manual prompt or transcript keeps)."""
    out = []
    for msg in messages:
        if isinstance(msg["content"], list):
            for part in msg["content"]:
                found = image_bytes(part) if isinstance(part, dict) else None
                if found is not None:
                    out.append(found[0])
    return out


def image_name(png: bytes) -> str:
    """The file name an image is kept under: its sha256, so the prompt text can name it."""
    return hashlib.sha256(png).hexdigest()[:16] + ".png"


def _content_text(content: Any) -> str:
    """A message's content as text. In a list of parts, text parts are kept as they are and
    each inline image becomes one line naming it by content hash (`[image 1: 3f2a....png]`),
    so the prompt hash covers the pixels without carrying them."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        lines, k = [], 0
        for part in content:
            if part.get("type") == "text":
                lines.append(str(part.get("text", "")).strip("\n"))
                continue
            found = image_bytes(part)
            if found is None:
                lines.append(json.dumps(part, sort_keys=True))
                continue
            k += 1
            lines.append(f"[image {k}: {image_name(found[0])}]")
        return "\n".join(lines)
    return json.dumps(content, sort_keys=True)


def render_messages(messages: Messages) -> str:
    """The prompt as one readable text: `=== role ===` then the content, per message."""
    blocks = [
        f"=== {msg['role']} ===\n{_content_text(msg['content']).strip()}\n" for msg in messages
    ]
    return "\n".join(blocks)


def prompt_hash(messages: Messages) -> str:
    """sha256 (hex) of the canonical rendering: independent of model, provider and sampling."""
    return hashlib.sha256(render_messages(messages).encode("utf-8")).hexdigest()
