"""chatbench.provisioning.cpuplan: splitting this machine's CPUs between the service and the load side."""

from __future__ import annotations

import dataclasses
import os

import pytest

from chatbench.errors import UsageError
from chatbench.provisioning import cpuplan


def test_plan_on_this_machine() -> None:
    avail = cpuplan.available_cpus()
    assert avail and list(avail) == sorted(set(avail))
    plan = cpuplan.make_plan()
    assert plan.server and plan.loadgen
    assert set(plan.server) | set(plan.loadgen) == set(avail)
    assert plan.note
    if len(avail) >= 2 and hasattr(os, "sched_setaffinity"):
        assert plan.pinned
        assert not set(plan.server) & set(plan.loadgen), "service and load side must not share"
        # The service gets the upper half; the load side keeps CPU 0's interrupt work.
        assert min(plan.server) > max(plan.loadgen)
        assert plan.server_cpu_count == len(avail) - len(avail) // 2
    else:
        assert not plan.pinned
    d = plan.as_dict()
    assert d["server"] == list(plan.server)
    assert d["loadgen"] == d["postgres"] == list(plan.loadgen)
    assert d["pinned"] is plan.pinned and d["note"] == plan.note


def test_single_cpu_pins_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpuplan, "available_cpus", lambda: (3,))
    plan = cpuplan.make_plan()
    assert plan.server == plan.loadgen == (3,)
    assert not plan.pinned
    assert "one CPU" in plan.note


def test_no_affinity_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_setaffinity", raising=False)
    plan = cpuplan.make_plan()
    assert not plan.pinned
    assert plan.server == plan.loadgen
    with pytest.raises(UsageError):
        cpuplan.make_plan(server="0")


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("1", (1,)),
        ("0,2", (0, 2)),
        ("2-3", (2, 3)),
        (" 3 , 0-1 ", (0, 1, 3)),
        ("1,1", (1,)),
        ("0,", (0,)),
    ],
)
def test_parse_cpus(text: str, cpus: tuple[int, ...]) -> None:
    assert cpuplan.parse_cpus(text, "--server-cpus") == cpus


@pytest.mark.parametrize("text", ["", ",", "a", "1-x", "x-2", "1.5", "one", "1;2", "--1"])
def test_parse_errors_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError) as info:
        cpuplan.parse_cpus(text, "--loadgen-cpus")
    assert "--loadgen-cpus" in str(info.value)


def test_explicit_cpus_outside_the_available_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpuplan, "available_cpus", lambda: (0, 1))
    with pytest.raises(UsageError) as info:
        cpuplan.make_plan(server="5")
    assert "--server-cpus" in str(info.value)
    with pytest.raises(UsageError):
        cpuplan.make_plan(loadgen="0-7")
    with pytest.raises(UsageError):
        cpuplan.make_plan(server="zero")


def test_explicit_overlap_is_noted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpuplan, "available_cpus", lambda: (0, 1, 2, 3))
    plan = cpuplan.make_plan(server="1-2", loadgen="2-3")
    assert plan.server == (1, 2) and plan.loadgen == (2, 3)
    assert plan.pinned
    assert "share" in plan.note


def test_explicit_one_side_gets_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpuplan, "available_cpus", lambda: (0, 1, 2, 3))
    plan = cpuplan.make_plan(server="3")
    assert plan.server == (3,) and plan.loadgen == (0, 1, 2)
    assert "share" not in plan.note
    plan = cpuplan.make_plan(loadgen="0")
    assert plan.server == (1, 2, 3) and plan.loadgen == (0,)


def test_explicit_plan_on_this_machine_and_affinity_read_back() -> None:
    avail = cpuplan.available_cpus()
    plan = cpuplan.make_plan(server=str(avail[0]), loadgen=str(avail[0]))
    assert plan.server == plan.loadgen == (avail[0],)
    assert "share" in plan.note
    assert cpuplan.affinity(os.getpid()) == avail
    assert cpuplan.affinity(2**22 + 12345) is None  # no such process


def test_the_load_generator_yields_only_when_pinned_apart_from_the_service() -> None:
    apart = cpuplan.CpuPlan(server=(1,), loadgen=(0,), pinned=True, note="")
    shared = cpuplan.CpuPlan(server=(0, 1), loadgen=(1,), pinned=True, note="")
    unpinned = cpuplan.CpuPlan(server=(0,), loadgen=(0,), pinned=False, note="")
    assert apart.loadgen_yields is hasattr(os, "SCHED_IDLE")
    assert not shared.loadgen_yields and not unpinned.loadgen_yields
    assert shared.as_dict()["loadgen_policy"] == "normal"
    # `crosscheck --normal-priority` turns yielding off for a plan that would yield.
    normal = dataclasses.replace(apart, yield_loadgen=False)
    assert not normal.loadgen_yields and normal.as_dict()["loadgen_policy"] == "normal"


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux-only")
def test_loadgen_preexec_pins_and_idles_the_child() -> None:
    """What Locust and wrk are started with: the OS reports the mask and SCHED_IDLE."""
    import subprocess
    import sys

    cpu = cpuplan.available_cpus()[0]
    probe = "import os; print(sorted(os.sched_getaffinity(0)), os.sched_getscheduler(0))"
    for yield_cpu, policy in ((True, os.SCHED_IDLE), (False, os.SCHED_OTHER)):
        out = subprocess.run(
            [sys.executable, "-c", probe],
            preexec_fn=cpuplan.loadgen_preexec((cpu,), yield_cpu=yield_cpu),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("] ")
        assert out[0] + "]" == str([cpu]) and int(out[1]) == policy
    assert cpuplan.loadgen_preexec(None, yield_cpu=False) is None


def test_without_cpu_affinity_the_plan_pins_nothing_and_the_cpu_rule_is_not_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A platform without affinity (macOS), simulated: "not pinned", the rule "not checked"."""
    from chatbench.analysing import fairness
    from chatbench.storing.record import RunRecord

    monkeypatch.setattr(cpuplan, "affinity_supported", lambda: False)
    plan = cpuplan.make_plan()
    assert not plan.pinned and plan.note == cpuplan.NO_AFFINITY_NOTE
    assert plan.note.startswith("not pinned")
    assert plan.as_dict()["affinity"] is False
    with pytest.raises(UsageError, match="CPU pinning is not available"):
        cpuplan.make_plan(server="1")
    meta = RunRecord.model_validate({"cpu_plan": plan.as_dict()})
    [rule] = [r for r in fairness.judge(meta) if r.name == "cpu_separation"]
    assert rule.verdict == "not checked" and "not pinned" in rule.evidence
    assert "cpu_separation" not in fairness.summarise([rule], allowed=False).violated
    # Where affinity exists but the plan still pins nothing (one CPU), the rule is violated.
    one_cpu = RunRecord.model_validate({"cpu_plan": {**plan.as_dict(), "affinity": True}})
    [rule] = [r for r in fairness.judge(one_cpu) if r.name == "cpu_separation"]
    assert rule.verdict == "violated"
