"""One exception family; every user-facing error says what went wrong and how to fix it."""

from __future__ import annotations


class AutorewardError(Exception):
    """Base class. `hint` is a one-line suggestion shown under the message."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(AutorewardError):
    """Bad user input: a malformed YAML, a bad option value."""


class UnknownEnvError(AutorewardError):
    """An environment id that is neither a shipped schema nor a registered gymnasium id."""


class RewardCodeError(AutorewardError):
    """Reward (or fitness) code that fails validation, loading or the dry run."""


class WorkerError(AutorewardError):
    """An isolated worker that crashed, timed out or was killed."""


class LLMError(AutorewardError):
    """An LLM call that failed after retries, or a provider that is not set up."""
