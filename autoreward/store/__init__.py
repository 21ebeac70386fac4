"""The run directory layout, atomic writes, resume, and the SQLite index of runs."""
