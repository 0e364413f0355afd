"""The base commit's Python environment (``chatbench.refenv``), without the package index.

A real build installs ~60 packages from the index (minutes, network), so these tests build with
``linked_venv``: a real, separate virtual environment (its own ``bin/python``) that imports the
candidate's installed packages instead of installing its own. The real builder is exercised on
its failure path only, offline (``--no-index``): the error must be one sentence plus pip's tail.
"""

from __future__ import annotations

import hashlib
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from chatbench.errors import UsageError
from chatbench.provisioning import refenv

LOCK = "requirements.lock"


def linked_venv(lock: Path, venv: Path, log: Path) -> None:
    """A builder for tests: a venv without pip whose interpreter imports the packages of the
    candidate's environment (a ``.pth`` adds its site-packages), so services start from it."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (purelib,) = (venv / "lib").glob("python3*/site-packages")
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in site.getsitepackages())
    (purelib / "_chatbench_candidate.pth").write_text(lines)


class Builds:
    """A builder that counts its calls and delegates to ``linked_venv``."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, lock: Path, venv: Path, log: Path) -> None:
        self.calls += 1
        linked_venv(lock, venv, log)


def _trees(tmp_path: Path, candidate: str | None, base: str | None) -> tuple[Path, Path]:
    repo, tree = tmp_path / "repo", tmp_path / "tree"
    for root, text in ((repo, candidate), (tree, base)):
        root.mkdir()
        if text is not None:
            (root / LOCK).write_text(text)
    return repo, tree


def _envs(root: Path) -> list[Path]:
    return sorted(root.glob(f"{refenv.ENV_PREFIX}*"))


def _enter(repo: Path, tree: Path, **kwargs) -> None:
    """Set the base environment up and leave it at once."""
    with refenv.environment(repo, tree, **kwargs):
        pass


def _never(*args) -> None:
    raise AssertionError("nothing should be built")


@pytest.mark.parametrize("base", ["a==1\n", None])
def test_same_pins_or_no_base_lock_build_nothing(tmp_path: Path, base: str | None) -> None:
    repo, tree = _trees(tmp_path, "a==1\n", base)
    said = []
    with refenv.environment(repo, tree, status=said.append, builder=_never, root=tmp_path) as env:
        assert env.python == sys.executable and not env.built
        assert "both sides ran in the candidate's Python environment" in env.note()
    assert not said and not _envs(tmp_path)


def test_cache_key_is_the_sha256_of_the_base_lock(tmp_path: Path) -> None:
    repo, tree = _trees(tmp_path, "a==1\n", "a==2\n")
    digest = hashlib.sha256(b"a==2\n").hexdigest()
    assert refenv.pins_hash(tree / LOCK) == digest
    with refenv.environment(repo, tree, builder=Builds(), root=tmp_path) as env:
        assert env.path == tmp_path / f"chatbench-env-{digest[:12]}"
        assert env.pins_hash == digest and digest[:12] in env.note()


def test_differing_pins_build_a_separate_interpreter_and_remove_it(tmp_path: Path) -> None:
    repo, tree = _trees(tmp_path, "a==1\n", "a==2\n")
    said, builds = [], Builds()
    with refenv.environment(
        repo, tree, label="base 1234abcd", status=said.append, builder=builds, root=tmp_path
    ) as env:
        assert said == ["building an environment for base 1234abcd (pins differ) …"]
        assert env.built and Path(env.python).is_relative_to(env.path)
        # A separate interpreter (its own prefix) that can import what the services need.
        probe = "import sys, fastapi, django; print(sys.prefix)"
        out = subprocess.run([env.python, "-c", probe], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert Path(out.stdout.strip()) == env.path / "venv"
        assert "built from its pins" in env.note()
    assert builds.calls == 1
    assert not _envs(tmp_path)


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_environment_is_removed_when_the_check_is_interrupted(tmp_path: Path, error) -> None:
    repo, tree = _trees(tmp_path, "a==1\n", "a==2\n")
    with pytest.raises(error), refenv.environment(repo, tree, builder=Builds(), root=tmp_path):
        assert len(_envs(tmp_path)) == 1
        raise error
    assert not _envs(tmp_path)


def test_a_failed_build_is_removed_and_reported(tmp_path: Path) -> None:
    repo, tree = _trees(tmp_path, "a==1\n", "a==2\n")

    def broken(lock: Path, venv: Path, log: Path) -> None:
        venv.mkdir()
        refenv._run([sys.executable, "-c", "import sys; sys.exit('ERROR: no a==2')"], log)

    with pytest.raises(UsageError, match="Could not build the base commit's environment") as exc:
        _enter(repo, tree, builder=broken, root=tmp_path)
    assert "ERROR: no a==2" in exc.value.detail
    assert not _envs(tmp_path)


def test_real_builder_failure_names_the_step_and_shows_pips_tail(tmp_path: Path) -> None:
    """The real ``venv`` + ``pip install -c lock -r lock``, offline: the pin cannot be found."""
    repo, tree = _trees(tmp_path, "a==1\n", "--no-index\nno-such-package-xyz==1.0\n")
    with pytest.raises(UsageError, match=r"`python -m pip install") as exc:
        _enter(repo, tree, root=tmp_path)
    assert "no-such-package-xyz" in exc.value.detail
    assert not _envs(tmp_path)


def test_two_checks_with_the_same_pins_share_one_build(tmp_path: Path) -> None:
    """The second user reuses the first's build; the environment outlives the first to leave
    and is removed by the last (each holds a shared lock on it while its services run)."""
    repo, tree = _trees(tmp_path, "a==1\n", "a==2\n")
    builds = Builds()
    with refenv.environment(repo, tree, builder=builds, root=tmp_path) as outer:
        with refenv.environment(repo, tree, builder=builds, root=tmp_path) as inner:
            assert inner == outer
        assert Path(outer.python).exists()
    assert builds.calls == 1
    assert not _envs(tmp_path)


def test_a_complete_leftover_is_reused_an_incomplete_one_rebuilt(tmp_path: Path) -> None:
    repo, tree = _trees(tmp_path, "a==1\n", "a==2\n")
    path = refenv.env_dir(refenv.pins_hash(tree / LOCK), tmp_path)
    path.mkdir(mode=0o700)
    linked_venv(tree / LOCK, path / "venv", path / "log")  # a killed check's finished build
    (path / refenv.MARKER).write_text("")
    with refenv.environment(repo, tree, builder=_never, root=tmp_path) as env:
        assert env.path == path
    assert not path.exists()

    path.mkdir(mode=0o700)
    (path / "venv").mkdir()  # a killed check's half-finished build
    builds = Builds()
    with refenv.environment(repo, tree, builder=builds, root=tmp_path) as env:
        assert Path(env.python).exists()
    assert builds.calls == 1 and not path.exists()


def test_a_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    repo, tree = _trees(tmp_path, "a==1\n", "a==2\n")
    path = refenv.env_dir(refenv.pins_hash(tree / LOCK), tmp_path)
    path.mkdir()
    os.chmod(path, 0o777)
    with pytest.raises(UsageError, match="not a private directory"):
        _enter(repo, tree, builder=_never, root=tmp_path)
    assert path.exists()  # not ours: left alone
