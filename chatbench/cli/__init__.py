"""The ``chatbench`` command: parses arguments, calls the plain Python API, prints.

Each command is a plain function in a module of this package; here they are registered on the
one Typer ``app`` (``cli.app``), in the order ``--help`` lists them. ``main`` is the entry
point (``pyproject.toml``'s ``chatbench``).
"""

from __future__ import annotations

from chatbench.cli import baselines, catalog, check, results, run, services
from chatbench.cli.app import app, main
from chatbench.cli.options import RUN_CONTEXT

app.command(context_settings=RUN_CONTEXT)(run.run)
app.command()(services.serve)
app.command("loadgen-worker")(services.loadgen_worker)
app.command()(services.verify)
app.command()(services.crosscheck)
app.command()(results.findings)
app.command()(results.report)
app.command()(results.compare)
app.command()(check.check)
app.add_typer(baselines.baseline_app, name="baseline")
app.command()(baselines.history)
app.command("list")(catalog.list_choices)

__all__ = ["app", "main"]
