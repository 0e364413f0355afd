"""Measuring: one run's measurements, repetition by repetition.

The schedule (interleaved A B, B A …; duet pairs), one variant's repetition (clone, serve,
verify, load, read back), the duet (two sides loaded in one wall-clock window), the
``--target`` mode, the control probe of the machine's speed, what Postgres ran
(``pg_stat_statements``, connections), and the Locust/wrk cross-check. Measuring observes and
returns typed results; it writes no record and draws nothing.
"""
