"""What every agent of a run is built from: the schema (with the run's fitness), the training
plan, and the training setup as the prompts show it; and the run's LLM client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autoreward.agents.base import training_prompt
from autoreward.agents.prompts import RenderedPrompt
from autoreward.config import RunConfig
from autoreward.envs.fitness import compile_fitness
from autoreward.envs.physics import control_dt
from autoreward.envs.registry import load_schema
from autoreward.envs.schema import EnvSchema
from autoreward.llm.client import LLMClient
from autoreward.loop.candidates import TrainPlan
from autoreward.store.rundir import RunDir
from autoreward.train.halving import n_survivors, rung_steps
from autoreward.train.setup import TrainingSetup, resolve_setup


@dataclass(frozen=True)
class AgentsInputs:
    schema: EnvSchema
    plan: TrainPlan
    setup: TrainingSetup
    training: RenderedPrompt


def build_agents_inputs(cfg: RunConfig) -> AgentsInputs:
    """The schema with the run's fitness (a bad fitness fails here, before any work), the
    training plan and its setup text."""
    schema = load_schema(cfg.env_id)
    if cfg.fitness is not None:
        compile_fitness(cfg.fitness.expression, "the run's fitness")
        schema = schema.model_copy(update={"fitness": cfg.fitness})
    plan = TrainPlan.from_config(cfg, schema)
    setup = training_setup(plan, schema, cfg.samples)
    return AgentsInputs(schema, plan, setup, training_prompt(setup))


def training_setup(plan: TrainPlan, schema: EnvSchema, samples: int) -> TrainingSetup:
    """The plan's setup; the halving rung only when successive halving will prune (as
    `successive_halving` decides: more than one candidate, and fewer survivors than them)."""
    keep = n_survivors(samples, plan.keep_fraction)
    halving = plan.halving and samples > 1 and keep < samples and plan.rung_fraction < 1
    return resolve_setup(
        schema,
        algo=plan.algo,
        total_steps=plan.total_steps,
        n_envs=plan.n_envs,
        hyperparams=plan.reward_hyperparams(),
        complete=True,
        candidates=samples,
        rung_steps=rung_steps(plan.total_steps, plan.rung_fraction) if halving else None,
        keep=keep if halving else None,
        control_dt=control_dt(schema),
        backend=plan.backend,
    )


def make_client(
    cfg: RunConfig, run: RunDir, manual_notify: Callable[[dict[str, Any]], None] | None = None
) -> LLMClient:
    """The run's LLM client; `manual_notify` receives the manual provider's prompt events."""
    return LLMClient(
        cfg.model,
        api_base=cfg.api_base,
        cache_dir=run.cache_dir,
        log_dir=run.llm_dir,
        record_path=cfg.record,
        manual_notify=manual_notify,
    )
