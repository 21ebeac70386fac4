"""Running a reward on stored evaluation episodes, in its own container.

Two worker targets, both given reward code and read-only episode files (the evaluation
container wrote them; the reward only ever sees read-only copies of their arrays):

- `terms_job`: a trained candidate's reward on its own evaluation episodes, for the analyzer
  (per-step components of the summarised episodes, per-episode returns and component sums).
  It runs after the fitness was measured and in another process, so it cannot change it.
- `rescore_job`: a new candidate's reward on the stored episodes of earlier candidates (the
  ranking-consistency check before training).

Standard imports are numpy and the loader only, so these containers start in well under a
second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from autoreward.errors import RewardCodeError
from autoreward.sandbox.inputs import frozen_array, frozen_copy
from autoreward.sandbox.watchdog import reward_call
from autoreward.types import RewardFn

TERMS_FILE = "terms.npz"


def episode_transitions(
    arrays: dict[str, np.ndarray],
) -> list[tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]]:
    """(state, action, next_state) of every stored episode, batched over its T steps."""
    n = int(arrays["n_episodes"])
    out = []
    for k in range(n):
        prefix = f"ep{k}.state."
        states = {
            key[len(prefix) :]: value.astype(np.float64)
            for key, value in arrays.items()
            if key.startswith(prefix)
        }
        s = {name: v[:-1] for name, v in states.items()}
        s2 = {name: v[1:] for name, v in states.items()}
        out.append((s, arrays[f"ep{k}.actions"], s2))
    return out


def call_on_episode(
    reward_fn: RewardFn, k: int, s: dict[str, np.ndarray], a: np.ndarray, s2: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One batched call over an episode's T transitions (time stands in for the env batch),
    on read-only copies, under the watchdog; the output checked like during training."""
    from autoreward.train.sb3.wrapper import check_reward_output

    try:
        with reward_call(k):
            out = reward_fn(frozen_copy(s), frozen_array(a), frozen_copy(s2))
    except Exception as err:
        raise RewardCodeError(
            f"compute_reward raised {type(err).__name__} on stored episode {k}: {err}"
        ) from err
    return check_reward_output(out, len(a), f"on stored episode {k}")


def terms_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker target: `{code, episodes, out_dir, detail_episodes}` → per-episode generated
    returns and component sums; per-step totals and components of the first
    `detail_episodes` episodes go to `out_dir/terms.npz`."""
    from autoreward.sandbox.loader import load_reward_fn
    from autoreward.sandbox.untrusted import load_npz

    fn = load_reward_fn(payload["code"])
    arrays = load_npz(payload["episodes"])
    detail = int(payload.get("detail_episodes", 3))
    saved: dict[str, np.ndarray] = {}
    returns: list[float] = []
    sums: list[dict[str, float]] = []
    names: list[str] = []
    for k, (s, a, s2) in enumerate(episode_transitions(arrays)):
        total, terms = call_on_episode(fn, k, s, a, s2)
        names = names or list(terms)
        returns.append(float(total.sum()))
        sums.append({name: float(v.sum()) for name, v in terms.items()})
        if k < detail:
            saved[f"ep{k}.total"] = total
            for i, v in enumerate(terms.values()):
                saved[f"ep{k}.term{i}"] = v
    out = Path(payload["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".terms.tmp.npz"
    np.savez_compressed(tmp, **saved)  # type: ignore[arg-type]
    tmp.replace(out / TERMS_FILE)
    return {"term_names": names, "generated_returns": returns, "term_sums": sums}


def rescore_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker target: a new reward's return on each stored episode of `paths`, next to the
    episodes' fitness (for the ranking-consistency check)."""
    from autoreward.sandbox.loader import load_reward_fn
    from autoreward.sandbox.untrusted import load_npz

    fn = load_reward_fn(payload["code"])
    returns: list[float] = []
    fitness: list[float] = []
    labels: list[str] = []
    for path in payload["paths"]:
        arrays = load_npz(path)
        name = "/".join(Path(path).parts[-3:-1])
        for k, (s, a, s2) in enumerate(episode_transitions(arrays)):
            total, _ = call_on_episode(fn, k, s, a, s2)
            returns.append(float(total.sum()))
            labels.append(f"{name} ep{k}")
        fitness += [float(v) for v in arrays["fitness_values"]]
    return {"returns": returns, "fitness": fitness, "labels": labels}
