"""``chatbench.toml``: the options of ``chatbench run``, kept in a file in the working directory.

Every ``chatbench run`` option can be given three ways, the higher winning: on the command line
(``--loadgen-processes 2``), in the environment (``CHATBENCH_LOADGEN_PROCESSES=2``) and in a
``chatbench.toml`` in the working directory (``loadgen_processes = 2``); what none of them gives
comes from the suite, then the profile, then the defaults (``settings.settings``). The key is the
option's name with ``_`` for ``-``; repeatable options take a list, and lists may also be given
as TOML lists where the option takes a comma-separated text (``variants``, ``ramp_steps``,
``equal_load``)::

    # chatbench.toml
    profile = "smoke"
    variants_file = ["variants.toml"]
    variants = ["notes-django", "notes-fastapi"]
    workload = "workload.toml"
    loadgen_processes = 2

:class:`RunOptions` validates the file (an unknown key or a value of the wrong type is one
sentence naming the file and the key, exit 2); the CLI hands the values to Click as the
command's defaults, so Click's own order (command line > environment > file) applies and tells
which of the three gave each value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chatbench.configuration import tomlfile

OPTION_FILE = "chatbench.toml"
ENV_PREFIX = "CHATBENCH"
# Options that are actions, not settings: neither the environment nor the file sets them.
ACTIONS = ("show_config",)


def env_name(option: str) -> str:
    """``loadgen_processes`` → ``CHATBENCH_LOADGEN_PROCESSES``."""
    return f"{ENV_PREFIX}_{option.upper()}"


def _joined(value: object) -> object:
    """A TOML list where the option takes comma-separated text: ``[10, 20]`` → ``"10,20"``."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value


def _listed(value: object) -> object:
    """One value where the option is repeatable: ``"a=URL"`` → ``["a=URL"]``."""
    return [value] if isinstance(value, str) else value


Text = str | None


class RunOptions(BaseModel):
    """The keys of ``chatbench.toml``: every ``chatbench run`` option (``tests/configuration/
    test_optionfile.py`` checks the two lists agree), with the option's type."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    variants: Text = None
    variants_file: list[str] | None = None
    scenario: Text = None
    workload: Text = None
    mode: Text = None
    users: int | None = Field(None, gt=0)
    rate: float | None = Field(None, gt=0)
    duration: float | None = Field(None, gt=0)
    warmup: float | None = Field(None, ge=0)
    repeat: int | None = Field(None, gt=0)
    profile: Text = None
    database_url: Text = None
    out: Text = None
    server_cpus: Text = None
    loadgen_cpus: Text = None
    service_env: list[str] | None = None
    ramp_steps: Text = None
    loadgen_processes: int | None = Field(None, gt=0)
    target: list[str] | None = None
    variant_label: Text = None
    allow_unfair: bool | None = None
    cache_url: Text = None
    cpu_profile: bool | None = None
    open_crosscheck: bool | None = None
    suite: Text = None
    equal_load: Text = None
    reference: Text = None
    slo: Text = None
    contract: Text = None
    arrivals: Text = None

    @field_validator("variants", "ramp_steps", "equal_load", mode="before")
    @classmethod
    def _text_or_list(cls, value: object) -> object:
        return _joined(value)

    @field_validator("variants_file", "service_env", "target", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return _listed(value)


OPTIONS: tuple[str, ...] = tuple(RunOptions.model_fields)


def find(directory: Path | None = None) -> Path | None:
    """``chatbench.toml`` in ``directory`` (the working directory), if there is one."""
    path = (directory or Path.cwd()) / OPTION_FILE
    return path if path.is_file() else None


def read(path: Path) -> dict[str, Any]:
    """The options ``path`` sets, by option name, in the types the options take."""
    where = f"Option file {path}"
    data = tomlfile.read(path, "Option file")
    try:
        options = RunOptions.model_validate(data)
    except ValidationError as exc:
        raise tomlfile.sentence(where, exc, OPTIONS) from None
    return options.model_dump(exclude_unset=True)
