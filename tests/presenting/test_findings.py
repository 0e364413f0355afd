"""README's Findings are generated from the committed samples, and a test keeps them equal."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from chatbench import cli
from chatbench.analysing import answers, stats
from chatbench.errors import UsageError
from chatbench.presenting import findings
from chatbench.storing import record as rec
from chatbench.storing.rundir import load_run
from tests.conftest import REPO_ROOT

SAMPLES = REPO_ROOT / "results" / "sample"
README = REPO_ROOT / "README.md"


def test_readme_findings_equal_what_the_committed_samples_give() -> None:
    """Edit a figure in README, or re-measure a sample without `chatbench findings --write
    README.md`, and this fails."""
    assert findings.current_block(README.read_text()) == findings.render(SAMPLES)


def test_the_generated_blocks_of_the_docs_equal_what_the_committed_data_give() -> None:
    """docs/crosscheck.md, docs/cpu-profile.md and docs/ci-gate.md hold generated detail (every
    cross-check, CPU by layer, every gate measurement): stale, and this fails."""
    docs = REPO_ROOT / "docs"
    assert findings.current_block(
        (docs / "cpu-profile.md").read_text(), *findings.LAYERS_MARKERS
    ) == findings.render_layers(SAMPLES)
    assert (
        findings.current_block((docs / "ci-gate.md").read_text(), *findings.GATE_MARKERS)
        == findings.render_gate()
    )
    assert findings.is_current(README, SAMPLES)


def test_every_figure_names_its_interval_and_nothing_at_n2_is_called_a_ci() -> None:
    block = findings.render(SAMPLES)
    # The legend names exactly the methods of the table's brackets, no other (the summary's
    # error counts use a plain t interval, but the table shows none of them).
    summary = pd.read_csv(SAMPLES / "summary.csv")
    shown = summary[
        (summary["endpoint"] == "ALL")
        & summary["metric"].isin([m for m, _, _ in findings.TABLE_METRICS])
    ]
    (legend,) = [line for line in block.splitlines() if line.startswith("Brackets: ")]
    assert (
        legend
        == "Brackets: "
        + "; ".join(stats.METHOD_TEXT[m] for m in sorted(set(shown["interval"])))
        + "."
    )
    for line in block.splitlines():
        if "range of 2" in line:
            assert "95 % CI" not in line, line


def test_a_tampered_readme_fails_the_check_and_write_repairs_it(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    block = findings.render(SAMPLES)
    first_figure = next(line for line in block.splitlines() if line.startswith("| django"))
    tampered = README.read_text().replace(first_figure, first_figure.replace("|", "| 1 ", 2), 1)
    assert tampered != README.read_text()
    readme.write_text(tampered)
    assert cli.main(["findings", "--check", str(readme)]) == 1
    assert cli.main(["findings", "--write", str(readme)]) == 0
    assert cli.main(["findings", "--check", str(readme)]) == 0
    assert readme.read_text() == README.read_text()


def test_markers_are_required(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="markers"):
        findings.replace_block("# README without them\n", "block\n")
    text = f"head\n{findings.START}\nold\n{findings.END}\ntail\n"
    assert (
        findings.replace_block(text, "new\n")
        == f"head\n{findings.START}\nnew\n{findings.END}\ntail\n"
    )
    assert findings.current_block(text) == "old\n"
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    assert cli.main(["findings", "--write", str(readme)]) == 2


def test_a_sample_directory_without_a_run_is_refused(tmp_path: Path) -> None:
    shutil.copytree(SAMPLES / "pooling", tmp_path / "pooling")  # a suite alone is not enough
    with pytest.raises(UsageError, match="no default-comparison run"):
        findings.render(tmp_path)


def test_the_crosscheck_list_in_docs_equals_the_committed_crosschecks() -> None:
    """docs/crosscheck.md lists every committed cross-check, generated like the Findings; the
    README's Findings point there with the count."""
    doc = (REPO_ROOT / "docs" / "crosscheck.md").read_text()
    listed = findings.current_block(doc, *findings.CROSSCHECK_MARKERS)
    assert listed == findings.render_crosschecks()
    committed = sorted((REPO_ROOT / "results" / "crosscheck").glob("crosscheck-*.json"))
    assert len(listed.splitlines()) == len(committed)
    assert all(f"(../results/crosscheck/{p.name})" in listed for p in committed)
    assert f"All {len(committed)} committed Locust/wrk cross-checks" in findings.render(SAMPLES)


