"""`chatbench check --base REF`: base and candidate services measured side by side in one run.

The end-to-end tests build a throwaway git repository holding the two services, commit a
change that slows FastAPI (a default CPU burn per request, through the test-only injector),
and run the real A/B check on it for a few seconds: slowed → exit 1 naming the framework,
endpoint and metric; unchanged → exit 0. Neither may leave a worktree, a registered source
tree or a process behind.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from chatbench import ab, cli, results, variants
from chatbench import baseline as baseline_mod
from chatbench.check import Outcome, Rule
from chatbench.check import headline as check_headline
from chatbench.config import REPO_ROOT, RunConfig
from chatbench.errors import UsageError

SLOW_BURN_US = 10_000  # 10 ms of CPU per request: several times the request's own cost here
# 2 repetitions keep these runs to seconds; the real gate needs 4 for a verdict, so the rule is
# loosened to 2 here: the injected slowdown is several-fold, far beyond chance separation.
# One round each (--budget off): the default 5 min budget would add rounds for undecided verdicts.
TINY = ["--variants", "fastapi", "--profile", "smoke", "--repeat", "2", "--duration", "2",
        "--warmup", "1", "--min-repetitions", "2", "--budget", "off"]  # fmt: skip


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture(scope="module", autouse=True)
def _summary_only() -> Iterator[None]:
    """Runs here write summary.csv but no charts or report: the gate reads raw repetitions,
    the report has its own tests, and drawing costs seconds per run on a busy 2-core box."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(results, "rebuild", lambda run_dir: results.write_summary(run_dir))
        yield


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repo with this checkout's services: HEAD~1 as they are, HEAD with FastAPI slowed."""
    root = tmp_path_factory.mktemp("ab") / "repo"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("impl_django", "impl_fastapi"):
        shutil.copytree(REPO_ROOT / name, root / name, ignore=ignore)
    shutil.copy2(REPO_ROOT / "requirements.lock", root / "requirements.lock")
    _git(root, "init", "--quiet")
    _git(root, "add", "-A")
    _git(root, "commit", "--quiet", "-m", "services")
    config = root / "impl_fastapi" / "config.py"
    text = config.read_text()
    assert "burn_us: int = Field(0, ge=0)" in text
    config.write_text(text.replace("Field(0, ge=0)", f"Field({SLOW_BURN_US}, ge=0)", 1))
    _git(root, "commit", "--quiet", "-am", "slow down fastapi")
    return root


def _leftovers(repo: Path) -> list[str]:
    """Worktrees, registered source trees and processes running from ``repo`` or its worktrees."""
    found = []
    worktrees = [line for line in _git(repo, "worktree", "list").splitlines() if line]
    if len(worktrees) != 1:
        found.append(f"worktrees: {worktrees}")
    found += [str(p) for p in Path(tempfile.gettempdir()).glob("chatbench-base-*/tree")]
    if variants.SOURCE_TREES:
        found.append(f"source trees: {variants.SOURCE_TREES}")
    for proc in psutil.process_iter(["pid", "cwd"]):
        cwd = proc.info.get("cwd") or ""
        if cwd.startswith(str(repo)) or "chatbench-base-" in cwd:
            found.append(f"process {proc.info['pid']} in {cwd}")
    return found


def test_base_side_runs_the_worktree_code(repo: Path) -> None:
    with ab.worktree(repo, ab.resolve(repo, "HEAD~1")) as tree:
        assert "Field(0, ge=0)" in (tree / "impl_fastapi" / "config.py").read_text()
        with ab.source_trees({"base": tree, "head": repo}):
            assert variants.get("fastapi@base").source == str(tree)
            assert variants.get("django@head").source == str(repo)
            assert variants.get("fastapi@base").args == variants.get("fastapi").args
        with pytest.raises(UsageError, match="not set up"):
            variants.get("fastapi@base")
    assert not _leftovers(repo)


def test_worktree_is_removed_on_ctrl_c(repo: Path) -> None:
    with pytest.raises(KeyboardInterrupt), ab.worktree(repo, ab.resolve(repo, "HEAD")) as tree:
        assert tree.is_dir()
        raise KeyboardInterrupt
    assert not tree.exists()
    assert not _leftovers(repo)


def test_unknown_ref_is_a_usage_error(repo: Path, capsys) -> None:
    assert cli.main(["check", "--base", "no-such-ref", "--repo", str(repo), *TINY]) == 2
    assert "is not a commit" in " ".join(capsys.readouterr().err.split())
    assert not _leftovers(repo)


