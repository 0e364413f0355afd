#!/usr/bin/env bash
# The CI regression gate, for any CI system: install from the pins, then `chatbench check`.
#
#   scripts/ci_check.sh                     stored baseline: results/baselines/ci.json
#   CHATBENCH_BASE_REF=origin/main scripts/ci_check.sh
#                                           same-runner A/B against the merge base with that ref
#   scripts/ci_check.sh --threshold 15%     extra arguments go to `chatbench check`
#
# Exit code is the gate's: 0 no regression, 1 regression (or a failed run), 2 bad arguments
# (e.g. a missing baseline file), 3 not comparable (a baseline from other settings, nothing
# valid to judge), 4 undecided within the budget (too noisy to tell). The verdict is in
# results/<run-id>/verdict.md and, on GitHub Actions, in the job summary ($GITHUB_STEP_SUMMARY).
set -euo pipefail
cd "$(dirname "$0")/.."

make venv

args=()
if [[ "${CHATBENCH_BASE_REF:-}" =~ ^0+$ ]]; then  # a push that created the branch: no "before"
    CHATBENCH_BASE_REF=HEAD~1
fi
if [[ -n "${CHATBENCH_BASE_REF:-}" ]]; then
    if ! base=$(git merge-base HEAD "$CHATBENCH_BASE_REF" 2>/dev/null); then
        echo "error: cannot find the merge base of HEAD and $CHATBENCH_BASE_REF (fetch it first)." >&2
        exit 2
    fi
    echo "chatbench check: same-runner A/B, base $CHATBENCH_BASE_REF (merge base ${base:0:10})"
    args+=(--base "$base")
else
    echo "chatbench check: against the stored baseline"
fi

exec .venv/bin/chatbench check "${args[@]}" "$@"
