"""Static checks of the CI workflow (GitHub Actions cannot run here): the gate it runs is the
one docs/ci-gate.md describes, one framework per job."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from chatbench.configuration.paths import REPO_ROOT
from chatbench.configuration.settings import RunConfig

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "benchmark.yml"
TESTS = REPO_ROOT / ".github" / "workflows" / "test.yml"


def _check_job() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["check"]


def test_one_job_per_default_framework() -> None:
    job = _check_job()
    assert job["strategy"]["matrix"]["framework"] == list(RunConfig().variants)
    assert job["strategy"]["fail-fast"] is False  # one framework's regression hides no other's


def test_each_job_checks_its_framework_against_a_base() -> None:
    steps = {s.get("name"): s for s in _check_job()["steps"]}
    gate = steps["chatbench check"]
    assert gate["run"].startswith("scripts/ci_check.sh --variants ${{ matrix.framework }} ")
    assert "github.base_ref" in gate["env"]["CHATBENCH_BASE_REF"]
    # ci_check.sh hands its arguments to `chatbench check`, after --base when a ref is given.
    script = (REPO_ROOT / "scripts" / "ci_check.sh").read_text()
    assert 'chatbench check "${args[@]}" "$@"' in script
    # Every argument is one `chatbench check` takes: parsed by the real CLI, bad ones exit 2.
    argv = gate["run"].replace("${{ matrix.framework }}", "fastapi").split()[1:]
    assert _check_parses(argv)


def _check_parses(argv: list[str]) -> bool:
    """``chatbench check ARGV`` gets past option parsing (its exports parse as well)."""
    import typer

    from chatbench import cli
    from chatbench.workflows import check as check_mod

    command = typer.main.get_command(cli.app)
    ctx = command.make_context("chatbench", ["check", *argv], resilient_parsing=True)
    sub = command.get_command(ctx, "check")
    assert sub is not None
    sub_ctx = sub.make_context("check", list(argv))
    exports = check_mod.parse_exports(sub_ctx.params["export"])
    return {kind for kind, _ in exports} == set(check_mod.EXPORTS)


def test_artifacts_are_unique_per_attempt_and_hold_only_the_new_run() -> None:
    steps = {s.get("name"): s for s in _check_job()["steps"]}
    upload = steps["upload the new run and its verdict"]["with"]
    # Two jobs and re-runs of a job: names must differ or an upload collides.
    for part in ("${{ matrix.framework }}", "${{ github.run_id }}", "${{ github.run_attempt }}"):
        assert part in upload["name"]
    assert upload["path"].strip() == "ci-out/"  # not results/ with its committed samples
    assert "--out ci-out" in steps["chatbench check"]["run"]


def test_permissions_are_least_privilege() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert _check_job()["permissions"] == {"contents": "read"}
    comment = doc["jobs"]["comment"]
    assert comment["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert comment["needs"] == "check" and "pull_request" in comment["if"]
    uses = [s.get("uses", "") for s in comment["steps"]]
    assert any(u.startswith("marocchino/sticky-pull-request-comment@") for u in uses)


def test_history_persists_in_the_cache_between_runs() -> None:
    steps = {s.get("name"): s for s in _check_job()["steps"]}
    restore, save = steps["restore the check history"], steps["save the check history"]
    assert restore["uses"].startswith("actions/cache/restore@")
    assert save["uses"].startswith("actions/cache/save@")
    assert restore["with"]["path"] == save["with"]["path"] == "ci-history"
    assert restore["with"]["key"] == save["with"]["key"]
    assert save["with"]["key"].startswith(restore["with"]["restore-keys"])
    assert "--history ci-history/history.jsonl" in steps["chatbench check"]["run"]
    assert (
        "chatbench history --file ci-history/history.jsonl"
        in steps["change points over the history"]["run"]
    )


def _lint(path) -> subprocess.CompletedProcess:
    """check-jsonschema against the GitHub-workflow schema its wheel vendors (no network)."""
    exe = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run(
        [str(exe), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_workflow_passes_the_github_workflow_schema(tmp_path) -> None:
    ok = _lint(WORKFLOW)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yml"  # the linter does fail a wrong workflow
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "runs_on:", 1))
    bad = _lint(broken)
    assert bad.returncode == 1 and "runs_on" in bad.stdout + bad.stderr


def test_the_suite_runs_on_every_supported_python() -> None:
    """3.11 and 3.13, both inside pyproject's requires-python, through `make test`."""
    import tomllib

    from packaging.specifiers import SpecifierSet

    job = yaml.safe_load(TESTS.read_text())["jobs"]["test"]
    pythons = job["strategy"]["matrix"]["python"]
    assert pythons == ["3.11", "3.13"]
    supported = SpecifierSet(
        tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    )
    assert all(f"{v}.0" in supported for v in pythons) and "3.14.0" not in supported
    runs = [s.get("run", "") for s in job["steps"]]
    assert "make test PYTHON=python${{ matrix.python }}" in runs
    setup = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "${{ matrix.python }}"
