"""The base commit's source tree for same-runner A/B: a temporary ``git worktree`` of a ref.

``chatbench check --base REF`` serves ``X@base`` from a detached worktree of REF; the worktree
is removed (with git's bookkeeping) on the way out, on success, failure and Ctrl-C alike.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from chatbench.errors import UsageError


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )
    except FileNotFoundError:
        raise UsageError("git is not installed; --base needs it.") from None
    except subprocess.CalledProcessError as exc:
        raise UsageError(
            f"git {' '.join(args)} failed in {repo}: {exc.stderr.strip() or exc.returncode}."
        ) from None


def resolve(repo: Path, ref: str) -> str:
    """The commit sha ``ref`` names in ``repo`` (a usage error when it names none)."""
    if (
        not (repo / ".git").exists()
        and _git(repo, "rev-parse", "--git-dir", check=False).returncode
    ):
        raise UsageError(f"{repo} is not a git repository; --base needs one.")
    out = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if out.returncode != 0 or not out.stdout.strip():
        raise UsageError(f"--base {ref!r} is not a commit in {repo}.")
    return out.stdout.strip()


@contextlib.contextmanager
def worktree(repo: Path, sha: str) -> Iterator[Path]:
    """A temporary detached worktree of ``sha``, removed (with its git bookkeeping) on exit."""
    parent = Path(tempfile.mkdtemp(prefix="chatbench-base-"))
    tree = parent / "tree"
    try:
        _git(repo, "worktree", "add", "--detach", "--quiet", str(tree), sha)
        yield tree
    finally:
        _git(repo, "worktree", "remove", "--force", str(tree), check=False)
        shutil.rmtree(parent, ignore_errors=True)
        _git(repo, "worktree", "prune", check=False)
