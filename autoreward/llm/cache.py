"""On-disk answer cache: one JSON file per (model, messages, temperature, sample index).

The key leaves out the API base, timeouts and keys, so the same model behind another endpoint
still hits the cache, and a resumed or repeated run never pays twice for one prompt.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from autoreward.llm.completion import Answer
from autoreward.llm.messages import Messages
from autoreward.store.atomic import atomic_write_json

CACHE_ENV = "AUTOREWARD_CACHE_DIR"


def default_cache_dir() -> Path:
    """`$AUTOREWARD_CACHE_DIR`, else `~/.cache/autoreward/llm`."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "autoreward" / "llm"


def cache_key(model: str, messages: Messages, temperature: float, sample_index: int) -> str:
    payload = {
        "model": model,
        "messages": messages,
        "temperature": float(temperature),
        "sample_index": int(sample_index),
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerCache:
    """`get`/`put` answers by key under `root/<key[:2]>/<key>.json` (atomic writes)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Answer | None:
        path = self._path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Answer.model_validate(data["answer"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            # A damaged entry is a miss: the call is made again and the entry rewritten.
            return None

    def put(self, key: str, answer: Answer, *, role: str, prompt_hash: str) -> None:
        record = {
            "key": key,
            "role": role,
            "prompt_hash": prompt_hash,
            "answer": answer.model_dump(),
        }
        atomic_write_json(self._path(key), record)
