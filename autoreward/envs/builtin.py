"""Gymnasium ids of the environments autoreward itself provides (Crafter).

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


def register_builtin_envs() -> None:
    """Register the built-in ids with gymnasium (idempotent)."""
    for env_id, spec in BUILTIN_ENVS.items():
        if env_id not in gym.registry:
            gym.register(env_id, **spec)


register_builtin_envs()
