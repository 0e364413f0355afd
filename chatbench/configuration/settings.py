"""Typed run settings: what one `chatbench run` does, validated before anything starts.

A ``RunConfig`` is built from layers, the higher winning: the command line, the environment
(``CHATBENCH_<OPTION>``), ``chatbench.toml`` in the working directory (those three are the
options, ``configuration.optionfile``), a suite's settings, a load profile
(``loadtests/profiles/<name>.toml``), then the defaults below. It is validated once here and
then passed down unchanged; nothing below the CLI reads command-line state. It is stored whole
in every run's ``meta.json``, with ``origins``: where each value came from.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatbench.configuration import variants as variants_mod
from chatbench.configuration import windows
from chatbench.configuration.paths import DEFAULT_RESULTS_DIR, workloads
from chatbench.configuration.profiles import (
    MAX_FRACTION,
    MODES,
    SCENARIOS,
    ProfileSpawnRate,
    parse_slo,
    read_profile,
    slo_parts,
)
from chatbench.configuration.urls import redact, target_problem
from chatbench.configuration.variants import SourceTree
from chatbench.errors import UsageError
from loadtests.arrivals import ARRIVALS, DEFAULT_ARRIVALS

_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
CONTRACTS = ("chat", "openapi", "none")
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class RunConfig:
    variants: tuple[str, ...] = ("django", "fastapi")
    scenario: str = "chat"
    # A workload file (docs/workloads.md) to run instead of the scenario's built-in one
    # (loadtests/workloads/<scenario>.toml), as an absolute path; ``scenario`` is then its name.
    workload: str | None = None
    mode: str = "closed"
    users: int = 20
    spawn_rate: float = 100.0
    rate: float | None = None  # total requests/s, rate mode only
    # How the rate-mode users' sends line up, in every open-model window (loadtests/arrivals.py):
    # "even" (evenly spaced together) or "poisson"; the open-model generator offers the same.
    arrivals: str = DEFAULT_ARRIVALS
    duration_s: float = 15.0
    warmup_s: float = 5.0
    repeat: int = 2
    ramp_steps: tuple[int, ...] = ()
    ramp_step_s: float = 5.0
    profile: str = "quick"
    seed_sessions: int = 1000
    seed_messages: int = 20
    seed: int = 42
    database_url: str | None = None
    out_dir: Path = DEFAULT_RESULTS_DIR
    server_cpus: str | None = None
    loadgen_cpus: str | None = None
    db_max_connections: int = 10
    loadgen_processes: int = 1
    allow_unfair: bool = False
    # Extra environment per variant, e.g. the test-only injectors: {"django": {"CHATBENCH_BURN_US": "200"}}
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    cache_url: str | None = None
    target_url: str | None = None
    variant_label: str | None = None
    # Several running services in one interleaved run (--target NAME=URL, repeatable): name →
    # URL, in order; ``target_url`` is then the first URL and ``variants`` the names.
    targets: dict[str, str] = field(default_factory=dict)
    # The variant every ratio is taken against (--reference); None: the first variant.
    reference: str | None = None
    # Consecutive variants pair up and each pair is measured at the same time (workflows.ab).
    duet: bool = False
    # A duet's side order per repetition (which side is cloned, started and loaded first) is
    # drawn from this seed (measuring.schedule.duet_pairs); None: drawn when the run starts and
    # recorded in meta.json's config.
    order_seed: int | None = None
    # Latency at equal offered load (closed mode, local runs): after the capacity repetitions,
    # open-model repetitions at these fractions of the slowest variant's capacity, the same
    # rate for every variant (workflows.phases.equal_load); () = no such phase.
    equal_load: tuple[float, ...] = ()
    equal_load_warmup_s: float = 1.0
    equal_load_duration_s: float = 4.0  # the shortest open-model window
    equal_load_repeat: int = 3
    # Open-model windows grow from ``equal_load_duration_s`` until they can hold
    # ``tail_percentile`` (where pauses can set it, three of the service's full collections:
    # measuring.live.TailWindowEnd), up to this many seconds.
    window_max_s: float = 30.0
    tail_percentile: float = 99.0
    # An open-model window on a long-lived service ends as soon as it can hold
    # ``tail_percentile`` (measuring.live.TailWindowEnd), at least ``equal_load_duration_s``
    # and at most ``duration_s`` in; set by the open-model phases, not by the user.
    adaptive_window: bool = False
    # Each long-lived service is loaded closed-loop until every serving process has run this
    # many full garbage collections (measuring.live), for at most ``settle_max_s``; 0: not
    # settled (the smoke profile: seconds, not figures).
    settle_collections: int = 1
    settle_max_s: float = 30.0
    # Capacity under a latency objective ("p99=50ms", profiles.parse_slo): after the capacity,
    # per variant the highest open-model rate within it (workflows.phases.slo); None = not asked.
    slo: str | None = None
    # One extra, profiled repetition per variant (measuring.profiling), excluded from every
    # other figure.
    cpu_profile: bool = False
    # Then the open-model answers again, Locust's windows interleaved with those of a generator
    # that is not Locust (workflows.phases.crosscheck).
    open_crosscheck: bool = False
    # What the variants are checked against before load (CONTRACTS): "chat", the bundled
    # ChatMessage contract's smoke check on every service start (and its SQL per endpoint);
    # "openapi", once before measuring, every variant against its own OpenAPI document and
    # the variants against each other (serving.openapi_contract); "none", nothing.
    contract: str = "chat"
    # Where each field's value came from (``settings``): "command line", "environment
    # CHATBENCH_<OPTION>", "file <path>", "suite <name>", "profile <name>", "argument" (given
    # from Python) or "default". meta.json keeps it as ``config.origins``.
    origins: Mapping[str, str] = field(default_factory=dict)
    # Where ``X@label`` variants are served from (same-runner A/B); not part of meta.json's
    # config: the run records each variant's command and interpreter instead.
    sources: Mapping[str, SourceTree] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.spawn_rate, ProfileSpawnRate):  # a profile's floor, not a choice
            rate = spawn_rate_for(self.spawn_rate, self.users, self.warmup_s, self.mode)
            object.__setattr__(self, "spawn_rate", rate)

    def validate(self) -> RunConfig:
        if not self.variants and not self.target_url:
            raise UsageError("No variant to run; give --variants.")
        if not self.target_url:
            for name in self.variants:
                plain, scenario = split_scenario(name)
                variants_mod.get(plain, self.sources)
                if scenario is not None and scenario not in SCENARIOS:
                    raise UsageError(
                        f"Variant {name!r} names unknown scenario {scenario!r}; "
                        f"choose one of {', '.join(SCENARIOS)}."
                    )
        if self.duet and (self.target_url or len(self.variants) % 2 or self.mode == "ramp"):
            raise UsageError(
                "A duet run measures pairs of local variants side by side: it needs an even "
                "number of variants, no --target and a closed or rate mode."
            )
        if self.duet and any(
            variants_mod.get(split_scenario(n)[0], self.sources).axes.get("cache") == "valkey"
            for n in self.variants
        ):
            raise UsageError(
                "A duet run cannot measure cache variants: both sides would share one Valkey "
                "server and serve each other's cached pages; use --sequential."
            )
        if self.workload is not None:
            try:
                workloads.load(self.workload)
            except workloads.WorkloadError as exc:
                raise UsageError(str(exc)) from None
            if self.open_crosscheck:
                raise UsageError(
                    "--open-crosscheck's generator sends the built-in scenarios only; drop it "
                    "with --workload."
                )
        elif self.scenario not in SCENARIOS:
            raise UsageError(
                f"Unknown scenario {self.scenario!r}; choose one of {', '.join(SCENARIOS)}."
            )
        if self.contract not in CONTRACTS:
            raise UsageError(
                f"Unknown contract {self.contract!r}; choose one of {', '.join(CONTRACTS)}."
            )
        if self.mode not in MODES:
            raise UsageError(f"Unknown mode {self.mode!r}; choose one of {', '.join(MODES)}.")
        if self.arrivals not in ARRIVALS:
            raise UsageError(
                f"Unknown arrivals {self.arrivals!r}; choose one of {', '.join(ARRIVALS)}."
            )
        _positive("--users", self.users, maximum=5000)
        _positive("--duration", self.duration_s, maximum=24 * 3600)
        _positive("--repeat", self.repeat, maximum=1000)
        _positive("--loadgen-processes", self.loadgen_processes, maximum=64)
        _positive("--db-max-connections", self.db_max_connections, maximum=1000)
        _positive("seed sessions", self.seed_sessions, maximum=10_000_000)
        _positive("seed messages", self.seed_messages, maximum=10_000)
        if self.warmup_s < 0:
            raise UsageError("--warmup cannot be negative.")
        if not self.spawn_rate > 0:
            raise UsageError(
                f"The spawn rate must be above 0 users per second, not {self.spawn_rate:g}."
            )
        if self.mode != "ramp" and self.users / self.spawn_rate > self.warmup_s + _SPAWN_SLACK_S:
            raise UsageError(
                f"Starting {self.users} users at {self.spawn_rate:g}/s takes "
                f"{self.users / self.spawn_rate:g} s, longer than the {self.warmup_s:g} s warm-up, "
                "so users would still be spawning while measuring; give a longer --warmup "
                "(or a higher spawn_rate in the profile)."
            )
        if self.mode == "rate":
            if self.rate is None or self.rate <= 0:
                raise UsageError(
                    "--mode rate needs --rate, a total request rate above 0 per second."
                )
            if self.users % self.loadgen_processes:
                raise UsageError(
                    f"--mode rate on {self.loadgen_processes} load-generator processes needs "
                    f"--users that divide among them, not {self.users} (the arrival grid "
                    "interleaves equal shares: loadtests/arrivals.py)."
                )
        elif self.rate is not None:
            raise UsageError("--rate only applies to --mode rate.")
        if self.mode == "ramp" and not self.ramp_steps:
            raise UsageError(
                "--mode ramp needs ramp steps (a profile's ramp_steps or --ramp-steps)."
            )
        if self.equal_load:
            if any(not 0 < f <= MAX_FRACTION for f in self.equal_load):
                raise UsageError(
                    f"--equal-load fractions must be above 0 and at most {MAX_FRACTION:g}."
                )
            _positive("equal_load_duration", self.equal_load_duration_s, maximum=24 * 3600)
            _positive("equal_load_repeat", self.equal_load_repeat, maximum=1000)
            if self.equal_load_warmup_s < 0:
                raise UsageError("equal_load_warmup cannot be negative.")
        if not 0 <= self.settle_collections <= 100:
            raise UsageError(
                f"settle must be 0 to 100 full collections, not {self.settle_collections}."
            )
        _positive("settle_max", self.settle_max_s, maximum=3600)
        if not 0 < self.tail_percentile < 100:
            raise UsageError(
                f"tail must be a percentile between 0 and 100, not {self.tail_percentile:g}."
            )
        _positive("window_max", self.window_max_s, maximum=24 * 3600)
        if self.window_max_s < self.equal_load_duration_s:
            raise UsageError(
                f"window_max ({self.window_max_s:g} s) is shorter than equal_load_duration "
                f"({self.equal_load_duration_s:g} s), the shortest window."
            )
        if self.slo is not None:
            percentile, _ = slo_parts(parse_slo(self.slo))
            why = windows.refusal(
                percentile, longest_window_s=self.window_max_s,
                highest_rate=windows.LOADGEN_RATE_PER_PROCESS * self.loadgen_processes,
            )  # fmt: skip
            if why:
                raise UsageError(
                    f"--slo {self.slo} cannot be measured: {why} (a longer window_max, more "
                    "--loadgen-processes or a lower percentile)."
                )
            if self.mode != "closed" or self.target_url or self.duet:
                raise UsageError(
                    "--slo searches from the capacity a closed-loop run of local variants "
                    "measures first: use it with --mode closed, without --target or a duet."
                )
        for variant, env in self.service_env.items():
            if variant not in self.variants:
                raise UsageError(f"--service-env names {variant!r}, which is not in --variants.")
            for key in env:
                if not _ENV_NAME.match(key):
                    raise UsageError(f"--service-env: {key!r} is not an environment variable name.")
        if self.open_crosscheck and not (self.has_equal_load or self.slo):
            raise UsageError(
                "--open-crosscheck measures the open-model answers again: it needs an "
                "equal-load phase or --slo in a closed-loop run of local variants."
            )
        if self.cpu_profile and self.target_url:
            raise UsageError(
                "--cpu-profile samples the services a run starts; it cannot with --target."
            )
        if self.reference is not None and self.reference not in self.variants:
            raise UsageError(
                f"--reference {self.reference!r} is not one of the variants run "
                f"({', '.join(self.variants)})."
            )
        if self.targets:
            for url in self.targets.values():
                _check_target(url)
            if self.variants != tuple(self.targets) or self.target_url != next(
                iter(self.targets.values())
            ):
                raise UsageError("--target NAME=URL names the services; drop --variants.")
            if len(self.targets) > 1 and self.database_url:
                raise UsageError(
                    "--database-url is one service's database; with several --target services "
                    "the integrity check is skipped, so leave it out."
                )
        elif self.target_url:
            _check_target(self.target_url)
            if not self.variant_label:
                raise UsageError("--target needs --variant-label to name the measured service.")
            if self.variants != (self.variant_label,):
                raise UsageError("--target measures one service; drop --variants.")
        return self

    def as_dict(self) -> dict[str, Any]:
        """The config as meta.json stores it: paths as text, no password, no source trees."""
        out = dataclasses.asdict(self)
        del out["sources"]
        out["out_dir"] = str(self.out_dir)
        out["origins"] = dict(self.origins)
        if self.database_url:
            out["database_url"] = redact(self.database_url)
        return out

    @property
    def has_equal_load(self) -> bool:
        """Whether this run measures latency at equal offered load after its capacity: only a
        closed-loop run of local variants measured one at a time has a capacity to start from."""
        return (
            bool(self.equal_load) and self.mode == "closed" and not (self.target_url or self.duet)
        )

    def variant(self, name: str) -> variants_mod.VariantSpec:
        """The registry spec of one of this run's labels; a scenario-qualified suite label
        (``django[cache=off,scenario=read]``) keeps its full name for raw dir, database and
        record."""
        plain, scenario = split_scenario(name)
        spec = variants_mod.get(plain, self.sources)
        return dataclasses.replace(spec, name=name) if scenario else spec


def split_scenario(label: str) -> tuple[str, str | None]:
    """``django[cache=off,scenario=read]`` → (``django[cache=off]``, ``read``); a label without
    ``scenario=`` → (label, None).

    A suite with several scenarios runs every variant once per scenario in ONE run (one
    template database, one interleaved order); the scenario rides in the label, so raw/<label>/,
    its database and every table keep the two apart. It is not an axis of the service.
    """
    base, bracket, inner = label.partition("[")
    if not bracket or "]" not in inner:
        return label, None
    inner, _, rest = inner.partition("]")
    keep, scenario = [], None
    for part in inner.split(","):
        key, eq, value = part.partition("=")
        if eq and key.strip() == "scenario":
            scenario = value.strip()
        else:
            keep.append(part)
    if scenario is None:
        return label, None
    return (f"{base}[{','.join(keep)}]" if keep else base) + rest, scenario


def with_scenario(label: str, scenario: str) -> str:
    """``django[cache=off]`` + ``read`` → ``django[cache=off,scenario=read]`` (see split_scenario)."""
    if label.endswith("]"):
        return f"{label[:-1]},scenario={scenario}]"
    return f"{label}[scenario={scenario}]"


def parse_targets(values: list[str]) -> dict[str, str]:
    """``["a=http://127.0.0.1:8001", ...]`` → ``{"a": "http://127.0.0.1:8001", ...}``, in order."""
    targets: dict[str, str] = {}
    for value in values:
        name, eq, url = value.partition("=")
        name, url = name.strip(), url.strip()
        if not eq or not name or not url or "://" in name:
            raise UsageError(f"--target {value!r} is not NAME=URL (e.g. a=http://127.0.0.1:8001).")
        if not _TARGET_NAME.match(name):
            raise UsageError(
                f"--target name {name!r} may hold only letters, digits, '.', '_' and '-'."
            )
        if name in targets:
            raise UsageError(f"--target names {name!r} twice.")
        targets[name] = url
    return targets


def _check_target(url: str) -> None:
    """A --target must be an http(s) URL on this machine's loopback: load never leaves it."""
    problem = target_problem(url)
    if problem:
        raise UsageError(f"--target must be a loopback http(s) URL, but {problem}.")


