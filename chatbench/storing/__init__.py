"""Storing: what a run leaves on disk, written atomically and read back through one door.

Atomic writes, the typed and versioned run record (``meta.json``), the run directory's raw
repetitions and samples, baselines (their file format and names), the check history and the
cross-check files.
"""
