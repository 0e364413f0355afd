"""The Locust/wrk cross-check: wrk scripts, pairing, the agreement rule, the cited file, a real run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chatbench.analysing.agreement import agreement
from chatbench.errors import ChatbenchError, UsageError
from chatbench.measuring import crosscheck as xc
from chatbench.measuring import wrk
from chatbench.provisioning import postgres
from chatbench.storing import crosschecks
from chatbench.workflows import crosscheck as crosscheck_wf
from tests.conftest import TEST_SEED, our_leftover_processes

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


def _m(variant: str, pair: int, tool: str, rps: float) -> xc.Measurement:
    return xc.Measurement(variant, pair, tool, rps, int(rps * 10), 10.0, [20], 1.0, 0.0)


def test_pairs_alternate_which_tool_goes_first() -> None:
    assert [xc.pair_order(p) for p in range(4)] == [
        ("locust", "wrk"),
        ("wrk", "locust"),
        ("locust", "wrk"),
        ("wrk", "locust"),
    ]


def test_agreement_needs_the_whole_interval_within_five_percent() -> None:
    close = [_m("d", p, t, r) for p, (a, b) in enumerate([(1000, 1004), (990, 985), (1010, 1012)])
             for t, r in (("wrk", a), ("locust", b))]  # fmt: skip
    agreed = agreement("d", close)
    assert agreed.n == 3 and agreed.agrees
    assert agreed.ratio == pytest.approx((1.004 * 985 / 990 * 1.012 / 1.010) ** (1 / 3), rel=1e-6)

    # Locust 18 % below wrk in every pair (what main measured on django): clearly not.
    low = [_m("d", p, t, r) for p, (a, b) in enumerate([(1330, 1090), (1335, 1100), (1358, 1110)])
           for t, r in (("wrk", a), ("locust", b))]  # fmt: skip
    assert not agreement("d", low).agrees

    # A mean near 1 with a wide spread is not agreement either: the interval decides.
    wide = [_m("d", p, t, r) for p, (a, b) in enumerate([(1000, 1150), (1000, 880), (1000, 990)])
            for t, r in (("wrk", a), ("locust", b))]  # fmt: skip
    spread = agreement("d", wide)
    assert 0.95 < spread.ratio < 1.05 and not spread.agrees


def test_unpaired_measurements_are_left_out_and_two_pairs_never_agree() -> None:
    ms = [_m("d", 0, "wrk", 1000), _m("d", 0, "locust", 1000), _m("d", 1, "wrk", 1000),
          _m("d", 1, "locust", 1000), _m("d", 2, "wrk", 1000)]  # fmt: skip
    result = agreement("d", ms)
    assert result.n == 2 and not result.agrees


def test_config_refuses_what_cannot_give_an_interval() -> None:
    with pytest.raises(UsageError, match="at least 3 pairs"):
        xc.CrossCheckConfig(pairs=2)
    with pytest.raises(UsageError, match="Unknown scenario"):
        xc.CrossCheckConfig(scenario="browse")
    with pytest.raises(UsageError, match="Unknown variant"):
        xc.CrossCheckConfig(variants=("flask",))
    with pytest.raises(UsageError, match="does not run"):
        xc.CrossCheckConfig(variants=("django",), service_env={"fastapi": {"X": "1"}})


def test_wrk_summary_line_is_parsed_and_its_absence_is_an_error() -> None:
    out = 'Running 1s test\n  1 threads\nCHATBENCH {"requests":1200,"duration_us":2000000,"status_errors":0,"timeouts":1,"connect_errors":0,"read_errors":0,"write_errors":0}\n'
    parsed = wrk.parse_wrk_output(out)
    assert parsed.rps == 600.0 and parsed.errors["timeouts"] == 1
    with pytest.raises(ChatbenchError, match="no summary line"):
        wrk.parse_wrk_output("Requests/sec: 100\n")


def test_latest_for_cites_the_newest_file_of_the_scenario(tmp_path: Path) -> None:
    def write(name: str, scenario: str, started: str, variants: list[str]) -> None:
        data = {
            "kind": "chatbench-crosscheck",
            "format_version": crosschecks.CROSSCHECK_FORMAT_VERSION,
            "config": {"scenario": scenario},
            "meta": {"started": started, "git": {"sha": "abc"}},
            "agreements": [{"variant": v, "ratio": 1.0, "agrees": True} for v in variants],
        }
        (tmp_path / name).write_text(json.dumps(data))

    write("crosscheck-chat-1.json", "chat", "2026-11-01T00:00:00+00:00", ["django", "fastapi"])
    write("crosscheck-chat-2.json", "chat", "2026-11-30T00:00:00+00:00", ["django"])
    write("crosscheck-detail-3.json", "detail", "2026-12-01T00:00:00+00:00", ["fastapi"])
    # Newer, but of another configuration (--service-env): never what a run cites.
    write("crosscheck-chat-4.json", "chat", "2026-12-02T00:00:00+00:00", ["django"])
    other = json.loads((tmp_path / "crosscheck-chat-4.json").read_text())
    other["config"]["service_env"] = {"django": {"CHATBENCH_REUSE_PORT": "0"}}
    (tmp_path / "crosscheck-chat-4.json").write_text(json.dumps(other))
    other["config"] = {"scenario": "chat", "normal_priority": True}
    (tmp_path / "crosscheck-chat-5.json").write_text(json.dumps(other))
    (tmp_path / "crosscheck-broken.json").write_text("{not json")

    cited = crosschecks.latest_for(tmp_path, "chat", ["django", "fastapi"])
    assert cited is not None
    assert cited["file"] == "crosscheck-chat-2.json"
    assert set(cited["variants"]) == {"django"} and cited["not_covered"] == ["fastapi"]
    assert crosschecks.latest_for(tmp_path, "write", ["django"]) is None
    assert crosschecks.latest_for(tmp_path / "missing", "chat", ["django"]) is None


def test_latest_for_cites_one_made_on_this_machine_first(tmp_path: Path) -> None:
    """A Locust/wrk ratio measured on another CPU need not hold on this one: a run cites the
    newest cross-check made on its own machine (CPU model and count), a newer one made elsewhere
    only when there is none, and the citation says where it was measured."""

    def write(name: str, started: str, cpu: str) -> None:
        data = {
            "kind": "chatbench-crosscheck",
            "format_version": crosschecks.CROSSCHECK_FORMAT_VERSION,
            "config": {"scenario": "chat"},
            "meta": {"started": started, "machine": {"cpu_model": cpu, "cpu_count": 2}},
            "agreements": [{"variant": "django", "ratio": 1.0, "agrees": True}],
        }
        (tmp_path / name).write_text(json.dumps(data))

    write("crosscheck-chat-1.json", "2026-12-01T00:00:00+00:00", "Intel Xeon")
    write("crosscheck-chat-2.json", "2026-12-07T00:00:00+00:00", "AMD EPYC")
    here = crosschecks.latest_for(tmp_path, "chat", ["django"], machine="Intel Xeon|2cpu")
    assert here is not None and here["file"] == "crosscheck-chat-1.json"
    assert here["machine"] == "Intel Xeon|2cpu"
    elsewhere = crosschecks.latest_for(tmp_path, "chat", ["django"], machine="Arm|4cpu")
    assert elsewhere is not None and elsewhere["file"] == "crosscheck-chat-2.json"
    assert elsewhere["machine"] == "AMD EPYC|2cpu"


def test_a_file_of_another_kind_is_refused_in_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"kind": "chatbench-crosscheck", "format_version": 99}))
    with pytest.raises(UsageError, match="format version"):
        crosschecks.load(path)


@needs_wrk
@pytest.mark.parametrize("scenario", ["chat", "read", "write", "detail"])
def test_each_wrk_script_sends_valid_requests(scenario: str, start_variant, tmp_path: Path) -> None:
    """wrk with each scenario's script gets only successes from a real service."""
    srv = start_variant("fastapi", db_name=f"t_xc_{scenario}")
    script = tmp_path / f"{scenario}.lua"
    script.write_text(
        wrk.wrk_script(
            scenario,
            prefix="t",
            users=4,
            seed_sessions=TEST_SEED.sessions,
            seed_messages=TEST_SEED.messages,
        )
    )
    result = wrk.run_wrk(srv.base_url, connections=4, seconds=1, script=script, cpus=None)
    assert result.requests > 20
    assert not any(result.errors.values()), result.errors
    if scenario in ("chat", "write"):
        # Contents are the locustfile's, escaped as Locust escapes them: the service stored
        # the decoded non-ASCII text, as it does under Locust.
        with postgres.connect(srv.database_url) as conn:
            stored = [r[0] for r in conn.execute(
                "SELECT content FROM chat_messages WHERE session_id LIKE 't-%'"
            )]  # fmt: skip
        assert stored and any(not text.isascii() for text in stored)
        assert not any("\\u" in text for text in stored)


