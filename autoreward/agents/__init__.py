"""Designer, critic and analyzer: prompts from `prompts/`, answers parsed, code repaired.

The agents build prompts and read answers; they never run training or reward code (the loop
hands the designer a `check` function for that).
"""
