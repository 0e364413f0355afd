"""The terminal summary table: every row comes from summary.csv, readable at 80 columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from chatbench.presenting.terminal import summary_table

LABELS = ["django[pool=none]", "django[pool=persistent]", "fastapi[pool=persistent,cache=off]"]


def print_summary(run_dir: Path) -> None:
    """What ``chatbench run`` prints, on an 80-column terminal."""
    shown = summary_table(run_dir, width=80)
    assert shown is not None
    console = Console(width=80)
    console.print(shown[0])
    console.print(shown[1], highlight=False)


def write_summary(run_dir: Path, labels: list[str]) -> None:
    rows = []
    for k, label in enumerate(labels):
        for endpoint in ("POST /api/chat/messages", "ALL"):
            for metric, value in (("rps", 100.0 + k), ("p50", 1.5), ("p95", 2.5), ("p99", 3.5)):
                rows.append(
                    {"variant": label, "endpoint": endpoint, "metric": metric, "value": value,
                     "ci_low": value, "ci_high": value}
                )  # fmt: skip
    pd.DataFrame(rows).to_csv(run_dir / "summary.csv", index=False)


def test_axis_labels_are_shown_whole_and_fit_80_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_summary(tmp_path, LABELS)
    print_summary(tmp_path)
    out = capsys.readouterr().out
    # Each axis value is printed (rich would swallow "[pool=none]" as markup if not escaped).
    for text in ("pool=none", "pool=persistent", "cache=off"):
        assert text in out
    # Each variant's rows are told apart by their rps (100, 101, 102), in registry order.
    assert [f"{100 + k:.1f}" in out for k in range(3)] == [True, True, True]
    assert max(len(line) for line in out.splitlines()) <= 80


def test_plain_names_repeat_on_every_row(tmp_path: Path, capsys) -> None:
    write_summary(tmp_path, ["django", "fastapi"])
    print_summary(tmp_path)
    rows = [ln.split() for ln in capsys.readouterr().out.splitlines()]
    assert ["django", "all", "100.0"] in [r[:3] for r in rows]
    assert ["fastapi", "all", "101.0"] in [r[:3] for r in rows]


def test_after_a_run_the_verdict_comes_first(capsys: pytest.CaptureFixture[str]) -> None:
    """``chatbench run`` prints the answer's sentences and its table before the summary."""
    from chatbench.cli.run import print_after_run
    from chatbench.presenting.headline import headline
    from tests.conftest import REPO_ROOT

    sample = REPO_ROOT / "tests" / "fixtures" / "sample_2026_11_30"  # a reconciled contradiction
    print_after_run(sample)
    out = capsys.readouterr().out
    flat = " ".join(out.split())
    found = headline(sample)
    positions = [flat.index(" ".join(s.split())) for s in found.sentences]
    assert positions == sorted(positions)
    assert flat.index(" ".join(found.reconciled.split())) > positions[-1]
    table = flat.index("answer django fastapi fastapi/django")
    assert positions[-1] < table < flat.index("variant endpoint req/s")
    assert flat.index("variant endpoint req/s") < flat.index("fairness: 9/9 rules held")
    for row in found.rows:
        assert row.answer.split(" ")[0] in out
    assert max(len(line) for line in out.splitlines()) <= 80