@needs_wrk
@pytest.mark.timeout(240)
def test_a_real_cross_check_writes_pairs_and_a_verdict(tmp_path: Path) -> None:
    cfg = xc.CrossCheckConfig(
        variants=("fastapi",),
        scenario="chat",
        users=4,
        warmup_s=0,
        duration_s=1,
        pairs=3,
        seed_sessions=20,
        seed_messages=5,
    )
    lines: list[str] = []
    running_before = set(our_leftover_processes())  # other tests' session-long services
    result, path = crosscheck_wf.run(cfg, tmp_path, announce=lines.append)
    assert [(m.pair, m.tool) for m in result.measurements] == [
        (0, "locust"), (0, "wrk"), (1, "wrk"), (1, "locust"), (2, "locust"), (2, "wrk"),
    ]  # fmt: skip
    assert all(m.rps > 0 and m.requests > 0 for m in result.measurements)
    # The connection layout was read from the live service: 4 connections, one worker.
    layouts = [m.connections_per_worker for m in result.measurements]
    assert all(sum(layout) == 4 for layout in layouts), layouts
    (agreement,) = result.agreements
    assert agreement.n == 3 and len(agreement.ratios) == 3
    data = crosschecks.load(path)
    assert data["config"]["scenario"] == "chat" and len(data["measurements"]) == 6
    assert crosschecks.latest_for(tmp_path, "chat", ["fastapi"])["variants"]["fastapi"]["n"] == 3
    assert set(our_leftover_processes()) <= running_before
