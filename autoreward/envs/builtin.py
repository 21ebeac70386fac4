"""Gymnasium ids of the environments autoreward itself provides (Crafter, Meta-World, Fetch).

Importing this module registers them; `register_builtin_envs()` is called wherever an env id
is looked up (schema registry, `make_base_env`), so `Crafter-v1` needs no import by the user.
Outside autoreward, `gym.make("autoreward.envs.builtin:Crafter-v1")` works too.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

CRAFTER_ENTRY_POINT = "autoreward.envs.crafter.env:CrafterEnv"
CRAFTER_EPISODE_STEPS = 1000
"""Crafter's benchmark plays 10000-step episodes; 1000 (3.3 day-night cycles) keeps an
evaluation of 30 episodes under a minute. `gym.make(id, max_episode_steps=10000)` restores it."""

BUILTIN_ENVS: dict[str, dict[str, Any]] = {
    "Crafter-v1": {
        "entry_point": CRAFTER_ENTRY_POINT,
        "max_episode_steps": CRAFTER_EPISODE_STEPS,
        "kwargs": {"obs": "semantic"},
    },
    "CrafterPixels-v1": {
        "entry_point": CRAFTER_ENTRY_POINT,
        "max_episode_steps": CRAFTER_EPISODE_STEPS,
        "kwargs": {"obs": "pixels"},
    },
}

METAWORLD_ENTRY_POINT = "autoreward.envs.manipulation.metaworld_env:MetaWorldEnv"
METAWORLD_TASKS = (
    "reach",
    "push",
    "pick-place",
    "sweep-into",
    "drawer-open",
    "drawer-close",
    "door-open",
    "door-close",
    "window-open",
    "window-close",
    "button-press",
    "handle-press",
)
"""The Meta-World v3 tasks Text2Reward reports, as `MetaWorld-<task>-v3` (500-step episodes).
Any other Meta-World v3 task: `gym.make("MetaWorld-reach-v3", task="<name>-v3")`."""
FETCH_ENTRY_POINT = "autoreward.envs.manipulation.fetch_env:FetchEnv"
FETCH_TASKS = {"reach": "Reach", "push": "Push", "pick-and-place": "PickAndPlace", "slide": "Slide"}
"""`Fetch-<task>-v4`: gymnasium-robotics' Fetch<Task>-v4 (50-step episodes), semantic state."""

for _task in METAWORLD_TASKS:
    BUILTIN_ENVS[f"MetaWorld-{_task}-v3"] = {
        "entry_point": METAWORLD_ENTRY_POINT,
        "max_episode_steps": 500,
        "kwargs": {"task": f"{_task}-v3"},
    }
for _task, _name in FETCH_TASKS.items():
    BUILTIN_ENVS[f"Fetch-{_task}-v4"] = {
        "entry_point": FETCH_ENTRY_POINT,
        "max_episode_steps": 50,
        "kwargs": {"task": _name},
    }


def register_builtin_envs() -> None:
    """Register the built-in ids with gymnasium (idempotent)."""
    for env_id, spec in BUILTIN_ENVS.items():
        if env_id not in gym.registry:
            gym.register(env_id, **spec)


register_builtin_envs()
