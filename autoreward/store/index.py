"""SQLite index of runs, candidates and LLM calls, with append-only numbered migrations.

The run directory is the source of truth; the index makes many runs queryable
(`sqlite3 runs/index.sqlite 'select * from runs'`). Never edit a migration that has
shipped: add a new one at the end of MIGRATIONS.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

MIGRATIONS: list[str] = [
    # 1: runs, candidates, llm calls
    """
    CREATE TABLE runs (
        run_dir TEXT PRIMARY KEY, env_id TEXT, task TEXT, model TEXT, started REAL,
        status TEXT, best_fitness REAL, iterations INTEGER, tokens INTEGER, cost REAL,
        wall_s REAL, extra TEXT
    );
    CREATE TABLE candidates (
        run_dir TEXT, iteration INTEGER, candidate INTEGER, status TEXT, fitness REAL,
        env_return REAL, steps INTEGER, reason TEXT, code_hash TEXT,
        PRIMARY KEY (run_dir, iteration, candidate)
    );
    CREATE TABLE llm_calls (
        run_dir TEXT, role TEXT, iteration INTEGER, model TEXT, prompt_version TEXT,
        prompt_tokens INTEGER, completion_tokens INTEGER, cost REAL, cached INTEGER, t REAL
    );
    """,
    # 2: batch results
    """
    CREATE TABLE batch_results (
        batch_dir TEXT, task TEXT, env_id TEXT, run_dir TEXT, status TEXT, best_fitness REAL,
        baseline_fitness REAL, random_fitness REAL, normalized REAL, iterations INTEGER,
        tokens INTEGER, cost REAL, wall_s REAL, reason TEXT,
        PRIMARY KEY (batch_dir, task)
    );
    """,
    # 3: batch results: fitness kind, final-seed mean, normalization note
    """
    ALTER TABLE batch_results ADD COLUMN fitness_kind TEXT;
    ALTER TABLE batch_results ADD COLUMN final_fitness REAL;
    ALTER TABLE batch_results ADD COLUMN note TEXT;
    """,
    # 4: batch results: spread over final seeds, target, sparse-fitness baseline, per-baseline scores
    """
    ALTER TABLE batch_results ADD COLUMN final_std REAL;
    ALTER TABLE batch_results ADD COLUMN final_seeds INTEGER;
    ALTER TABLE batch_results ADD COLUMN target_reached INTEGER;
    ALTER TABLE batch_results ADD COLUMN sparse_fitness REAL;
    ALTER TABLE batch_results ADD COLUMN normalized_sparse REAL;
    ALTER TABLE batch_results ADD COLUMN over_random REAL;
    """,
]


class RunIndex:
    """A small SQLite index; opened per use (cheap), safe across processes via SQLite locking."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            self._migrate(db)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, timeout=30)
        db.row_factory = sqlite3.Row
        return db

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS _migrations (n INTEGER PRIMARY KEY, t REAL)")
        done = {row[0] for row in db.execute("SELECT n FROM _migrations")}
        for n, sql in enumerate(MIGRATIONS, start=1):
            if n not in done:
                db.executescript(sql)
                db.execute("INSERT INTO _migrations (n, t) VALUES (?, ?)", (n, time.time()))
        db.commit()

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        if table not in {"runs", "candidates", "batch_results"}:
            raise ValueError(f"unknown table {table}")
        row = {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in row.items()}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._connect() as db:
            db.execute(
                f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({marks})", tuple(row.values())
            )

    def add_llm_call(self, row: dict[str, Any]) -> None:
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._connect() as db:
            db.execute(f"INSERT INTO llm_calls ({cols}) VALUES ({marks})", tuple(row.values()))

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._connect() as db:
            return [dict(r) for r in db.execute(sql, params)]
