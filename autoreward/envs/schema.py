"""What an environment schema holds: the named state fields the LLM writes rewards against.

A schema is data (YAML in the top-level `envs/` folder, or built by `autoschema.py`). The
`source` of each field is a small declarative recipe read by `extract.py`; see
`autoreward.envs.recipes` for the grammar. Nothing in a schema is Python code except the
fitness `expression`, a numpy expression that is validated before it is compiled and that the
LLM never sees.

The optional `simulation` section declares what the batched MuJoCo Warp backend
(`autoreward/envs/warp/`) needs to run the env without gymnasium: the model file, frame skip,
contact buffer sizes, and named observation, reset and termination terms (in the style of Isaac
Lab's manager-based configs), the env's own reward as named terms, and the rsl-rl PPO settings
it trains with (`rslrl_settings.py`). Terms use the same recipe grammar as the fields. The CPU
backend ignores the section; the LLM never sees it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from autoreward.envs.rslrl_settings import WarpTraining


class _Model(BaseModel):
    # inf bounds (`healthy_range: [0.7, .inf]`) survive a JSON round trip: a job's schema
    # travels to its worker as JSON, where a plain dump would turn them into null
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")


class StateField(_Model):
    """One named entry of the state dict; batched arrays have shape (N, *shape)."""

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$", description="Key in the state dict.")
    shape: list[int] = Field(description="Per-env shape; [] for a scalar.")
    unit: str = Field(min_length=1, description="Physical unit, or 'dimensionless' / 'bool'.")
    description: str = Field(min_length=1, description="What the value means, for the LLM.")
    source: str = Field(min_length=1, description="Extraction recipe, e.g. 'qpos:rootz'.")
    hidden: bool = Field(
        default=False,
        description="For the fitness only (e.g. the env's own reward): never shown to the LLM.",
    )

    @field_validator("shape")
    @classmethod
    def _positive_dims(cls, shape: list[int]) -> list[int]:
        if any(d <= 0 for d in shape):
            raise ValueError(f"every dimension must be positive, got {shape}")
        return shape


class ActionSpec(_Model):
    """The action the policy emits. `low`/`high` are None for discrete actions."""

    shape: list[int]
    low: float | list[float] | None = None
    high: float | list[float] | None = None
    n: int | None = Field(default=None, description="Number of choices for a discrete action.")
    description: str = Field(min_length=1)


class FitnessSpec(_Model):
    """How a trained policy is judged; never shown to the LLM (only `description` may be).

    `expression` is evaluated per step over batched `state`, `action`, `next_state` and must
    return shape (N,). Per episode the step values are aggregated; a `success` fitness is the
    fraction of episodes whose aggregate >= `threshold`, a `score` fitness is the mean aggregate.
    """

    kind: Literal["score", "success"]
    expression: str = Field(min_length=1)
    aggregate: Literal["sum", "mean", "final", "max", "min"] = "sum"
    threshold: float | None = None
    target: float | None = Field(default=None, description="Stop iterating once reached.")
    description: str = Field(min_length=1)

    @model_validator(mode="after")
    def _success_needs_threshold(self) -> FitnessSpec:
        if self.kind == "success" and self.threshold is None:
            raise ValueError("a 'success' fitness needs a 'threshold'")
        return self


class PhysicalParameter(_Model):
    """A physical constant of the env a reward designer may use (mass, length, force, time
    step); declared in the schema's `physics:` list. MuJoCo envs need none: theirs are read
    from the model (`autoreward.envs.physics`)."""

    name: str = Field(min_length=1, description="What it is, e.g. 'pole half-length'.")
    value: float | list[float]
    unit: str = Field(min_length=1, description="SI unit, or 'dimensionless'.")
    description: str = Field(default="", description="Where it acts, or how it is used.")


class TrainDefaults(_Model):
    """Default training set-up; `hyperparams` are stable-baselines3 constructor kwargs."""

    algo: Literal["PPO", "SAC", "TD3", "A2C", "DQN"] = "PPO"
    total_steps: int = Field(gt=0)
    n_envs: int = Field(default=1, gt=0)
    hyperparams: dict[str, Any] = Field(default_factory=dict)
    normalize: bool | None = Field(
        default=None,
        description="Return normalization (VecNormalize norm_reward) for generated rewards; "
        "None: on. A run's or suite task's `normalize` overrides it.",
    )
    deterministic_eval: bool = Field(
        default=True,
        description="Evaluate (and film) the policy's most likely action; false samples from "
        "the policy, for envs where an argmax policy loops (e.g. Crafter: a blocked move "
        "repeated forever).",
    )


def _open_bounds(value: Any) -> Any:
    """`[low, high]` with a null end read as unbounded: a range with `.inf` dumped to JSON
    comes back as null, and must mean the same."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        low, high = value
        return (-math.inf if low is None else low, math.inf if high is None else high)
    return value


