"""Load: Locust, driven headless, and what it measured.

The load spec and the Locust command line, running it (and remote workers) with a deadline,
merging the per-process request files of ``loadtests/recorder.py`` into ``requests.json`` (HDR
histograms, exact counts), and judging whether the load generator kept up (``health``).
"""
