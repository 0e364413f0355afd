"""`pip install .` gives a working chatbench: the wheel, installed outside the checkout, verifies
a service and runs a smoke comparison from an empty directory; with its `history` extra
(Apache Otava), `chatbench history` finds change points, and without it says what to install.

chatbench itself comes only from the wheel: the fresh venv reaches the pinned dependencies
through a .pth naming this checkout's .venv site-packages, a plain path whose own .pth files
(the editable install of the checkout among them) Python does not process. The wheel must
carry the services, load tests, schema and server config under ``chatbench/_bundle`` and no
generic top-level package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=240, **kw)


@pytest.fixture(scope="module")
def wheel_env() -> Iterator[tuple[Path, Path]]:
    """(the wheel, the bin directory of a fresh venv with it installed)."""
    base = Path(tempfile.mkdtemp(prefix="cbw-"))
    try:
        built = _run([sys.executable, "-m", "pip", "wheel", str(REPO_ROOT), "--no-deps",
                      "--no-build-isolation", "-w", str(base / "dist"), "-q"])  # fmt: skip
        assert built.returncode == 0, built.stderr[-2000:]
        [wheel] = (base / "dist").glob("chatbench-*.whl")
        venv = base / "venv"
        assert _run([sys.executable, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
        python = venv / "bin" / "python"
        installed = _run([sys.executable, "-m", "pip", "--python", str(python), "install",
                          "--no-deps", "--no-index", "-q", str(wheel)])  # fmt: skip
        assert installed.returncode == 0, installed.stderr[-2000:]
        purelib = _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        )
        deps = sysconfig.get_path("purelib")  # this .venv's: the pinned dependencies
        (Path(purelib.stdout.strip()) / "_chatbench_deps.pth").write_text(deps + "\n")
        yield wheel, venv / "bin"
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def empty_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cbe-"))  # short: Postgres' socket path is limited
    yield path
    shutil.rmtree(path, ignore_errors=True)


def user_env(scratch: Path) -> dict[str, str]:
    drop = {"PYTHONPATH", "CHATBENCH_DATABASE_URL", "CHATBENCH_CACHE_URL", "VIRTUAL_ENV"}
    return {k: v for k, v in os.environ.items() if k not in drop} | {"TMPDIR": str(scratch)}


def test_the_wheel_ships_the_bundle_and_no_generic_top_level_package(wheel_env) -> None:
    wheel, _ = wheel_env
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"chatbench", "chatbench-0.1.0.dist-info"}
    for needed in ("postgres/schema.sql", "postgres/postgresql.conf", "loadtests/locustfile.py",
                   "loadtests/profiles/smoke.toml", "loadtests/suites/pooling.toml",
                   "impl_django/project/settings.py", "impl_fastapi/serve.py"):  # fmt: skip
        assert f"chatbench/_bundle/{needed}" in names, needed
    # The open-model generator ships its program and pins; its node_modules are `make tools`'s.
    for needed in ("openmodel.mjs", "package.json", "package-lock.json"):
        assert f"chatbench/_bundle/loadtests/openmodel/{needed}" in names, needed
    assert not [n for n in names if "node_modules" in n]
    assert any(
        n.startswith("chatbench/presenting/") and n.endswith((".html", ".j2")) for n in names
    )


def test_the_installed_wheel_verifies_and_runs_from_an_empty_directory(
    wheel_env, empty_dir: Path
) -> None:
    _, bin_dir = wheel_env
    work = empty_dir / "w"
    work.mkdir()
    env = user_env(empty_dir)
    where = _run([str(bin_dir / "python"), "-c",
                  "import chatbench, importlib.util as u; "
                  "print(chatbench.__file__, u.find_spec('impl_django') is None)"],
                 cwd=work, env=env)  # fmt: skip
    module_file, no_top_level = where.stdout.split()
    assert module_file.startswith(str(bin_dir.parent)) and no_top_level == "True", where.stderr
    version = _run([str(bin_dir / "python"), "-m", "chatbench", "--version"], cwd=work, env=env)
    assert version.returncode == 0 and version.stdout.startswith("chatbench 0.1.0")

    verify = _run(
        [str(bin_dir / "chatbench"), "verify", "--variants", "fastapi"], cwd=work, env=env
    )
    assert verify.returncode == 0, verify.stderr[-3000:]

    run = _run([str(bin_dir / "chatbench"), "run", "--profile", "smoke", "--warmup", "1",
                "--duration", "2", "--variants", "fastapi", "--allow-unfair"],
               cwd=work, env=env)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    [run_dir] = (work / "results").iterdir()  # ./results of the directory it started in
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "complete"
    assert (run_dir / "report.html").is_file()
    assert [p.name for p in empty_dir.iterdir()] == ["w"]  # no scratch directory left behind


def _shifted_history(path: Path) -> str:
    """A baseline-check history whose throughput drops 10 % at its 21st check; that commit."""
    import numpy as np

    from chatbench.storing import history

    rng = np.random.default_rng(19)
    shas = [f"{i:02d}" + "c" * 38 for i in range(40)]
    rps = np.concatenate([rng.normal(1000, 12, 20), rng.normal(900, 12, 20)])
    for i, value in enumerate(rps):
        history.append(path, history.record(
            run_id=f"r{i}", git_sha=shas[i], machine_class="m", mode="baseline",
            reference="baseline ci.json", passed=True, regressions=[],
            metrics={"fastapi": {"ALL": {"rps": float(value)}}},
        ))  # fmt: skip
    return shas[20]


def test_the_history_extra_gives_change_points_from_the_installed_wheel(
    wheel_env, empty_dir: Path
) -> None:
    """The wheel names Apache Otava in its `history` extra (pip resolves numpy and scipy to
    versions Otava accepts); installed with it, `chatbench history` names the commit where the
    level shifted; without it, one sentence says what to install (exit 1, no traceback)."""
    wheel, bin_dir = wheel_env
    meta = zipfile.ZipFile(wheel).read("chatbench-0.1.0.dist-info/METADATA").decode()
    assert "Provides-Extra: history" in meta
    assert 'Requires-Dist: apache-otava<0.9,>=0.8; extra == "history"' in meta
    work = empty_dir / "w"
    work.mkdir()
    file = empty_dir / "history.jsonl"
    sha = _shifted_history(file)
    env = user_env(empty_dir)
    args = ["history", "--file", str(file), "--metric", "rps", "--out", str(work / "charts")]
    found = _run([str(bin_dir / "chatbench"), *args], cwd=work, env=env)
    assert found.returncode == 0, found.stderr[-3000:]
    text = " ".join((found.stdout + found.stderr).split())
    assert f"shift at commit {sha}" in text and "worse" in text
    without = _run([str(bin_dir / "python"), "-c",
                    "import sys; sys.modules['otava'] = None; from chatbench.cli import main; "
                    f"sys.exit(main({args!r}))"], cwd=work, env=env)  # fmt: skip
    said = " ".join(without.stderr.split())
    assert without.returncode == 1 and "Traceback" not in said, said
    assert "pip install 'chatbench[history]'" in said
