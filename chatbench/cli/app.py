"""The Typer app, its consoles, the progress bar, and the one place errors become exit codes.

No state travels below the CLI: each command builds a typed request and hands it to a plain
function (``chatbench.workflows``). Errors the user can cause arrive as ``ChatbenchError`` and
become one sentence and an exit code in :func:`main`; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from chatbench import __version__
from chatbench.configuration import optionfile
from chatbench.configuration.machine import git_info
from chatbench.configuration.paths import REPO_ROOT
from chatbench.errors import ChatbenchError

app = typer.Typer(
    name="chatbench",
    help="Benchmark equivalent Django REST Framework and FastAPI ChatMessage services on PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def warn(text: str, label: str = "warning", style: str = "yellow") -> None:
    """``label: text`` on stderr, the text escaped: a variant label such as
    ``django[pool=none]`` is not a style tag and must print whole."""
    err_console.print(f"[{style}]{label}:[/] {escape(text)}")


def version_text() -> str:
    """``chatbench X.Y.Z``, with the commit when running from a git checkout of chatbench."""
    text = f"chatbench {__version__}"
    # Only our own checkout: an installed wheel's parent directory may sit in someone else's.
    if (REPO_ROOT / ".git").exists() and (REPO_ROOT / "chatbench" / "__init__.py").exists():
        git = git_info(REPO_ROOT)
        if git["sha"]:
            text += f" (git {str(git['sha'])[:12]}{', modified' if git['dirty'] else ''})"
    return text


def _print_version(value: bool) -> None:
    if value:
        console.print(version_text(), markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Benchmark equivalent Django REST Framework and FastAPI ChatMessage services on PostgreSQL."""
    if ctx.invoked_subcommand == "run":
        load_option_file(ctx)


# Key in the context's meta (shared by every command's context) naming the chatbench.toml read.
OPTION_FILE_META = "chatbench.option_file"


def load_option_file(ctx: typer.Context) -> None:
    """chatbench.toml in the working directory becomes ``run``'s defaults (Click's
    ``default_map``): the command line and the environment still win over it."""
    path = optionfile.find()
    if path is None:
        return
    ctx.default_map = {"run": optionfile.read(path)}
    ctx.meta[OPTION_FILE_META] = path.resolve()


@dataclass(frozen=True)
class Invocation:
    """How ``main`` was called (``ctx.obj`` of every command).

    ``report``: after measuring, write the summary, charts and report (tests of the gate and
    of failures pass False: drawing costs seconds and they read raw repetitions)."""

    report: bool = True


def invocation(ctx: typer.Context) -> Invocation:
    return ctx.obj if isinstance(ctx.obj, Invocation) else Invocation()


class RichProgress:
    """Draws a run's phases and the time left. Where stderr is not a terminal (CI logs, a
    pipe) a live bar prints nothing until it ends, so each phase is printed as one line with
    the seconds since the start instead: a long run shows it is alive and where time goes."""

    def __init__(self, total_s: float) -> None:
        self._lines = not err_console.is_terminal
        self._started = time.monotonic()
        self._last = ""
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
            disable=self._lines,
        )
        self._task = self._progress.add_task("starting", total=total_s)

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def phase(self, text: str) -> None:
        # Escaped: a phase names variants such as django[pool=none], not style tags.
        self._progress.update(self._task, description=escape(text))
        if self._lines and text != self._last:
            self._last = text
            elapsed = time.monotonic() - self._started
            err_console.print(f"[{elapsed:6.1f} s] {escape(text)}", highlight=False, soft_wrap=True)

    def advance(self, seconds: float) -> None:
        self._progress.advance(self._task, seconds)


@contextlib.contextmanager
def _terminate_like_ctrl_c() -> Iterator[None]:
    """SIGTERM (kill, timeout, docker stop) cleans up like Ctrl-C: services, Locust and
    Postgres are stopped and a run directory is marked incomplete."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None, *, report: bool = True) -> int:
    """Entry point: run the app and turn chatbench errors into one sentence and an exit code."""
    with _terminate_like_ctrl_c():
        return _main(argv, Invocation(report=report))


def _main(argv: list[str] | None, obj: Invocation) -> int:
    try:
        code = app(args=argv, standalone_mode=False, obj=obj)
        if isinstance(code, int) and code:  # typer.Exit(n) is returned, not raised, here
            return code
    except ChatbenchError as exc:
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}")
        if exc.detail:
            err_console.print(exc.detail, markup=False, highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("[bold red]aborted[/]")
        return 130
    except _click_errors() as exc:  # unknown option, unparsable value, missing argument
        ctx = getattr(exc, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        message = exc.format_message().rstrip(".") + _value_source(ctx, getattr(exc, "param", None))
        if message:  # empty when Click has just printed the help (no arguments at all)
            err_console.print(f"[bold red]error:[/] {message}{hint}.", highlight=False)
        return exc.exit_code if exc.exit_code else 2
    return 0


def _value_source(ctx: typer.Context | None, param: object) -> str:
    """`` (from CHATBENCH_USERS)`` when the refused value came from the environment, and
    `` (from chatbench.toml)`` when from the option file: Click names only the option."""
    name = getattr(param, "name", None)
    if ctx is None or not name:
        return ""
    kind = getattr(ctx.get_parameter_source(name), "name", "")
    if kind == "ENVIRONMENT":
        envvar = getattr(param, "envvar", None) or f"{ctx.auto_envvar_prefix}_{name.upper()}"
        return f" (from the environment variable {envvar})"
    if kind == "DEFAULT_MAP":
        return f" (from {ctx.meta.get(OPTION_FILE_META, optionfile.OPTION_FILE)})"
    return ""


def _click_errors() -> tuple[type[Exception], ...]:
    """Click's exception base: Typer 0.29 vendors Click as ``typer._click``; older use click."""
    found: list[type[Exception]] = []
    try:
        from typer._click.exceptions import ClickException as VendoredClickException

        found.append(VendoredClickException)
    except ImportError:
        pass
    try:
        from click import ClickException

        found.append(ClickException)
    except ImportError:
        pass
    return tuple(found)
