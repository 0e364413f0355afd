"""One repetition's pieces (``chatbench.measuring.repetition``) that need no service."""

from __future__ import annotations

import pytest

from chatbench.configuration import profiles
from chatbench.configuration import settings as config
from chatbench.measuring import repetition
from chatbench.provisioning import cpuplan


@pytest.mark.parametrize("name", ["smoke", "quick", "full"])
def test_each_profile_makes_the_load_spec_it_says(name: str) -> None:
    values = profiles.read_profile(name)
    assert {"users", "warmup_s", "duration_s", "repeat", "mode", "scenario"} <= set(values)
    spec = repetition.load_spec(config.build(name), "http://127.0.0.1:8000", cpuplan.make_plan())
    assert spec.users == values["users"] and spec.duration_s == values["duration_s"]
    assert spec.warmup_s == values["warmup_s"] and spec.scenario == values["scenario"]
