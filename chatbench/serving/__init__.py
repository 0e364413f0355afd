"""Serving: the services under test, started through their command lines and watched.

Starting a variant and waiting until every worker listens, sampling its process tree, the
contract smoke check every run puts a service through before loading it, and the fairness
probes read from the live services and the OS (CPU masks, debug pages, access logs,
keep-alive).
"""
