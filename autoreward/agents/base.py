"""What the three agents share: the client they call, the schema text, chat messages, spend."""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from autoreward.agents.prompts import RenderedPrompt, load_template, template_stamp
from autoreward.train.setup import MEANINGS as _MEANINGS

if TYPE_CHECKING:
    from autoreward.envs.schema import ActionSpec, EnvSchema
    from autoreward.llm.completion import Completion
    from autoreward.train.setup import TrainingSetup


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
    it, the training setup text, the reward contract for the schema's action, the inputs hash
    for call metadata, and a low default temperature (they judge, not sample)."""

    def __init__(
        self,
        client: ChatClient,
        schema: EnvSchema | str,
        task: str,
        *,
        temperature: float = 0.0,
        training: RenderedPrompt | None = None,
    ) -> None:
        self.client = client
        self.schema_text = schema_text(schema)
        self.episode_length = None if isinstance(schema, str) else schema.episode_length
        self.task = task
        self.training = training
        self.contract = contract(None if isinstance(schema, str) else schema.action)
        self.inputs = inputs_hash(task, self.schema_text)
        self.temperature = temperature


def schema_text(schema: EnvSchema | str) -> str:
    """The environment as the LLM reads it (`render_schema`), or a ready text as is."""
    if isinstance(schema, str):
        return schema
    from autoreward.envs.registry import render_schema

    return render_schema(schema)


def contract(action: ActionSpec | None = None) -> RenderedPrompt:
    """The reward contract shown to the designer and the critic (newest `reward_contract_vN`),
    with its action rule written for `action`: a discrete action of shape (N,) is compared
    with a choice, a continuous one reduced over its own axes. None (a schema given only as
    text) describes a continuous action of any shape."""
    if action is not None and action.n is not None:
        shape = "(N,) integer"
        rule = load_template("action_discrete").render(last=action.n - 1)
    else:
        batched, effort = _continuous_effort(None if action is None else list(action.shape))
        shape = f"{batched} float"
        rule = load_template("action_continuous").render(shape=batched, effort=effort)
    return load_template("reward_contract").render(action_shape=shape, action_rule=rule)


def _continuous_effort(shape: list[int] | None) -> tuple[str, str]:
    """The batched shape of a continuous action and a numpy expression reducing each env's
    squared entries to one number (shape (N,)), correct for that shape."""
    if shape is None:
        return "(N, *action_shape)", "np.sum(action ** 2, axis=tuple(range(1, action.ndim)))"
    if not shape:
        return "(N,)", "action ** 2"
    if len(shape) == 1:
        return f"(N, {shape[0]})", "np.sum(action ** 2, axis=-1)"
    axes = tuple(range(1, len(shape) + 1))
    return "(N, " + ", ".join(str(d) for d in shape) + ")", f"np.sum(action ** 2, axis={axes})"


def contract_text(action: ActionSpec | None = None) -> str:
    return contract(action).text


def training_prompt(setup: TrainingSetup) -> RenderedPrompt:
    """The training setup as the agents read it (newest `training_setup_vN`)."""
    lines = []
    for name, value in setup.hyperparams.items():
        meaning = _MEANINGS.get(name)
        lines.append(f"- {name} = {_value(value)}" + (f" ({meaning})" if meaning else ""))
    horizon = (
        f"{setup.horizon_steps:,.0f} steps"
        if math.isfinite(setup.horizon_steps)
        else "the whole episode"
    )
    if setup.control_dt and math.isfinite(setup.horizon_steps):
        horizon += f" ({setup.horizon_steps * setup.control_dt:.3g} s of simulated time)"
    return load_template("training_setup").render(
        algo=setup.algo,
        trainer=setup.trainer,
        total_steps=f"{setup.total_steps:,}",
        n_envs=setup.n_envs,
        episodes=_episodes(setup.episodes),
        hyperparams="\n".join(lines),
        horizon=horizon,
        obs_normalizer=setup.normalizer if setup.obs_normalized else None,
        reward_normalizer=setup.normalizer if setup.reward_normalized else None,
        reward_raw=None if setup.reward_normalized else "as it is, with no return normalisation",
        rung_steps=f"{setup.rung_steps:,}" if setup.rung_steps else None,
        candidates=setup.candidates,
        keep=setup.keep if setup.keep is not None else setup.candidates,
    )


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def messages(system: str, user: RenderedPrompt) -> list[dict[str, Any]]:
    """A two-message chat: the role's system template and the rendered user prompt."""
    return [
        {"role": "system", "content": load_template(system).render().text},
        {"role": "user", "content": user.text},
    ]


def inputs_hash(task: str, schema: str) -> str:
    """sha256 of what a run is about (the task and the schema text), for the call metadata: a
    replay answers a prompt by position only for the same task and environment. The training
    setup (budget, parallel envs, hyperparameters) is left out on purpose: like the fitness
    numbers of later prompts, it is what a smoke replay with a smaller budget changes."""
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


def _episodes(n: float | None) -> str | None:
    if n is None:
        return None
    return f"{n:,.0f}" if n >= 10 else f"{n:.2g}"