def test_slowed_head_fails_naming_framework_endpoint_and_metric(
    repo: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "results"
    args = ["check", "--base", "HEAD~1", "--repo", str(repo), *TINY, "--out", str(out),
            "--history", str(out / "history.jsonl")]  # fmt: skip
    code = cli.main(args)
    captured = capsys.readouterr()
    assert code == 1, captured.out + captured.err
    err = " ".join(captured.err.split())
    assert "regression: fastapi ALL rps" in err
    assert "regression: fastapi GET /api/chat/messages p95" in err
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    assert {p.name for p in (run_dir / "raw").iterdir()} == {"fastapi@base", "fastapi@head"}
    assert "FAIL" in (run_dir / "verdict.md").read_text()
    assert not _leftovers(repo)
    # The A/B run directory can be judged again later, without load.
    rejudge = ["check", "--run", str(run_dir), "--history", str(tmp_path / "h")]
    assert cli.main(rejudge) == 0  # the default rule: 2 repetitions can only be undecided
    assert "undecided" in capsys.readouterr().out
    assert cli.main([*rejudge, "--min-repetitions", "2"]) == 1
    assert "regression: fastapi ALL rps" in " ".join(capsys.readouterr().err.split())


def test_unchanged_head_passes(repo: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "results"
    # HEAD vs HEAD: the same code on both sides (its burn switched off on both through the
    # per-side service environment). The threshold only keeps this tiny, noisy run (2
    # repetitions on a shared machine) from judging noise; the slowdown above is ~5×.
    args = ["check", "--base", "HEAD", "--repo", str(repo), *TINY, "--out", str(out),
            "--threshold", "60%", "--history", str(out / "history.jsonl"),
            "--service-env", "fastapi@base:CHATBENCH_BURN_US=0",
            "--service-env", "fastapi@head:CHATBENCH_BURN_US=0"]  # fmt: skip
    code = cli.main(args)
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert "PASS" in captured.out
    assert not _leftovers(repo)


STRICT = Rule(threshold=0.05, noise_k=0)  # no noise term: these made-up values are noisy


def _ab_summary(base: list[float], head: list[float]) -> baseline_mod.Summary:
    return baseline_mod.Summary(
        values={"fastapi@base": {"ALL": {"rps": base}}, "fastapi@head": {"ALL": {"rps": head}}},
        settings={},
        run_id="r",
    )


def _fake_rounds(monkeypatch, rounds: list[baseline_mod.Summary]):
    """A measure() whose each call 'runs' the next of ``rounds``, and the configs it got."""
    seen: list[RunConfig] = []
    by_dir = {}

    def measure(cfg: RunConfig, progress=None) -> Path:
        seen.append(cfg)
        path = Path(f"/nonexistent/round-{len(seen)}")
        by_dir[path] = rounds[len(seen) - 1]
        return path

    monkeypatch.setattr(baseline_mod, "from_run", lambda d: by_dir[Path(d)])
    return seen, measure


def test_adaptive_stopping_adds_rounds_only_while_undecided(repo: Path, monkeypatch) -> None:
    rounds = [
        _ab_summary([100, 140, 90], [95, 150, 120]),  # overlapping, wide: undecided
        _ab_summary([120, 85], [90, 130]),  # still undecided, pooled
        _ab_summary([100, 101, 100, 99, 100, 100], [100, 99, 101, 100, 100, 100]),  # no change
        _ab_summary([1.0, 1.0], [1.0, 1.0]),  # never reached
    ]
    seen, measure = _fake_rounds(monkeypatch, rounds)
    result, summary = ab.run_ab(
        lambda names: RunConfig(variants=names, repeat=4), frameworks=("fastapi",),
        ref="HEAD", repo=repo, budget_s=3600, measure=measure, rule=STRICT,
    )  # fmt: skip
    assert [c.repeat for c in seen] == [4, 2, 2]
    assert seen[0].variants == ("fastapi@base", "fastapi@head")
    (finding,) = result.findings
    assert finding.outcome is Outcome.NO_CHANGE and len(finding.reference) == 11
    assert any("3 rounds judged together" in n for n in result.notes)
    assert not _leftovers(repo)


def test_without_budget_an_undecided_verdict_is_reported_not_retried(
    repo: Path, monkeypatch
) -> None:
    seen, measure = _fake_rounds(monkeypatch, [_ab_summary([100, 140, 90], [95, 150, 120])] * 2)
    result, _ = ab.run_ab(
        lambda names: RunConfig(variants=names, repeat=3), frameworks=("fastapi",),
        ref="HEAD", repo=repo, measure=measure, rule=STRICT,
    )  # fmt: skip
    assert len(seen) == 1
    assert result.passed and result.count(Outcome.UNDECIDED) == 1
    assert "1 undecided" in check_headline(result)


def test_budget_spent_leaves_the_verdict_undecided_and_says_so(repo: Path, monkeypatch) -> None:
    seen, measure = _fake_rounds(monkeypatch, [_ab_summary([100, 140, 90], [95, 150, 120])] * 2)
    result, _ = ab.run_ab(
        lambda names: RunConfig(variants=names, repeat=3), frameworks=("fastapi",),
        ref="HEAD", repo=repo, measure=measure, rule=STRICT, budget_s=1e-6,
    )  # fmt: skip
    assert len(seen) == 1
    assert any("still undecided when the 0 s budget ran out" in n for n in result.notes)


def _ab_metrics(**metrics: tuple[list[float], list[float]]) -> baseline_mod.Summary:
    """An A/B summary with ``metric=(base values, head values)`` for fastapi ALL."""
    return baseline_mod.Summary(
        values={
            "fastapi@base": {"ALL": {m: base for m, (base, _) in metrics.items()}},
            "fastapi@head": {"ALL": {m: head for m, (_, head) in metrics.items()}},
        },
        settings={},
        run_id="r",
    )


def test_extra_rounds_only_rejudge_undecided_findings(repo: Path, monkeypatch) -> None:
    steady = [100.0, 101.0, 99.0, 100.5, 99.5]
    rounds = [
        # p95 decided "no change" in round 1; rps undecided.
        _ab_metrics(p95=(steady, steady), rps=([100, 140, 90], [95, 150, 120])),
        # Later rounds would turn the pooled p95 into a regression: it must stay frozen.
        _ab_metrics(p95=([100.0] * 2, [300.0] * 2), rps=([120, 85], [90, 130])),
        _ab_metrics(
            p95=([100.0] * 6, [300.0] * 6),
            rps=([100, 101, 100, 99, 100, 100], [100, 99, 101, 100, 100, 100]),
        ),
        _ab_metrics(p95=([1.0] * 2, [1.0] * 2), rps=([1.0] * 2, [1.0] * 2)),  # never reached
    ]
    seen, measure = _fake_rounds(monkeypatch, rounds)
    result, _ = ab.run_ab(
        lambda names: RunConfig(variants=names, repeat=4), frameworks=("fastapi",),
        ref="HEAD", repo=repo, budget_s=3600, measure=measure, rule=STRICT,
    )  # fmt: skip
    assert len(seen) == 3
    by_metric = {f.metric: f for f in result.findings}
    assert by_metric["p95"].outcome is Outcome.NO_CHANGE
    assert by_metric["p95"].reference == tuple(steady)  # round 1's values, not the pool
    assert by_metric["rps"].outcome is Outcome.NO_CHANGE and len(by_metric["rps"].reference) == 11
    assert result.passed
    assert any("decided in an earlier round kept" in n for n in result.notes)
    assert not _leftovers(repo)


def test_an_ab_run_whose_base_side_was_all_excluded_fails_not_a_usage_error(monkeypatch) -> None:
    summary = baseline_mod.Summary(
        values={"fastapi@head": {"ALL": {"rps": [100.0, 101.0, 99.0, 100.0]}}},
        settings={},
        run_id="r",
        excluded=[
            {"variant": "fastapi@base", "repetition": k, "reason": "loadgen saturated"}
            for k in (1, 2, 3, 4)
        ],
    )
    monkeypatch.setattr(baseline_mod, "from_run", lambda d: summary)
    result, _ = ab.judge_run(Path("/nonexistent/ab-run"))
    assert not result.passed
    (reason,) = result.unjudged
    assert reason.startswith("reference fastapi: every repetition was excluded as invalid")


@pytest.mark.parametrize(("given", "budget_s"), [([], 300.0), (["--budget", "off"], None),
                                                 (["--budget", "90s"], 90.0)])  # fmt: skip
def test_ab_budget_defaults_to_five_minutes(monkeypatch, tmp_path, given, budget_s) -> None:
    seen = {}

    def fake_run_ab(build, **kwargs):
        seen.update(kwargs)
        raise UsageError("stop here")  # the CLI's own clean exit, no load

    monkeypatch.setattr(ab, "run_ab", fake_run_ab)
    args = ["check", "--base", "HEAD", "--out", str(tmp_path), *given]
    assert cli.main(args) == 2
    assert seen["budget_s"] == budget_s


def test_budget_needs_base_and_a_duration(capsys) -> None:
    assert cli.main(["check", "--budget", "5m", "--run", "/nonexistent"]) == 2
    assert cli.main(["check", "--base", "HEAD", "--budget", "soon"]) == 2
    assert "--budget takes a duration like 5m" in " ".join(capsys.readouterr().err.split())
