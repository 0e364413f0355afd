"""Static checks of the CI workflow (GitHub Actions cannot run here): the gate it runs is the
one docs/ci-gate.md describes, one framework per job."""

from __future__ import annotations

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
    assert gate["run"].strip() == "scripts/ci_check.sh --variants ${{ matrix.framework }}"
    assert "github.base_ref" in gate["env"]["CHATBENCH_BASE_REF"]
    # ci_check.sh hands its arguments to `chatbench check`, after --base when a ref is given.
    script = (REPO_ROOT / "scripts" / "ci_check.sh").read_text()
    assert 'chatbench check "${args[@]}" "$@"' in script
    # Two jobs, two artifacts: their names must differ or the second upload fails.
    assert "${{ matrix.framework }}" in steps["upload results"]["with"]["name"]


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
