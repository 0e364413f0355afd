"""Provisioning: what a run stands on, started before any service and stopped after all.

The embedded Postgres cluster (or the user's server), the seeded template and one clone per
variant, the Valkey cache, the CPU plan, free ports, child-process lifecycle, and for
same-runner A/B the base commit's source tree and Python environment. ``provision`` is the one
entry point every command that needs a database uses.
"""
