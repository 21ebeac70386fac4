"""What the three agents share: the client they call, the schema text, chat messages, spend."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from autoreward.agents.prompts import RenderedPrompt, load_template, template_stamp

if TYPE_CHECKING:
    from autoreward.envs.schema import EnvSchema
    from autoreward.llm.completion import Completion


class ChatClient(Protocol):
    """The part of `autoreward.llm.client.LLMClient` the agents use."""

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        role: str,
        temperature: float | None = None,
        sample_index: int = 0,
        meta: dict[str, Any] | None = None,
    ) -> Completion: ...


class Reviewer:
    """What the critic and the analyzer hold: the client, the task, the schema as the LLM reads
    it, the inputs hash for call metadata, and a low default temperature (they judge, not sample)."""

    def __init__(
        self, client: ChatClient, schema: EnvSchema | str, task: str, *, temperature: float = 0.0
    ) -> None:
        self.client = client
        self.schema_text = schema_text(schema)
        self.task = task
        self.inputs = inputs_hash(task, self.schema_text)
        self.temperature = temperature


def schema_text(schema: EnvSchema | str) -> str:
    """The environment as the LLM reads it (`render_schema`), or a ready text as is."""
    if isinstance(schema, str):
        return schema
    from autoreward.envs.registry import render_schema

    return render_schema(schema)


def contract() -> RenderedPrompt:
    """The reward contract shown to the designer and the critic (newest `reward_contract_vN`)."""
    return load_template("reward_contract").render()


def contract_text() -> str:
    return contract().text


def messages(system: str, user: RenderedPrompt) -> list[dict[str, Any]]:
    """A two-message chat: the role's system template and the rendered user prompt."""
    return [
        {"role": "system", "content": load_template(system).render().text},
        {"role": "user", "content": user.text},
    ]


def inputs_hash(task: str, schema: str) -> str:
    """sha256 of what a run is about (the task and the schema text), for the call metadata: a
    replay answers a prompt by position only for the same task and environment."""
    return hashlib.sha256(f"{task}\n\0\n{schema}".encode()).hexdigest()


def call_meta(system: str, user: RenderedPrompt, *, inputs: str, **position: Any) -> dict[str, Any]:
    """What goes with a call into the log and the replay transcript: where in the run it is
    made (`position`: iteration, candidate, ...), the user template's version, the templates
    of both messages (`templates`, `template_hash`; see `template_stamp`) and `inputs_hash`."""
    return {
        **position,
        "prompt_version": user.version,
        **template_stamp(load_template(system).render(), user),
        "inputs_hash": inputs,
    }


class Spend(BaseModel):
    """Tokens and cost of the calls behind one result; cached answers cost nothing."""

    calls: int = 0
    cached_calls: int = 0
    tokens: int = 0
    cost: float = 0.0

    def add(self, completion: Any) -> None:
        self.calls += 1
        if getattr(completion, "cached", False):
            self.cached_calls += 1
            return
        self.tokens += int(completion.prompt_tokens) + int(completion.completion_tokens)
        self.cost += float(completion.cost)
