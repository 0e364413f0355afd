"""The one profile parser, and the names the harness and the locustfile must agree on.

The locustfile and its recorder may not import the harness, so they keep their own copies of
the scenarios, modes, endpoint labels, the history page size and the requests-file version;
these tests read them from the loadtests sources (without importing Locust) and compare.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chatbench.configuration import endpoints, profiles
from chatbench.configuration import settings as config
from chatbench.configuration.paths import LOADTESTS_DIR, WORKLOADS_DIR, workloads
from chatbench.errors import UsageError
from chatbench.load import latency
from chatbench.measuring import wrk


def _constants(path: Path) -> dict[str, object]:
    """Module-level ``NAME = literal`` assignments of a source file."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    found[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return found


def test_the_locustfile_knows_the_same_scenarios_modes_and_labels() -> None:
    locustfile = _constants(LOADTESTS_DIR / "locustfile.py")
    recorder = _constants(LOADTESTS_DIR / "recorder.py")
    assert locustfile["SCENARIOS"] == profiles.SCENARIOS
    assert locustfile["MODES"] == profiles.MODES
    assert recorder["CREATE"] == endpoints.CREATE
    assert recorder["FORMAT_VERSION"] == latency.REQUESTS_FORMAT_VERSION


def test_each_scenario_is_a_workload_file_with_the_endpoint_labels() -> None:
    assert sorted(p.stem for p in WORKLOADS_DIR.glob("*.toml")) == sorted(profiles.SCENARIOS)
    labels = {}
    for scenario in profiles.SCENARIOS:
        loaded = workloads.load(workloads.path_of(scenario))
        assert set(loaded.labels) <= set(endpoints.ENDPOINTS), (scenario, loaded.labels)
        labels[scenario] = loaded.labels
    assert labels["detail"] == (endpoints.DETAIL,) and labels["write"] == (endpoints.CREATE,)
    assert (
        labels["chat"]
        == (endpoints.CREATE, endpoints.HISTORY)
        == (*labels["write"], *labels["read"])
    )
    # The history page wrk's scripts read is the one the chat and read workloads read.
    for scenario in ("chat", "read"):
        (page,) = {
            r.query["limit"]
            for r in workloads.load(workloads.path_of(scenario)).entry.requests
            if r.query
        }
        assert page == wrk.HISTORY_LIMIT


def test_profile_processes_key_sets_loadgen_processes(tmp_path: Path) -> None:
    (tmp_path / "two.toml").write_text("users = 4\nspawn_rate = 4\nprocesses = 2\n")
    assert profiles.read_profile("two", directory=tmp_path)["loadgen_processes"] == 2
    assert config.build(str(tmp_path / "two.toml")).loadgen_processes == 2


# What the four shipped profiles held as `key = value` files (before they became TOML): every
# key, every value, under RunConfig's field names.
SHIPPED = {
    "ci": dict(
        scenario="chat",
        mode="closed",
        users=20,
        spawn_rate=20.0,
        warmup_s=3.0,
        duration_s=10.0,
        repeat=4,
        loadgen_processes=1,
    ),
    "full": dict(
        scenario="chat",
        mode="closed",
        users=50,
        spawn_rate=25.0,
        warmup_s=10.0,
        duration_s=60.0,
        repeat=5,
        loadgen_processes=1,
        rate=500.0,
        ramp_steps=(10, 20, 40, 80, 160),
        ramp_step_s=20.0,
        equal_load=(0.5, 0.8),
        equal_load_warmup_s=2.0,
        equal_load_duration_s=20.0,
        equal_load_repeat=5,
        window_max_s=120.0,
        tail_percentile=99.9,
    ),
    "quick": dict(
        scenario="chat",
        mode="closed",
        users=20,
        spawn_rate=100.0,
        warmup_s=1.0,
        duration_s=3.5,
        repeat=5,
        loadgen_processes=1,
        equal_load=(0.7,),
        equal_load_warmup_s=1.0,
        equal_load_duration_s=5.0,
        equal_load_repeat=3,
        window_max_s=15.0,
        tail_percentile=99.0,
    ),
    "smoke": dict(
        scenario="chat",
        mode="closed",
        users=4,
        spawn_rate=4.0,
        warmup_s=3.0,
        duration_s=5.0,
        repeat=1,
        loadgen_processes=1,
        settle_collections=0,
    ),
}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_a_shipped_profile_holds_exactly_its_settings(name: str) -> None:
    values = profiles.read_profile(name)
    assert values == {**SHIPPED[name], "profile": name}
    assert type(values["spawn_rate"]) is profiles.ProfileSpawnRate  # a floor, not a choice


def test_every_profile_key_is_a_run_config_field() -> None:
    fields = set(config.RECORDED_FIELDS)
    assert {profiles.RUN_FIELDS.get(k, k) for k in profiles.RUN_KEYS} <= fields


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('users = 4\n# a comment\nrun-time = "30s"\n', "unknown key 'run-time'; known keys: "),
        ("users = 0\n", "key users: input should be greater than 0."),
        ('users = "4"\n', "key users: input should be a valid integer."),
        ('mode = "open"\n', "key mode: input should be 'closed', 'rate' or 'ramp'."),
        ('equal_load = "most"\n', "key equal_load: equal-load fractions must be"),
        ("ramp_steps = [10, -1]\n", "key ramp_steps: ramp steps must be positive user counts"),
        ('slo = "fast"\n', "key slo: a latency objective is a percentile"),
        ("tail = 100\n", "key tail: input should be less than 100."),
        ("users = \n", "is not valid TOML"),
    ],
)
def test_a_bad_profile_is_one_sentence_naming_file_and_key(
    tmp_path: Path, text: str, says: str
) -> None:
    (tmp_path / "typo.toml").write_text(text)
    with pytest.raises(UsageError) as info:
        profiles.read_profile("typo", directory=tmp_path)
    assert info.value.exit_code == 2
    message = str(info.value)
    assert says in message and str(tmp_path / "typo.toml") in message
    assert "\n" not in message and message.endswith(".")


def test_an_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match="Unknown profile 'nope'; available: ci, full"):
        profiles.read_profile("nope")


def test_a_key_value_profile_of_the_old_format_is_refused(tmp_path: Path) -> None:
    old = tmp_path / "old.conf"
    old.write_text("users = 3\n")
    with pytest.raises(UsageError, match="is not a TOML file; a profile is a .toml file"):
        profiles.read_profile(old)
