"""One LLM client over litellm (any provider), plus the `manual` and `replay:` providers.

This room knows chat messages, providers, caching and costs; it knows nothing about RL.
"""

from autoreward.llm.client import LLMClient
from autoreward.llm.completion import Completion, Usage
from autoreward.llm.messages import Messages, prompt_hash, render_messages

__all__ = ["LLMClient", "Completion", "Usage", "Messages", "prompt_hash", "render_messages"]