def test_the_readme_stays_a_five_minute_read() -> None:
    assert len(README.read_bytes()) <= 12 * 1024


def test_more_contenders_come_from_their_own_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """results/sample/contenders (`--variants django,django-ninja,fastapi`) gets its own
    section in docs/experiments.md, linked from README: the command that made it, every ratio
    to the reference as its answer states it, and each contender's CPU gap by layer; without
    that directory there is no section."""
    run = load_run(SAMPLES / findings.CONTENDERS)
    assert len(run.variants) >= 3
    answer = answers.run_answer(run)
    block = findings.render_contenders(SAMPLES)
    assert block.startswith(f"{', '.join(run.variants)}: ")
    assert f'ARGS="--variants {",".join(run.variants)}' in block
    assert f"- {answer.sentences[1]}" in block and answer.sentences[1].startswith(
        "Throughput ratio"
    )
    for ratio in answer.ratios:
        assert f"{ratio.variant}/{ratio.reference} = {ratio.ratio.value:.2f}×" in block
    for variant in run.variants[1:]:
        assert f"- CPU by layer: {variant} − {run.variants[0]}: " in block
    readme = findings.render(SAMPLES)
    assert f"More contenders ({', '.join(run.variants)})" in readme
    assert "docs/experiments.md#more-contenders" in readme
    assert "## More contenders" in (REPO_ROOT / findings.CONTENDERS_DOC).read_text()
    monkeypatch.setattr(findings, "CONTENDERS", "absent")
    assert "More contenders" not in findings.render(SAMPLES)
    assert findings.render_contenders(SAMPLES).startswith("No more-contenders sample")


def test_the_default_section_gives_every_answer_but_the_closed_loop_note() -> None:
    """README explains once why closed-loop latency is not compared; every other sentence of
    the sample's answer is in the Findings as the answer gives it, the throughput ratio and
    the open-model cross-check as the headline says them."""
    answer = answers.run_answer(SAMPLES)
    block = findings.render(SAMPLES)
    notes = [s for s in answer.sentences if s.startswith(findings.CLOSED_LOOP_NOTE)]
    assert len(notes) == 1 and f"- {notes[0]}" not in block
    for sentence in answer.sentences:
        if not sentence.startswith(findings.RESTATED):
            assert f"- {sentence}" in block, sentence
    # The open-model cross-check: its verdict as the headline says it.
    if any(s.startswith("Open-model cross-check (") for s in answer.sentences):
        assert "- **Open-model cross-check (" in block
    # The ratio is the capacity headline's: its figures, once, in bold.
    for ratio in answer.ratios:
        said = f"{ratio.variant} serves {ratio.ratio.value:.2f}× {ratio.reference}'s"
        assert "- **Capacity (" in block and said in block, said
    assert "- Throughput ratio: " not in block.split("More contenders")[0]


def test_a_crosscheck_made_on_another_machine_is_said_so() -> None:
    """The sample cites a Locust/wrk cross-check; one measured on another CPU is named so."""
    meta = rec.load(SAMPLES)
    cited = meta.crosscheck
    assert cited is not None and cited.file
    assert "on another machine" not in findings._crosscheck_text(meta)  # made here
    elsewhere = meta.but(crosscheck=cited.but(machine="AMD EPYC|2cpu"))
    assert f"{str(cited.started)[:10]}, on another machine (AMD EPYC, 2 CPUs)): " in (
        findings._crosscheck_text(elsewhere)
    )
