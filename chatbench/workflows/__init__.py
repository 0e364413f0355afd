"""Workflows: the commands' plain functions, composing the packages below.

``run`` (plan → provision → per repetition: measure → record → judge → integrity), ``bench``
(run, then the report), suites, the CI ``check`` against a baseline, same-runner A/B,
baselines from runs, ``serve``/``verify`` and the cross-check. The CLI calls these and prints.
"""
