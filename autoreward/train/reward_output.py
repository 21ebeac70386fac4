"""What a reward returns, checked as untrusted data: `reward_rows` (the total and each
component, shape (N,), finite; errors name the component and the step),
`check_reward_output`, and `reward_raised` (the error for a reward that raised). Both training
backends, the re-scoring jobs and `RewardWrapper` use these, so a reward fails the same way
everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoreward.errors import RewardCodeError

ENV_REWARD_TERM = "env_reward"
"""The single component name used when the wrapper passes the env's own reward through."""


def reward_raised(err: Exception, step: int) -> RewardCodeError:
    """The error for a reward that raised `err` during training at env step `step`."""
    hint = (
        "compute_reward must not modify its inputs; compute new arrays instead (no out=, no +=)"
        if "read-only" in str(err)
        else "the reward must work on every batched state the env reaches during training"
    )
    return RewardCodeError(
        f"compute_reward raised {type(err).__name__} at training step {step}: {err}", hint=hint
    )


def reward_rows(
    out: Any, n: int, where: str, extra_row: np.ndarray | None = None
) -> tuple[list[str], np.ndarray]:
    """Validate a `compute_reward` output and return (component names, rows) with rows[0]
    the total and rows[1 + k] component k (plus `extra_row` last, when given), each of
    length n. A wrong type or shape, NaN or inf raises `RewardCodeError` naming the
    offending component and `where` (e.g. "at training step 2400")."""
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
        raise RewardCodeError(
            f"compute_reward must return (total, terms_dict), got {type(out).__name__} {where}",
            hint="return total, {'name': array, ...}",
        )
    raw_total, raw_terms = out
    names = [str(name) for name in raw_terms]
    rows = np.empty((len(names) + 1 + (extra_row is not None), n))
    _put_row(rows, 0, raw_total, "total", where, n)
    for row, (name, value) in enumerate(raw_terms.items(), start=1):
        _put_row(rows, row, value, f"component '{name}'", where, n)
    if extra_row is not None:
        rows[-1] = extra_row
    checked = rows[:-1] if extra_row is not None else rows
    if not np.isfinite(checked).all():
        _raise_non_finite(names, checked, where)
    return names, rows


def check_reward_output(out: Any, n: int, where: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """`(total, terms)` as float64 arrays of shape (n,), validated as in `reward_rows`."""
    names, rows = reward_rows(out, n, where)
    return rows[0], dict(zip(names, rows[1:], strict=True))


def _put_row(rows: np.ndarray, row: int, value: Any, what: str, where: str, n: int) -> None:
    shape = value.shape if isinstance(value, np.ndarray) else np.shape(value)
    if shape != (n,):
        raise RewardCodeError(
            f"compute_reward {what} has shape {shape}, expected ({n},) (one value per env) {where}",
            hint="reduce over feature axes with axis=-1 and keep the leading batch dimension N",
        )
    try:
        rows[row] = value
    except (TypeError, ValueError) as err:
        raise RewardCodeError(
            f"compute_reward {what} is not numeric ({np.asarray(value).dtype}) {where}",
            hint="every value must be a float array of shape (N,)",
        ) from err


def _raise_non_finite(names: list[str], rows: np.ndarray, where: str) -> None:
    hint = "guard divisions, logs and exps (e.g. np.clip, + 1e-8) so every component stays finite"
    for row, name in enumerate(names, start=1):
        bad = ~np.isfinite(rows[row])
        if bad.any():
            raise RewardCodeError(
                f"compute_reward returned a non-finite reward {where}: component '{name}' is "
                f"NaN/inf for env(s) {np.flatnonzero(bad).tolist()}",
                hint=hint,
            )
    raise RewardCodeError(
        f"compute_reward returned a non-finite reward {where}: the total is NaN/inf for env(s) "
        f"{np.flatnonzero(~np.isfinite(rows[0])).tolist()} although every component is finite",
        hint="compute the total as the sum of the components",
    )
