"""Manipulation envs autoreward provides: Meta-World (Sawyer arm) and Fetch tasks with a
semantic state for reward code. One compatibility-shim module per upstream library
(`metaworld_compat`, `robotics_compat`) keeps their MuJoCo 4 fixes in one place each.
"""