# Float tolerance for "all users started within the warm-up" (e.g. 20 users at 6.67/s in 3 s).
_SPAWN_SLACK_S = 1e-6


def spawn_rate_for(floor: float, users: float, warmup_s: float, mode: str) -> float:
    """``floor``, raised so that every user has started by the end of the warm-up. Ramp mode
    steps its users itself, and a zero warm-up cannot be met (validate says so): both keep it."""
    if mode == "ramp" or not users > 0 or not warmup_s > 0:
        return float(floor)
    # Rounded up to 1/1000 user/s: Locust gets the rate printed with %g, and rounding down
    # (20 users in 3 s -> 6.66667/s) would end the spawn a hair after the warm-up.
    return max(float(floor), math.ceil(users / warmup_s * 1000) / 1000)


def _positive(name: str, value: float, *, maximum: float) -> None:
    if not (0 < value <= maximum):
        raise UsageError(f"{name} must be above 0 and at most {maximum:g}, not {value:g}.")


def parse_service_env(items: list[str]) -> dict[str, dict[str, str]]:
    """``["django:CHATBENCH_BURN_US=200"]`` → ``{"django": {"CHATBENCH_BURN_US": "200"}}``."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        variant, sep, assignment = item.partition(":")
        key, eq, value = assignment.partition("=")
        if not sep or not eq or not variant or not key:
            raise UsageError(f"--service-env takes VARIANT:NAME=VALUE, not {item!r}.")
        out.setdefault(variant, {})[key] = value
    return out


# The settings a run has, each with an origin in ``RunConfig.origins``.
RECORDED_FIELDS = tuple(
    f.name for f in dataclasses.fields(RunConfig) if f.name not in ("origins", "sources")
)


def settings(
    profile: str | None = None,
    base: Mapping[str, Any] | None = None,
    *,
    given_by: Mapping[str, str] | None = None,
    base_origin: str = "suite",
    **overrides: Any,
) -> RunConfig:
    """Profile values, then ``base`` (a suite's settings), then every override that is not
    None; NOT validated (``build`` validates; same-runner A/B validates once its source trees
    exist).

    ``given_by`` names where each override came from (the CLI's "command line", "environment
    CHATBENCH_USERS", "file chatbench.toml"; by field, and ``profile`` for the profile's name);
    an override it does not name is an "argument". ``base_origin`` names the base
    ("suite pooling"). The result's ``origins`` holds one of them, "profile NAME" or "default"
    for every field.

    The profile's ``spawn_rate`` is a floor (``ProfileSpawnRate``): without an explicit
    ``spawn_rate`` override it is raised to ``users / warmup``, so ``--users`` or ``--warmup``
    alone keep every user's start inside the warm-up.
    """
    from_profile = read_profile(profile or "quick")
    values = {**from_profile, **(base or {})}
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    if values.get("mode") != "rate" and "rate" not in given:
        values.pop("rate", None)  # the profile's rate belongs to its own rate mode (full.toml)
    named = dict(given_by or {})
    if values.get("workload"):
        if "workload" in given and "scenario" in given:
            raise UsageError(
                "--scenario names a built-in workload and --workload a workload file; give one."
            )
        # Locust runs elsewhere: the file by its absolute path; the run's scenario is its name.
        path = Path(values["workload"]).expanduser().resolve()
        values["workload"], values["scenario"] = str(path), path.stem

    origins: dict[str, str] = {}
    for name in RECORDED_FIELDS:
        if name == "profile":
            origins[name] = named.get("profile", "default" if profile is None else "argument")
        elif name in given:
            origins[name] = named.get(name, "argument")
        elif base and name in base:
            origins[name] = base_origin
        elif name in from_profile and name in values:
            origins[name] = f"profile {values['profile']}"
        else:
            origins[name] = "default"
    if values.get("workload"):  # the scenario is the workload file's name
        origins["scenario"] = origins["workload"]
    return RunConfig(**values, origins=origins)


def build(
    profile: str | None = None,
    base: Mapping[str, Any] | None = None,
    *,
    given_by: Mapping[str, str] | None = None,
    base_origin: str = "suite",
    **overrides: Any,
) -> RunConfig:
    """``settings(...)``, validated."""
    return settings(
        profile, base, given_by=given_by, base_origin=base_origin, **overrides
    ).validate()
