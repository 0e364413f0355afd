"""`chatbench check --export`: the verdict in formats dashboards already read.

Bencher Metric Format is validated against Bencher's published JSON schema (vendored in
``tests/fixtures/formats/bmf.schema.json``, from the BMF reference page). github-action-benchmark's
``customSmallerIsBetter`` / ``customBiggerIsBetter`` input is a list of objects with ``name``,
``unit`` and ``value`` (required) and ``range`` and ``extra`` (optional), as its README
documents; nothing else is allowed through.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from chatbench.errors import UsageError
from chatbench.storing import baselines as baseline_mod
from chatbench.workflows import check as check_mod

SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "formats" / "bmf.schema.json"
BASE = [500.0, 650.0, 380.0, 610.0, 450.0]
HEAD = [b * f for b, f in zip(BASE, [0.99, 1.01, 1.0, 0.98, 1.02], strict=True)]
GAB_REQUIRED = {"name": str, "unit": str, "value": (int, float)}
GAB_OPTIONAL = {"range": str, "extra": str}


def _result():
    values = {"fastapi": {"ALL": {"rps": BASE, "p95": BASE, "p99": BASE}}}
    head = {"fastapi": {"ALL": {"rps": HEAD, "p95": HEAD, "p99": HEAD}}}
    return check_mod.compare(
        baseline_mod.Summary(values=values, settings={}, run_id="r"),
        baseline_mod.Summary(values=head, settings={}, run_id="r"),
        rule=check_mod.ab_rule(paired=True),
    )


def test_exports_match_the_documented_formats(tmp_path: Path) -> None:
    exports = check_mod.parse_exports(
        [f"{kind}={tmp_path / kind}.json" for kind in check_mod.EXPORTS]
    )
    check_mod.write_exports(_result(), exports)
    bmf = json.loads((tmp_path / "bmf.json").read_text())
    jsonschema.validate(bmf, json.loads(SCHEMA.read_text()))
    assert set(bmf["fastapi ALL"]) == {"throughput", "p95-latency-ms", "p99-latency-ms"}
    rps = bmf["fastapi ALL"]["throughput"]
    assert rps["lower_value"] < rps["value"] < rps["upper_value"]
    for kind, metrics in (("customBiggerIsBetter", {"rps"}), ("customSmallerIsBetter",
                                                            {"p95", "p99"})):  # fmt: skip
        entries = json.loads((tmp_path / f"{kind}.json").read_text())
        assert {e["name"].split()[-1] for e in entries} == metrics
        for e in entries:
            assert set(e) <= set(GAB_REQUIRED) | set(GAB_OPTIONAL)
            for key, kind_ in GAB_REQUIRED.items():
                assert isinstance(e[key], kind_)
            for key, kind_ in GAB_OPTIONAL.items():
                assert key not in e or isinstance(e[key], kind_)


@pytest.mark.parametrize("bad", ["bmf", "csv=x.json", "bmf=", "=x.json"])
def test_a_bad_export_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match="--export takes KIND=FILE"):
        check_mod.parse_exports([bad])


def test_the_cli_refuses_a_bad_export_before_any_load(capsys) -> None:
    from chatbench import cli

    assert cli.main(["check", "--export", "bmf", "--run", "/nonexistent"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--export takes KIND=FILE with KIND one of bmf" in err
