"""Locust load for chatbench: the locustfile, its request recorder and the load profiles.

Knows the HTTP API, not the harness: Locust runs ``locustfile.py`` by path, and the harness
(``chatbench.loadgen``) only reads ``profiles/*.toml`` and the files the recorder writes.
"""
