"""The check history kept in git: a data branch of the repository, which outlives any cache.

Change-point detection (``chatbench history``) needs months of checks, and the CI cache that
held them evicts an entry unused for 7 days. So CI keeps each framework's history as a file
(``<framework>/history.jsonl``) on a branch of the repository itself (``chatbench-history``),
as github-action-benchmark keeps its data on ``gh-pages``: every run reads it back
(:func:`pull`), and every main-branch check is appended to it (:func:`push`).

Unlike github-action-benchmark, nothing here switches the working tree (it holds the commit
under test): the branch is read with ``git show`` and written with git's plumbing through a
private index (``read-tree``, ``hash-object``, ``update-index``, ``write-tree``,
``commit-tree``), then pushed without force. When another job pushed first, the push is
refused; the branch is fetched again, the lines merged again, and the push retried.

Merging is a union: lines already on the branch stay as they are, lines it lacks are added, a
line is the same check when its JSON is the same, and the result is ordered by each check's
date (a stable sort, so the branch's order wins for equal dates). A local copy (the Actions
cache, or a file the push could not deliver last time) therefore only ever adds checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from chatbench.errors import ChatbenchError
from chatbench.storing import history

BRANCH = "chatbench-history"
REMOTE = "origin"
RETRIES = 10  # pushes refused because another job pushed first (github-action-benchmark: 10)
# Used only when the repository has no identity configured (a CI checkout usually has none).
IDENTITY = {
    "GIT_AUTHOR_NAME": "chatbench",
    "GIT_AUTHOR_EMAIL": "chatbench@users.noreply.github.com",
    "GIT_COMMITTER_NAME": "chatbench",
    "GIT_COMMITTER_EMAIL": "chatbench@users.noreply.github.com",
}


class HistoryBranchError(ChatbenchError):
    """The data branch could not be read or written (a git command failed)."""


def _git(
    repo: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True,
        env={**os.environ, **(env or {})}, check=False, timeout=120,
    )  # fmt: skip


def _must(done: subprocess.CompletedProcess[str], what: str) -> str:
    if done.returncode != 0:
        raise HistoryBranchError(f"Could not {what}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def fetch(repo: Path, *, remote: str = REMOTE, branch: str = BRANCH) -> str | None:
    """The commit at the tip of ``remote``'s ``branch``, fetched (None: no such branch yet)."""
    probe = _git(repo, "ls-remote", "--heads", remote, f"refs/heads/{branch}")
    _must(probe, f"list the branches of {remote}")
    if not probe.stdout.strip():
        return None
    done = _git(repo, "fetch", "--quiet", "--no-tags", remote, f"refs/heads/{branch}")
    _must(done, f"fetch {branch} from {remote}")
    return _must(_git(repo, "rev-parse", "FETCH_HEAD"), "read the fetched commit")


def lines_at(repo: Path, commit: str | None, path: str) -> list[dict[str, Any]]:
    """The history lines of ``path`` at ``commit`` ([] when the commit or the file is absent)."""
    if commit is None:
        return []
    shown = _git(repo, "show", f"{commit}:{path}")
    if shown.returncode != 0:
        return []  # the branch exists, this framework's file not yet
    return list(history.parse(shown.stdout))


def merge(*sources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every distinct check of ``sources``, the first source's order kept, ordered by date."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for source in sources:
        for entry in source:
            key = _canonical(entry)
            if key not in seen:
                seen.add(key)
                out.append(entry)
    return sorted(out, key=lambda e: str(e.get("date", "")))


def _canonical(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, allow_nan=False, default=str)


def render(entries: Iterable[dict[str, Any]]) -> str:
    """The history file's text: one canonical JSON line per check."""
    return "".join(_canonical(e) + "\n" for e in entries)


def last_head(repo: Path, entries: Iterable[dict[str, Any]]) -> str | None:
    """The head commit of the newest A/B check in ``entries`` when it is an ancestor of the
    repository's HEAD (None otherwise): the base that continues the chain of head/base ratios
    ``chatbench history`` multiplies, even when checks of commits in between never ran (a
    queued run replaced by a newer one)."""
    heads = [e.get("git_sha") for e in entries if e.get("mode") == "ab" and e.get("git_sha")]
    if not heads:
        return None
    sha = str(heads[-1])
    ancestor = _git(repo, "merge-base", "--is-ancestor", sha, "HEAD")
    return sha if ancestor.returncode == 0 else None


def pull(repo: Path, into: Path, *, path: str, remote: str = REMOTE, branch: str = BRANCH) -> int:
    """Write into ``into`` the branch's history of ``path`` merged with what ``into`` already
    holds (a restored cache); the number of checks it then holds."""
    tip = fetch(repo, remote=remote, branch=branch)
    entries = merge(lines_at(repo, tip, path), history.read(into))
    into.parent.mkdir(parents=True, exist_ok=True)
    into.write_text(render(entries))
    return len(entries)


def push(
    repo: Path,
    source: Path,
    *,
    path: str,
    message: str,
    remote: str = REMOTE,
    branch: str = BRANCH,
    retries: int = RETRIES,
) -> int:
    """Append to the branch's ``path`` every check of ``source`` it lacks, as one commit, and
    push it; retried from a fresh fetch when another job pushed first. The number of checks
    added (0: nothing new, nothing pushed)."""
    local = list(history.read(source))
    for _ in range(retries + 1):
        tip = fetch(repo, remote=remote, branch=branch)
        theirs = lines_at(repo, tip, path)
        merged = merge(theirs, local)
        added = len(merged) - len(theirs)
        if added == 0:
            return 0
        commit = _commit(repo, tip, path, render(merged), message)
        pushed = _git(repo, "push", "--quiet", remote, f"{commit}:refs/heads/{branch}")
        if pushed.returncode == 0:
            return added
        if "rejected" not in pushed.stderr and "fetch first" not in pushed.stderr:
            _must(pushed, f"push {branch} to {remote}")
    raise HistoryBranchError(
        f"Could not push {branch} to {remote}: refused {retries + 1} times (other jobs kept "
        "pushing first); the history file is kept in the artifact, rerun the job to add it."
    )


def _commit(repo: Path, parent: str | None, path: str, text: str, message: str) -> str:
    """A commit of ``parent``'s tree with ``path`` set to ``text``, made through a private
    index so that the working tree and the repository's own index stay untouched."""
    identity = {} if _git(repo, "config", "user.name").stdout.strip() else IDENTITY
    with tempfile.TemporaryDirectory(prefix="chatbench-index-") as tmp:
        env = {**identity, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if parent:
            _must(_git(repo, "read-tree", parent, env=env), "read the branch's tree")
        blob = _must(_git(repo, "hash-object", "-w", "--stdin", stdin=text), "store the file")
        _must(
            _git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env),
            "stage the file",
        )
        tree = _must(_git(repo, "write-tree", env=env), "write the tree")
        args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
        return _must(_git(repo, *args, env=env), "commit the history")
