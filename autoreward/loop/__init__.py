"""The loop room: the iteration (`loop.py`), training the candidates of an iteration
(`candidates.py`), the evidence read back for the LLM (`evidence.py`), human-in-the-loop
refinement (`refine.py`) and the `autoreward run` command (`commands.py`)."""

from autoreward.loop.loop import LoopResult, run_loop

__all__ = ["LoopResult", "run_loop"]
