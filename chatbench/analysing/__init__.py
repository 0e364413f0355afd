"""Analysing: from stored runs to figures and verdicts; pure functions over records and tables.

The tidy tables (per repetition, per second, the summary), statistics (one interval method per
kind of figure), comparing two runs, the fairness rules and integrity, the CI gate's rule,
per-repetition figures for baselines, the answers a run or a suite gives, the SQL work table
and the Locust/wrk agreement.
"""
