"""The canonical prompt rendering and hash: recorded transcripts depend on both staying put."""

from __future__ import annotations

import hashlib

import pytest

from autoreward.llm.messages import check_messages, prompt_hash, render_messages


def test_rendering_is_stable() -> None:
    messages = [
        {"role": "system", "content": "  Be brief.\n"},
        {"role": "user", "content": "Line one\nLine two"},
    ]
    text = "=== system ===\nBe brief.\n\n=== user ===\nLine one\nLine two\n"
    assert render_messages(messages) == text
    assert prompt_hash(messages) == hashlib.sha256(text.encode()).hexdigest()


def test_hash_changes_with_role_or_content() -> None:
    base = [{"role": "user", "content": "reward the cart for moving left"}]
    assert prompt_hash(base) != prompt_hash([{"role": "system", "content": base[0]["content"]}])
    assert prompt_hash(base) != prompt_hash(
        [{"role": "user", "content": "reward the cart for moving right"}]
    )


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([], "non-empty list"),
        ([{"content": "x"}], "message 0 must be a dict with 'role' and 'content'"),
        ([{"role": "user", "content": "x"}, "text"], "message 1 must be a dict"),
        ([{"role": "tool", "content": "x"}], "message 0 has role 'tool'"),
    ],
)
def test_bad_messages(messages: list, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        check_messages(messages)