_RECIPE = "A state-source recipe (see autoreward.envs.recipes), e.g. 'qpos[1:]', 'xpos:torso'."


class ObservationTerm(_Model):
    """One slice of the policy observation: `clip(fn(source - minus))`, flattened."""

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    source: str = Field(min_length=1, description=_RECIPE)
    minus: str | None = Field(default=None, description="A recipe subtracted from `source`.")
    fn: Literal["identity", "sin", "cos"] = "identity"
    clip: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _clip_ordered(self) -> ObservationTerm:
        if self.clip is not None and not self.clip[0] < self.clip[1]:
            raise ValueError(f"clip must be [low, high] with low < high, got {list(self.clip)}")
        return self


class ResetTerm(_Model):
    """How one part of the initial state is drawn at every episode start, applied in order.

    `target` is a `qpos` or `qvel` recipe (`qpos` = all of it, `qpos:target_x,target_y` = those
    joints). `operation: add` adds the draw to the model's initial value (qpos0, zero velocity),
    `set` replaces it. Distributions: `uniform` in [low, high], `normal` with `std`, `disc`:
    uniform inside a disc of `radius` over exactly two coordinates, `constant` `value`.
    """

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    target: str = Field(pattern=r"^(qpos|qvel)(:|\[|$)", description=_RECIPE)
    distribution: Literal["uniform", "normal", "disc", "constant"]
    operation: Literal["add", "set"] = "add"
    low: float | None = None
    high: float | None = None
    std: float | None = Field(default=None, gt=0)
    radius: float | None = Field(default=None, gt=0)
    value: float | None = None

    @model_validator(mode="after")
    def _parameters_match_distribution(self) -> ResetTerm:
        need = {
            "uniform": ("low", "high"),
            "normal": ("std",),
            "disc": ("radius",),
            "constant": ("value",),
        }[self.distribution]
        given = {
            k for k in ("low", "high", "std", "radius", "value") if getattr(self, k) is not None
        }
        if missing := [k for k in need if k not in given]:
            raise ValueError(f"a '{self.distribution}' reset needs {', '.join(missing)}")
        if extra := sorted(given - set(need)):
            raise ValueError(f"a '{self.distribution}' reset takes no {', '.join(extra)}")
        if self.distribution == "uniform" and not self.low <= self.high:  # type: ignore[operator]
            raise ValueError(f"uniform reset needs low <= high, got [{self.low}, {self.high}]")
        return self


class TerminationTerm(_Model):
    """The episode ends when any value of `source` leaves `healthy_range`.

    `closed: false` (gymnasium's usual strict checks) means healthy iff low < v < high;
    `closed: true` means low <= v <= high. NaN is never healthy. A list of sources is
    concatenated (e.g. `[qpos[2:], qvel]` for Hopper's state bound).
    """

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    source: str | list[str] = Field(description=_RECIPE)
    healthy_range: tuple[float, float]
    closed: bool = False

    _bounds = field_validator("healthy_range", mode="before")(
        classmethod(lambda cls, v: _open_bounds(v))
    )

    @model_validator(mode="after")
    def _range_ordered(self) -> TerminationTerm:
        low, high = self.healthy_range
        if not low < high:
            raise ValueError(
                f"healthy_range must be [low, high] with low < high, got [{low}, {high}]"
            )
        if isinstance(self.source, list) and not self.source:
            raise ValueError("source needs at least one recipe")
        return self

    @property
    def sources(self) -> list[str]:
        return [self.source] if isinstance(self.source, str) else list(self.source)


class RewardTerm(_Model):
    """One term of the env's own reward on the batched backend (gymnasium's `_get_rew`):
    `weight * sum(fn(clip(value)))` over the values of `source`, after the step.

    `source`: `state:NAME` (a state field of this schema, as the reward code sees it in
    `next_state`, e.g. `state:x_velocity`), `action` (the controls the actuators got),
    `healthy` (1.0 while no termination term fires, else 0.0) or a recipe (no `fdvel:`; name a
    state field for a finite difference).
    """

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    source: str = Field(min_length=1)
    weight: float
    fn: Literal["identity", "square", "abs"] = "identity"
    clip: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _checked(self) -> RewardTerm:
        if self.clip is not None and not self.clip[0] < self.clip[1]:
            raise ValueError(f"clip must be [low, high] with low < high, got {list(self.clip)}")
        if self.source.startswith("fdvel:"):
            raise ValueError(
                "a reward term cannot read 'fdvel:' directly; name a state field that does "
                "(source: state:x_velocity)"
            )
        return self


