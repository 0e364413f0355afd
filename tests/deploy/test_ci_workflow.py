"""The CI workflow (GitHub Actions cannot run here): the gate it runs is the one
docs/ci-gate.md describes, one framework per job; its exit codes reach the job; and the check
history outlives the cache — two runs and a cache loss are simulated with the workflow's own
script steps run for real against a local bare repository standing in for GitHub."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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


def _gate_command(run: str) -> str:
    """The ``scripts/ci_check.sh …`` line of the check step, without its exit-code capture."""
    (line,) = [x for x in run.splitlines() if x.strip().startswith("scripts/ci_check.sh ")]
    return line.strip().removesuffix("|| code=$?").strip()


def test_each_job_checks_its_framework_against_a_base() -> None:
    steps = {s.get("name"): s for s in _check_job()["steps"]}
    gate = steps["chatbench check"]
    command = _gate_command(gate["run"])
    assert command.startswith("scripts/ci_check.sh --variants ${{ matrix.framework }} ")
    assert "github.base_ref" in gate["env"]["CHATBENCH_BASE_REF"]
    # ci_check.sh hands its arguments to `chatbench check`, after --base when a ref is given.
    script = (REPO_ROOT / "scripts" / "ci_check.sh").read_text()
    assert 'chatbench check "${args[@]}" "$@"' in script
    # Every argument is one `chatbench check` takes: parsed by the real CLI, bad ones exit 2.
    argv = command.replace("${{ matrix.framework }}", "fastapi").split()[1:]
    assert _check_parses(argv)


@pytest.mark.parametrize(("code", "fails"), [(0, False), (1, True), (2, True), (3, True),
                                             (4, False), (None, True)])  # fmt: skip
def test_the_job_ends_with_the_gates_exit_code_and_undecided_is_a_warning(
    code: int | None, fails: bool
) -> None:
    """The check step keeps the gate's code (so the history and artifacts are still saved);
    the last step, run here with bash, fails the job on 1, 2 and 3 (and when the check never
    reported one) and turns 4 (undecided within the budget) into a visible warning."""
    steps = _check_job()["steps"]
    gate = next(s for s in steps if s.get("name") == "chatbench check")
    assert gate["id"] == "gate" and "|| code=$?" in gate["run"]
    assert 'echo "code=$code" >> "$GITHUB_OUTPUT"' in gate["run"]
    last = steps[-1]
    assert last["name"] == "the gate's exit code" and last["if"] == "always()"
    assert last["env"]["CODE"] == "${{ steps.gate.outputs.code }}"
    env = {"PATH": os.environ["PATH"], **({"CODE": str(code)} if code is not None else {})}
    done = subprocess.run(["bash", "-e", "-c", last["run"]], env=env, capture_output=True,
                          text=True, check=False, timeout=30)  # fmt: skip
    assert (done.returncode != 0) == fails, done.stdout + done.stderr
    if code is not None and fails:
        assert done.returncode == code
    assert ("::warning" in done.stdout) == (code == 4)


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
    # Only the record job writes (the history branch), on pushes to main, running no code
    # under test: the checkout it runs the history script from is main's own.
    record = doc["jobs"]["record"]
    assert record["permissions"] == {"contents": "write", "actions": "read"}
    assert record["needs"] == "check" and "github.event_name == 'push'" in record["if"]
    assert doc[True]["push"]["branches"] == ["main"]  # YAML 1.1 reads the key `on` as True
    assert not any("ci_check" in s.get("run", "") for s in record["steps"])
    comment = doc["jobs"]["comment"]
    assert comment["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert comment["needs"] == "check" and "pull_request" in comment["if"]
    uses = [s.get("uses", "") for s in comment["steps"]]
    assert any(u.startswith("marocchino/sticky-pull-request-comment@") for u in uses)


def _steps(job: str) -> dict[str, dict]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    return {s.get("name"): s for s in doc["jobs"][job]["steps"]}


def test_history_is_read_from_and_written_to_its_branch() -> None:
    check, record = _steps("check"), _steps("record")
    restore = check["restore the check history cache"]
    save = check["save the check history cache"]
    assert restore["uses"].startswith("actions/cache/restore@")
    assert save["uses"].startswith("actions/cache/save@")
    assert restore["with"]["path"] == save["with"]["path"] == "ci-history"
    names = list(check)
    # The branch is read after the cache is restored, and before the check appends to it.
    assert (
        names.index("restore the check history cache")
        < names.index("read the check history from its branch")
        < names.index("chatbench check")
    )
    assert "--history ci-history/history.jsonl" in check["chatbench check"]["run"]
    assert "ci-out/history/history.jsonl" in check["change points over the history"]["run"]
    assert "history_branch.py push" in record["append this check to the history branch"]["run"]


def _substituted(run: str, framework: str, sha: str) -> str:
    """A step's script as GitHub would hand it to bash, with this checkout's Python and
    chatbench standing in for the runner's ``python3`` and ``.venv``."""
    return (
        run.replace("${{ matrix.framework }}", framework)
        .replace("${{ github.sha }}", sha)
        .replace("python3 scripts/", f"{sys.executable} {REPO_ROOT}/scripts/")
        .replace(".venv/bin/chatbench", f"{sys.executable} -m chatbench.cli")
    )


