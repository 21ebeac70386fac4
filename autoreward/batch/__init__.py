"""Batch runs: every task of a suite through the loop on one shared worker pool.

`suites.py` (task suites from YAML), `run.py` (`run_batch`, one task's runner), `pool.py`
(the shared pool), `batchdir.py` (the batch directory), `baselines.py` (random policy,
normalized scores), `results.py` (rows and tables), `commands.py` (`autoreward batch`).
"""

from autoreward.batch.baselines import normalized_score, random_policy_fitness
from autoreward.batch.batchdir import BatchDir
from autoreward.batch.pool import SharedPool
from autoreward.batch.results import (
    BatchResult,
    TaskRow,
    results_csv,
    results_markdown,
    write_results,
)
from autoreward.batch.run import run_batch

__all__ = [
    "BatchDir",
    "BatchResult",
    "SharedPool",
    "TaskRow",
    "normalized_score",
    "random_policy_fitness",
    "results_csv",
    "results_markdown",
    "run_batch",
    "write_results",
]
