"""Untrusted reward code: static validation, restricted loading, the isolated worker, checks.

Layers, outermost first: `worker.py` (a child process with a scrubbed environment, rlimits,
a wall-clock timeout and, where the OS allows, its own user/PID/network namespaces),
`validate.py` (AST rules), `loader.py` (restricted builtins), `checker.py` (the dry run).
"""
