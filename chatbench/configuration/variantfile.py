"""Variant files: TOML declarations of services-under-test, validated with pydantic.

A variant file holds one ``[variants.NAME]`` table per variant::

    [variants.django-ninja]
    framework = "django"          # the service family: which axes apply, which colours it gets
    server = "gthread"            # the server model, as CHATBENCH_SERVER names it
    command = ["-m", "gunicorn", "--config", "python:impl_django.gunicorn_conf",
               "impl_django.project.wsgi:application"]   # after the Python interpreter
    env = { CHATBENCH_DJANGO_VIEWS = "ninja" }
    health_path = "/health"
    openapi_path = "/openapi.json"  # its OpenAPI document (verify --contract openapi)
    description = "Django 5.2 + Django Ninja on gunicorn gthread"

``description`` may instead be composed from a ``claims`` table (the built-in variants do,
and tests/services/test_variant_claims.py checks each claim on the real service). The built-in
variants are declared this way in ``variants.toml`` beside this module (package data, read with
``importlib.resources``); a project adds its own in a ``variants.toml`` at its root or with
``chatbench run --variants-file FILE``. A bad file is a ``UsageError`` naming the file and key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from chatbench.errors import UsageError

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)]
Word = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)]


class ClaimsEntry(BaseModel):
    """What a description says, one checkable part each (``variants.Claims``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stack: str = Field(min_length=1)
    server: str = Field(min_length=1)
    handlers: str = Field(min_length=1)
    data: str = Field(min_length=1)
    connections: str = Field(min_length=1)


class VariantEntry(BaseModel):
    """One ``[variants.NAME]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    framework: Word
    server: Word
    command: tuple[Annotated[str, StringConstraints(min_length=1)], ...] = Field(min_length=1)
    # The service's working directory, relative to the variant file (a project of one's own
    # outside this checkout, docs/own-services.md); absent: chatbench's own source tree.
    directory: str | None = Field(default=None, min_length=1)
    env: dict[Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")], str] = {}
    health_path: Annotated[str, StringConstraints(pattern=r"^/\S*$")] = "/health"
    # Where the service serves its OpenAPI document (``chatbench verify --contract openapi``).
    openapi_path: Annotated[str, StringConstraints(pattern=r"^/\S*$")] = "/openapi.json"
    description: str | None = Field(default=None, min_length=1)
    claims: ClaimsEntry | None = None


class VariantFile(BaseModel):
    """A whole variant file: ``[variants.NAME]`` tables, in file order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    variants: dict[Name, VariantEntry] = Field(min_length=1)


def parse(text: str, source: str) -> dict[str, VariantEntry]:
    """The variants declared in ``text`` (the contents of ``source``), in order."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"Variant file {source} is not valid TOML: {exc}.") from None
    try:
        declared = VariantFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["loc"][-1:] == ("[key]",):
            key = ".".join(str(part) for part in error["loc"][:-1])
        msg = error["msg"][0].lower() + error["msg"][1:]
        raise UsageError(f"Variant file {source}: key {key}: {msg}.") from None
    for name, entry in declared.variants.items():
        if entry.description is None and entry.claims is None:
            raise UsageError(
                f"Variant file {source}: key variants.{name}: needs a description or claims."
            )
    return dict(declared.variants)


def load(path: Path) -> dict[str, VariantEntry]:
    """The variants declared in the file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise UsageError(f"Variant file {path} cannot be read: {reason}.") from None
    return parse(text, str(path))
