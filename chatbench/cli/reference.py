"""docs/cli.md, the CLI reference, generated from the commands' own ``--help``.

Every command's usage line, description and option rows are read from the Typer app (the
same help records ``chatbench COMMAND --help`` prints), so the reference cannot drift from the
code: ``tests/cli/test_reference.py`` fails when docs/cli.md differs from :func:`render`.
Only what ``--help`` cannot say (where a missing option's value comes from) is written here,
in :data:`NOTES`. Regenerate after changing an option::

    python -m chatbench.cli.reference --write docs/cli.md
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import typer
import typer.main

from chatbench.cli import app
from chatbench.configuration.paths import REPO_ROOT
from chatbench.configuration.profiles import read_profile
from chatbench.configuration.variants import DEFAULT_VARIANTS

DOC = REPO_ROOT / "docs" / "cli.md"
HEADER = """# CLI reference

Generated from `chatbench COMMAND --help` by `python -m chatbench.cli.reference --write
docs/cli.md`; `tests/cli/test_reference.py` fails when this file and `--help` disagree, so do
not edit it by hand. Paths are relative to the repository root.
"""


def _run_note() -> str:
    """What --help cannot say about ``run``: where an option without a default gets its value,
    and what ``make bench`` runs (read from the quick profile, so it cannot go stale)."""
    quick = read_profile("quick")
    variants = len(DEFAULT_VARIANTS)
    load = variants * quick["repeat"] * (quick["warmup_s"] + quick["duration_s"])
    fractions = quick.get("equal_load", ())
    equal = (
        variants
        * len(fractions)
        * quick.get("equal_load_repeat", 0)
        * (quick.get("equal_load_warmup_s", 0) + quick.get("equal_load_duration_s", 0))
    )
    then = (
        f", then latency at equal offered load at "
        f"{', '.join(f'{100 * f:g} %' for f in fractions)} of the slowest variant's capacity: "
        f"{variants} variants × {len(fractions)} rates × {quick.get('equal_load_repeat', 0)} "
        f"repetitions × ({quick.get('equal_load_warmup_s', 0):g} s + "
        f"{quick.get('equal_load_duration_s', 0):g} s) = {equal:g} s"
        if fractions
        else ""
    )
    return (
        f"Without `--variants` the run compares {','.join(DEFAULT_VARIANTS)}. Options shown "
        "without a default take the suite's, then the profile's value "
        "(`loadtests/profiles/<profile>.toml`: smoke, quick, full, and ci for `check`); an "
        "option given on the command line, as its environment variable or in a `chatbench.toml` "
        "in the working directory wins, in that order (docs/configuration.md; "
        "`--loadgen-processes`: the profile's, 1 unless it says otherwise). Without "
        "`--database-url` the run starts an embedded PostgreSQL (with `--target`, "
        "`--database-url` is that service's own database, for the integrity check); without "
        "`--cache-url` an embedded Valkey for `cache=valkey` variants. Without `--server-cpus` / "
        "`--loadgen-cpus` the service gets the upper half of the CPUs and Locust and Postgres "
        "the rest. `make bench` runs `chatbench run` with these defaults (quick profile: "
        f"{variants} variants × {quick['repeat']} repetitions × ({quick['warmup_s']:g} s warm-up "
        f"+ {quick['duration_s']:g} s measured) = {load:g} s of load{then}); pass options with "
        '`make bench ARGS="--profile smoke"`.'
    )


NOTES = {"run": _run_note}


def _commands(group: typer.Context, prefix: str) -> Iterator[tuple[str, typer.Context]]:
    """Every command under ``group``'s, depth first in registration order, as contexts."""
    for name, command in group.command.commands.items():  # type: ignore[attr-defined]
        # The command's own settings, as Click applies them (run's CHATBENCH_ environment
        # variables show in its help rows).
        settings = getattr(command, "context_settings", None) or {}
        ctx = typer.Context(command, parent=group, info_name=name, **settings)
        yield f"{prefix} {name}", ctx
        if hasattr(command, "commands"):
            yield from _commands(ctx, f"{prefix} {name}")


def _cell(text: str) -> str:
    text = text.replace(f"{REPO_ROOT}/", "").replace(str(REPO_ROOT), ".")
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _pipes(text: str) -> str:
    return text.replace("|", "\\|")


def _paragraphs(ctx: typer.Context) -> list[str]:
    return [_cell(p) for p in (ctx.command.help or "").split("\n\n") if p.strip()]


def _section(path: str, ctx: typer.Context) -> list[str]:
    command = ctx.command
    lines = [f"## `{path}`", ""]
    for paragraph in _paragraphs(ctx):
        lines += [paragraph, ""]
    usage = command.get_usage(ctx).removeprefix("Usage: ")
    lines += [f"`{usage}`", ""]
    rows = [p.get_help_record(ctx) for p in command.params if not p.hidden]
    rows = [r for r in rows if r is not None]
    if rows:
        lines += ["| option | meaning |", "| --- | --- |"]
        # A table cell ends at any unescaped |, in a code span too (choices read a|b|c).
        lines += [f"| `{_pipes(opts)}` | {_cell(text)} |" for opts, text in rows]
        lines.append("")
    if note := NOTES.get(path.removeprefix("chatbench ")):
        lines += [note(), ""]
    return lines


def render() -> str:
    """The whole reference: the command list, then one section per command."""
    root = typer.Context(typer.main.get_command(app), info_name="chatbench")
    lines = [HEADER, *_paragraphs(root), ""]
    sections: list[str] = []
    for path, ctx in _commands(root, "chatbench"):
        first = next(iter(_paragraphs(ctx)), "")
        lines.append(f"- [`{path}`](#{path.replace(' ', '-')}): {first}")
        sections += _section(path, ctx)
    return "\n".join([*lines, "", *sections]).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatbench.cli.reference", description=__doc__)
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--write", type=Path, help="Write the reference to this file.")
    what.add_argument("--check", type=Path, help="Exit 1 when this file differs from --help.")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        args.write.write_text(text)
        print(f"CLI reference written to {args.write}.")
    elif args.check:
        if not args.check.is_file() or args.check.read_text() != text:
            print(
                f"{args.check} differs from --help; run `python -m chatbench.cli.reference "
                f"--write {args.check}`.",
                file=sys.stderr,
            )
            return 1
        print(f"{args.check} matches --help.")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
