"""chatbench.configuration.variantfile and variants.register_file: variants declared in TOML."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chatbench.configuration import variantfile, variants
from chatbench.errors import UsageError

GOOD = """
[variants.throwaway-a]
framework = "fastapi"
server = "uvicorn"
command = ["-m", "impl_fastapi.serve"]
env = { CHATBENCH_FASTAPI_ROUTES = "sync" }
description = "FastAPI sync routes, declared in a test's own file"
"""


def test_the_builtin_variants_are_declared_in_the_package_file() -> None:
    from importlib import resources

    text = resources.files("chatbench.configuration").joinpath("variants.toml").read_text()
    declared = variantfile.parse(text, "builtin")
    assert list(declared)[:5] == [
        "django",
        "django-async",
        "fastapi",
        "fastapi-sync",
        "fastapi-seed",
    ]
    for name, entry in declared.items():
        spec = variants.REGISTRY[name]
        assert spec.args == entry.command and dict(spec.env) == entry.env
        assert spec.claims is not None and spec.description == spec.claims.sentence()


def test_a_file_adds_its_variants_and_axes_apply(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    try:
        assert variants.register_file(path) == ("throwaway-a",)
        spec = variants.get("throwaway-a[pool=none]")
        assert spec.framework == "fastapi" and spec.env["CHATBENCH_FASTAPI_ROUTES"] == "sync"
        assert spec.env["CHATBENCH_DB_POOL"] == "none"
        assert variants.register_file(path) == ("throwaway-a",)  # the same file again: no clash
        other = tmp_path / "other.toml"
        other.write_text(GOOD)
        with pytest.raises(
            UsageError, match=r"other\.toml: key variants\.throwaway-a: .*mine\.toml"
        ):
            variants.register_file(other)
    finally:
        variants.REGISTRY.pop("throwaway-a", None)
        variants._DECLARED_IN.pop("throwaway-a", None)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[variants.x]\nframework = 'django'\nserver = 'gthread'\ndescription = 'd'\n", "variants.x.command"),
        (GOOD.replace('server = "uvicorn"', "server = 3"), "variants.throwaway-a.server"),
        (GOOD + "colour = 'red'\n", "variants.throwaway-a.colour"),
        (GOOD.replace("CHATBENCH_FASTAPI_ROUTES", "lower-case"), "variants.throwaway-a.env.lower-case"),
        (GOOD.replace("[variants.throwaway-a]", '[variants."Bad Name"]'), "variants.Bad Name"),
        (GOOD.replace('description = "FastAPI sync routes, declared in a test\'s own file"', ""),
         "variants.throwaway-a"),
        ("[variants]\n", "variants"),
        ("[variant.x]\n", "variants"),
    ],
)  # fmt: skip
def test_a_bad_file_is_one_sentence_naming_file_and_key(
    tmp_path: Path, text: str, key: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        variants.register_file(path)
    message = str(caught.value)
    assert message.startswith(f"Variant file {path}: key {key}:"), message
    assert message.endswith(".") and "\n" not in message
    assert not any(name.startswith("throwaway") for name in variants.REGISTRY)


def test_unreadable_and_invalid_toml_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"missing\.toml cannot be read"):
        variants.register_file(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[variants.x\n")
    with pytest.raises(UsageError, match=r"broken\.toml is not valid TOML"):
        variants.register_file(broken)


def test_cli_refuses_a_bad_file_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace('server = "uvicorn"', "server = 3"))
    done = subprocess.run(
        [sys.executable, "-m", "chatbench.cli", "run", "--variants-file", str(path),
         "--variants", "throwaway-a", "--profile", "smoke"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    said = " ".join(done.stderr.split())  # the console wraps long lines at a space
    assert f"Variant file {path}: key variants.throwaway-a.server" in said