def _run_step(job: str, name: str, cwd: Path, framework: str = "fastapi") -> None:
    sha = _git(cwd, "rev-parse", "HEAD")
    script = _substituted(_steps(job)[name]["run"], framework, sha)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False, timeout=240)  # fmt: skip
    assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def _simulated_run(origin: Path, n: int, work: Path, cache: Path | None) -> Path:
    """One workflow run on main: the check job (cache restored when there is one, the branch
    read, the check appending its line as ``chatbench check --history`` does, the history
    step, the cache saved), then the record job from a checkout of its own with the check's
    artifact. Returns the cache the run saved."""
    from chatbench.storing import history

    runner = work / f"runner-{n}"
    _git(work, "clone", "--quiet", str(origin), str(runner))
    if cache is not None:
        shutil.copytree(cache, runner / "ci-history")  # actions/cache/restore
    _run_step("check", "read the check history from its branch", runner)
    before = [e["run_id"] for e in history.read(runner / "ci-history" / "history.jsonl")]
    base = _base_chosen(runner)
    history.append(
        runner / "ci-history" / "history.jsonl",
        {**history.record(run_id=f"run-{n}", git_sha=_git(runner, "rev-parse", "HEAD"),
                          machine_class="m", mode="ab", reference="base", passed=True,
                          regressions=[], metrics={}),
         "date": f"2026-12-0{n}T00:00:00+00:00"},
    )  # fmt: skip
    _run_step("check", "change points over the history", runner)
    saved = work / f"cache-{n}"
    shutil.copytree(runner / "ci-history", saved)  # actions/cache/save
    assert _git(runner, "status", "--short", "--untracked-files=no") == ""  # tree untouched
    recorder = work / f"record-{n}"
    _git(work, "clone", "--quiet", str(origin), str(recorder))
    shutil.copytree(runner / "ci-out", recorder / "ci-out")  # actions/download-artifact
    _run_step("record", "append this check to the history branch", recorder)
    (saved / "before.json").write_text(json.dumps({"before": before, "base": base}))
    return saved


def _base_chosen(runner: Path) -> str:
    """The base the check step hands ci_check.sh on a push to main: its base-choosing line run
    with bash, the event's own base (``github.event.before``) standing as ``BEFORE``."""
    (line,) = [x for x in _steps("check")["chatbench check"]["run"].splitlines()
               if x.strip().startswith('if [ "$EVENT" = push ]')]  # fmt: skip
    script = _substituted(line.strip(), "fastapi", "") + '\necho "$CHATBENCH_BASE_REF"'
    env = {"PATH": os.environ["PATH"], "EVENT": "push", "CHATBENCH_BASE_REF": "BEFORE"}
    done = subprocess.run(["bash", "-e", "-c", script], cwd=runner, env=env, capture_output=True,
                          text=True, check=True, timeout=60)  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def test_two_runs_and_a_lost_cache_keep_the_whole_history(tmp_path: Path) -> None:
    from chatbench.storing import history
    from chatbench.storing import history_branch as hb

    origin = tmp_path / "origin.git"
    _git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(origin))
    seed = tmp_path / "seed"
    _git(tmp_path, "clone", "--quiet", str(origin), str(seed))
    (seed / "README.md").write_text("the project\n")
    _git(seed, "add", "README.md")
    _git(seed, "commit", "--quiet", "-m", "project")
    _git(seed, "push", "--quiet", "origin", "HEAD:main")
    main = _git(origin, "rev-parse", "main")

    first = _simulated_run(origin, 1, tmp_path, cache=None)
    second = _simulated_run(origin, 2, tmp_path, cache=first)
    third = _simulated_run(origin, 3, tmp_path, cache=None)  # the cache was evicted

    seen = [json.loads((run / "before.json").read_text()) for run in (first, second, third)]
    assert [s["before"] for s in seen] == [[], ["run-1"], ["run-1", "run-2"]]  # run 3: from git
    # On main the base is the last recorded head (here the same commit), else the event's own.
    assert [s["base"] for s in seen] == ["BEFORE", main, main]
    text = _git(origin, "show", f"{hb.BRANCH}:fastapi/history.jsonl")
    assert [e["run_id"] for e in history.parse(text)] == ["run-1", "run-2", "run-3"]
    assert _git(origin, "rev-parse", "main") == main  # the project's branch untouched
    assert len(_git(origin, "log", "--format=%H", hb.BRANCH).split()) == 3


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
