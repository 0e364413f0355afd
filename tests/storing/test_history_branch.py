"""The check history on its git branch (``chatbench.storing.history_branch``), against a local
bare repository standing in for the remote: read back, appended without touching the working
tree, merged with a local copy, and pushed again when another job pushed first."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from chatbench.storing import history
from chatbench.storing import history_branch as hb

PATH = "fastapi/history.jsonl"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def make_origin(tmp: Path) -> Path:
    """A bare repository with one commit on main, as GitHub holds the project."""
    origin = tmp / "origin.git"
    git(tmp, "init", "--quiet", "--bare", "-b", "main", str(origin))
    seed = tmp / "seed"
    git(tmp, "clone", "--quiet", str(origin), str(seed))
    (seed / "README.md").write_text("the project\n")
    git(seed, "add", "README.md")
    git(seed, "commit", "--quiet", "-m", "project")
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    return origin


def clone(origin: Path, where: Path) -> Path:
    git(origin.parent, "clone", "--quiet", str(origin), str(where))
    return where


def entry(run_id: str, date: str) -> dict:
    return {**history.record(run_id=run_id, git_sha="abc", machine_class="m", mode="ab",
                             reference="base", passed=True, regressions=[], metrics={}),
            "date": date}  # fmt: skip


def branch_lines(origin: Path) -> list[dict]:
    text = git(origin, "show", f"{hb.BRANCH}:{PATH}")
    return list(history.parse(text))


def test_pull_of_a_missing_branch_keeps_the_local_copy(tmp_path: Path) -> None:
    checkout = clone(make_origin(tmp_path), tmp_path / "a")
    local = checkout / "ci-history" / "history.jsonl"
    history.append(local, entry("r1", "2026-12-01T00:00:00+00:00"))
    assert hb.pull(checkout, local, path=PATH) == 1
    assert [e["run_id"] for e in history.read(local)] == ["r1"]


def test_push_appends_without_touching_the_working_tree_and_pull_reads_it_back(
    tmp_path: Path,
) -> None:
    origin = make_origin(tmp_path)
    checkout = clone(origin, tmp_path / "a")
    head = git(checkout, "rev-parse", "HEAD")
    local = tmp_path / "h.jsonl"
    history.append(local, entry("r1", "2026-12-01T00:00:00+00:00"))
    assert hb.push(checkout, local, path=PATH, message="check r1") == 1
    assert hb.push(checkout, local, path=PATH, message="again") == 0  # nothing new: no commit
    assert git(checkout, "rev-parse", "HEAD") == head and git(checkout, "status", "--short") == ""
    assert git(origin, "log", "--format=%s", hb.BRANCH) == "check r1"
    history.append(local, entry("r2", "2026-12-02T00:00:00+00:00"))
    assert hb.push(checkout, local, path=PATH, message="check r2") == 1
    assert [e["run_id"] for e in branch_lines(origin)] == ["r1", "r2"]
    # Another framework's file on the same branch leaves this one alone.
    other = tmp_path / "d.jsonl"
    history.append(other, entry("d1", "2026-12-03T00:00:00+00:00"))
    hb.push(checkout, other, path="django/history.jsonl", message="django d1")
    fresh = clone(origin, tmp_path / "b")
    into = fresh / "ci-history" / "history.jsonl"
    assert hb.pull(fresh, into, path=PATH) == 2
    assert [e["run_id"] for e in history.read(into)] == ["r1", "r2"]


def test_a_push_refused_because_another_job_pushed_first_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = make_origin(tmp_path)
    a, b = clone(origin, tmp_path / "a"), clone(origin, tmp_path / "b")
    mine, theirs = tmp_path / "mine.jsonl", tmp_path / "theirs.jsonl"
    history.append(mine, entry("mine", "2026-12-02T00:00:00+00:00"))
    history.append(theirs, entry("theirs", "2026-12-01T00:00:00+00:00"))
    real = hb._git
    raced = []

    def racing(repo: Path, *args: str, **kw):
        if args[0] == "push" and repo == a and not raced:
            raced.append(True)  # between our fetch and our push, the other job lands
            assert hb.push(b, theirs, path=PATH, message="theirs") == 1
        return real(repo, *args, **kw)

    monkeypatch.setattr(hb, "_git", racing)
    assert hb.push(a, mine, path=PATH, message="mine") == 1
    assert raced and [e["run_id"] for e in branch_lines(origin)] == ["theirs", "mine"]


def test_merge_is_a_union_ordered_by_date() -> None:
    one, two, three = (entry(f"r{i}", f"2026-12-0{i}T00:00:00+00:00") for i in (1, 2, 3))
    assert hb.merge([one, three], [two, one]) == [one, two, three]
    assert hb.merge([], []) == []


def test_the_last_recorded_head_is_the_next_base_when_it_is_an_ancestor(tmp_path: Path) -> None:
    checkout = clone(make_origin(tmp_path), tmp_path / "a")
    first = git(checkout, "rev-parse", "HEAD")
    (checkout / "x").write_text("x")
    git(checkout, "add", "x")
    git(checkout, "commit", "--quiet", "-m", "second")
    git(checkout, "checkout", "--quiet", "--orphan", "elsewhere")
    git(checkout, "commit", "--quiet", "-m", "unrelated")
    unrelated = git(checkout, "rev-parse", "HEAD")
    git(checkout, "checkout", "--quiet", "main")
    ab = {**entry("r1", "2026-12-01T00:00:00+00:00"), "git_sha": first}
    baseline = {**ab, "mode": "baseline", "git_sha": unrelated}
    assert hb.last_head(checkout, [ab, baseline]) == first  # the newest A/B check's head
    assert hb.last_head(checkout, [{**ab, "git_sha": unrelated}]) is None  # not an ancestor
    assert hb.last_head(checkout, [baseline]) is None
