"""URLs the user gives (``chatbench.configuration.urls``): no password shown, load stays local."""

from __future__ import annotations

from chatbench.configuration.urls import redact, target_problem


def test_redact_hides_the_password_and_only_it() -> None:
    url = "postgresql://bob:s3cret@127.0.0.1:5432/postgres?sslmode=disable"
    assert redact(url) == "postgresql://bob:***@127.0.0.1:5432/postgres?sslmode=disable"
    assert "s3cret" not in redact(url)
    assert redact("postgresql://bob@h/db") == "postgresql://bob@h/db"


def test_load_targets_stay_on_loopback() -> None:
    assert target_problem("http://127.0.0.1:8000") is None
    assert target_problem("http://localhost:8000") is None
    assert "non-loopback 192.0.2.10" in str(target_problem("http://192.0.2.10:8000"))
    assert target_problem("http://192.0.2.10:8000", allow_remote=True) is None
    assert "not an http(s) URL" in str(target_problem("ftp://127.0.0.1/x"))
