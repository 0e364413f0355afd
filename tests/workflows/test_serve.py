"""`chatbench verify`: the contract smoke check plus each endpoint's SQL, without load."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from chatbench import cli

ENDPOINTS = ("POST msgs", "GET history", "GET by id", "DELETE by id")


def test_verify_prints_checks_and_the_sql_of_every_endpoint(
    pg_server_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where its scratch files go
    rc = cli.main(["verify", "--variants", "fastapi", "--database-url", pg_server_url])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "contract check: fastapi" in out and "FAILED" not in out
    assert "SQL work per call" in out
    for label in ENDPOINTS:
        assert label in out
    # The statements themselves are shown, as pg_stat_statements normalised them.
    assert "INSERT INTO chat_messages" in out
    assert "DELETE FROM chat_messages" in out
    assert list(tmp_path.iterdir()) == []  # the service logs went with the services


def test_verify_of_an_unknown_variant_is_a_usage_error(capsys) -> None:
    assert cli.main(["verify", "--variants", "nope"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_django_ninja_runs_the_same_sql_per_request_as_django(
    pg_server_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The django-ninja variant (declared in the project's variants.toml) passes verify, and
    every endpoint sends Postgres the statements the DRF one sends, as often, with the same rows."""
    from chatbench.workflows import serve

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    results = serve.verify("django,django-ninja", database_url=pg_server_url)
    for name, result in results.items():
        assert all(c.ok for c in result.checks), (name, result.checks)

    def work(name: str) -> dict[str, list[tuple[str, int, int]]]:
        sql = results[name].sql
        assert sql is not None and len(sql) == len(ENDPOINTS)
        return {
            label: sorted((s["query"], s["calls"], s["rows"]) for s in entry["statements"])
            for label, entry in sql.items()
        }

    assert work("django-ninja") == work("django")
    assert all(work("django").values())  # not vacuously equal
