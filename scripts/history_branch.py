#!/usr/bin/env python3
"""The check history on its git branch, for CI (``chatbench.storing.history_branch``).

    scripts/history_branch.py pull --path fastapi/history.jsonl --into ci-history/history.jsonl
    scripts/history_branch.py push --path fastapi/history.jsonl --file ci-out/history.jsonl \\
        --message "chatbench check fastapi abc123"

``pull`` writes the branch's history merged with what ``--into`` already holds (a restored
cache), so a lost cache loses nothing; ``push`` appends the checks the branch lacks, retrying
when another job pushed first; ``last-head --file F`` prints the head of the newest A/B check
in F when it is an ancestor of HEAD (nothing otherwise): a main-branch check's base. Both work on the git repository of the current directory
(``--repo``) and its ``origin`` (``--remote``); the branch is ``chatbench-history``
(``--branch``). Needs the standard library only: it runs before and without ``make venv``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from chatbench.errors import ChatbenchError  # noqa: E402
from chatbench.storing import history  # noqa: E402
from chatbench.storing import history_branch as hb  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="git repository")
    parser.add_argument("--remote", default=hb.REMOTE)
    parser.add_argument("--branch", default=hb.BRANCH)
    sub = parser.add_subparsers(dest="command", required=True)
    pull = sub.add_parser("pull", help="read the branch's history into a file")
    pull.add_argument("--path", required=True, help="the file on the branch")
    pull.add_argument("--into", type=Path, required=True, help="the local history file")
    push = sub.add_parser("push", help="append a file's checks to the branch")
    push.add_argument("--path", required=True, help="the file on the branch")
    push.add_argument("--file", type=Path, required=True, help="the local history file")
    push.add_argument("--message", default="chatbench check history")
    last = sub.add_parser(
        "last-head", help="print the newest A/B check's head if it is an ancestor of HEAD"
    )
    last.add_argument("--file", type=Path, required=True, help="the local history file")
    args = parser.parse_args(argv)
    try:
        if args.command == "last-head":
            sha = hb.last_head(args.repo, history.read(args.file))
            print(sha or "")
            return 0
        if args.command == "pull":
            n = hb.pull(args.repo, args.into, path=args.path, remote=args.remote,
                        branch=args.branch)  # fmt: skip
            print(f"{args.into}: {n} check(s) from {args.branch}:{args.path} and any local copy")
            return 0
        if not args.file.is_file():
            print(f"{args.file} does not exist: no check to record.")
            return 0
        added = hb.push(args.repo, args.file, path=args.path, message=args.message,
                        remote=args.remote, branch=args.branch)  # fmt: skip
        print(f"{args.branch}:{args.path}: {added} check(s) added")
        return 0
    except ChatbenchError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
