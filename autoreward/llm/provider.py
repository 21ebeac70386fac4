"""The one method every provider implements (litellm, manual, replay)."""

from __future__ import annotations

from typing import Protocol

from autoreward.llm.completion import Answer
from autoreward.llm.messages import Messages
from autoreward.llm.transcript import CallSite


class Provider(Protocol):
    #: whether answers go through the on-disk cache (replay answers are already on disk)
    uses_cache: bool

    def preflight(self) -> None:
        """Raise `LLMError` with one clear line when the provider cannot work at all."""

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
        """Answer one prompt or raise `LLMError`. `site` says where in the run the call is
        made and from which templates (only replay uses it)."""
        ...