class SimulationSpec(_Model):
    """How the batched MuJoCo Warp backend builds and runs the env (mirrors the gymnasium env)."""

    model: str = Field(
        min_length=1,
        description="MJCF file: a name in gymnasium's MuJoCo assets, or a path relative to envs/.",
    )
    frame_skip: int = Field(gt=0, description="Physics steps per env step.")
    solver: Literal["newton", "cg"] | None = Field(
        default=None, description="Replace the model's solver (MuJoCo Warp has no PGS)."
    )
    cone: Literal["pyramidal", "elliptic"] | None = Field(
        default=None, description="Replace the model's friction cone."
    )
    nconmax: int = Field(gt=0, description="Contacts per world (MuJoCo Warp buffer size).")
    njmax: int = Field(gt=0, description="Constraint rows per world (MuJoCo Warp buffer size).")
    observation: list[ObservationTerm] = Field(min_length=1)
    reset: list[ResetTerm] = Field(default_factory=list)
    terminations: list[TerminationTerm] = Field(default_factory=list)
    reward: list[RewardTerm] = Field(
        default_factory=list,
        description="The env's own reward as named terms (their sum); empty: the backend has "
        "none (no `--baseline env`, no env return in the statistics).",
    )
    train: WarpTraining = Field(
        default_factory=WarpTraining,
        description="Default world counts and rsl-rl PPO hyperparameters for this env.",
    )
    notes: list[str] = Field(
        default_factory=list, description="Known differences from the CPU env, with numbers."
    )

    @field_validator("observation", "reset", "terminations", "reward")
    @classmethod
    def _unique_term_names(cls, terms: list[Any]) -> list[Any]:
        names = [t.name for t in terms]
        if dups := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"duplicate term name(s): {', '.join(dups)}")
        return terms


class EnvSchema(_Model):
    """Everything the tool knows about an environment; `render_schema` shows it to the LLM."""

    env_id: str = Field(min_length=1, description="Gymnasium id or 'module:Class'.")
    description: str = Field(min_length=1)
    make_kwargs: dict[str, Any] = Field(default_factory=dict)
    fields: list[StateField] = Field(min_length=1)
    action: ActionSpec
    episode_length: int | None = Field(
        gt=0, description="The env's time limit in steps; null when it has none."
    )
    fitness: FitnessSpec
    train: TrainDefaults
    reward_hints: list[str] = Field(default_factory=list)
    physics: list[PhysicalParameter] = Field(
        default_factory=list, description="Declared physical constants, shown to the LLM."
    )
    trajectory_events: list[Literal["open_world"]] = Field(
        default_factory=list,
        description="Extra event detectors run on evaluation episodes for the analyzer "
        "('open_world': cause of death, sightings and collections, coverage, sleep).",
    )
    auto: bool = Field(default=False, description="Built by autoschema, not hand-written.")
    simulation: SimulationSpec | None = Field(
        default=None, description="For the batched MuJoCo Warp backend; None: CPU only."
    )

    @field_validator("fields")
    @classmethod
    def _unique_names(cls, fields: list[StateField]) -> list[StateField]:
        seen: set[str] = set()
        for f in fields:
            if f.name in seen:
                raise ValueError(f"duplicate state field name '{f.name}'")
            seen.add(f.name)
        return fields

    @model_validator(mode="after")
    def _reward_fields_exist(self) -> EnvSchema:
        names = {f.name for f in self.fields}
        for term in self.simulation.reward if self.simulation is not None else []:
            if term.source.startswith("state:") and term.source[6:] not in names:
                raise ValueError(
                    f"simulation.reward term '{term.name}' reads state field "
                    f"'{term.source[6:]}', which the schema does not have (fields: "
                    f"{', '.join(sorted(names))})"
                )
        return self

    def field(self, name: str) -> StateField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def without_fitness(self) -> EnvSchema:
        """This schema as a container that runs reward code receives it: the fitness
        (expression, threshold, target, description) replaced by a placeholder that grades
        nothing, and the hidden fields (which exist for the fitness only) left out."""
        return self.model_copy(
            update={
                "fitness": FitnessSpec(
                    kind="score", expression="0", description="withheld from reward code"
                ),
                "fields": [f for f in self.fields if not f.hidden] or self.fields,
            }
        )
