"""The run record: ``meta.json``, typed, versioned, written per repetition, read by one loader.

One frozen pydantic model per part of the record (configuration, machine, CPU plan, variants,
Postgres, the per-repetition entries, the fairness evidence, the control probe, the cache, the
suite). The run writes the whole record after every repetition (``save``); everything that
reads a run (fairness, the report, baselines, the gate, answers, findings) goes through
:func:`load`, which refuses a format version it does not know in one sentence, and reads
fields, never raw dict keys.

The file's keys are a contract (docs/interfaces.md; ``tests/storing/test_record.py`` round-trips
committed runs and checks a fresh one against a golden list): a record loaded from a file
writes back exactly the keys it was read with (``exclude_unset``), keys it does not know
included (``extra="allow"``: older runs carry evidence that newer ones no longer collect), and
a new record names every key it writes explicitly.

``RUN_FORMAT_VERSION`` is the one version of every JSON file of a run directory
(``meta.json``, ``summary.json``, ``check.json``, ``answer.json``). Files with formats of their
own keep their own, named, versions: ``requests.json`` (``load.latency``, shared with
``loadtests/recorder.py``), baselines, ``compare.json`` and cross-checks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from chatbench.errors import UsageError
from chatbench.storing.atomic import json_safe, write_json_atomic

RUN_FORMAT_VERSION = 1
META = "meta.json"
Number = int | float


class Part(BaseModel):
    """A part of the record: immutable, and keeping keys it does not know."""

    model_config = ConfigDict(frozen=True, extra="allow")

    def dump(self) -> dict[str, Any]:
        """The part as JSON would hold it, with exactly the keys it was given."""
        return json_safe(self.model_dump(mode="json", exclude_unset=True))

    def but(self, **changes: Any) -> Any:
        """A copy with ``changes`` (each counted as given, so it is written)."""
        return self.model_copy(update=changes)


# -- what was run, where ------------------------------------------------------------------


class ConfigRecord(Part):
    """``RunConfig.as_dict()``: the run's settings as given (defaults for older files)."""

    variants: list[str] = []
    scenario: str | None = None
    mode: str | None = None
    users: int | None = None
    spawn_rate: Number | None = None
    rate: Number | None = None
    arrivals: str | None = None  # rate mode's arrival process (None: runs before the choice)
    duration_s: Number | None = None
    warmup_s: Number | None = None
    repeat: int | None = None
    ramp_steps: list[int] = []
    ramp_step_s: Number | None = None
    profile: str | None = None
    seed_sessions: int | None = None
    seed_messages: int | None = None
    seed: int | None = None
    database_url: str | None = None
    out_dir: str | None = None
    server_cpus: str | None = None
    loadgen_cpus: str | None = None
    db_max_connections: int | None = None
    loadgen_processes: int | None = None
    allow_unfair: bool = False
    service_env: dict[str, dict[str, str]] = {}
    cache_url: str | None = None
    target_url: str | None = None
    variant_label: str | None = None
    targets: dict[str, str] = {}
    reference: str | None = None
    duet: bool = False
    order_seed: int | None = None  # a duet's side order per repetition (measuring.schedule)
    equal_load: list[Number] = []
    equal_load_warmup_s: Number | None = None
    equal_load_duration_s: Number | None = None
    equal_load_repeat: int | None = None
    window_max_s: Number | None = None
    tail_percentile: Number | None = None
    adaptive_window: bool = False
    settle_collections: int | None = None
    settle_max_s: Number | None = None
    open_crosscheck: bool = False
    slo: str | None = None
    cpu_profile: bool = False
    workload: str | None = None  # a workload file run instead of the scenario's built-in one
    contract: str | None = None  # "chat", "openapi" or "none" (None: runs before the choice)
    # Where each value came from (RunConfig.origins): "command line", "environment
    # CHATBENCH_<OPTION>", "file <chatbench.toml>", "suite <name>", "profile <name>",
    # "argument" or "default"; absent in runs before it was recorded.
    origins: dict[str, str] = {}


class ContractRecord(Part):
    """``--contract openapi``: the variants checked against their own OpenAPI documents and
    against each other before anything was measured (``serving.openapi_contract``)."""

    services: list[str] = []
    operations: dict[str, int] = {}
    probes: int = 0
    seed: int | None = None
    examples: int | None = None
    ok: bool = False
    differences: list[str] = []  # the first of them, as sentences
    violations: list[str] = []


class GitRecord(Part):
    sha: str | None = None
    dirty: bool | None = None
    branch: str | None = None


class MachineRecord(Part):
    hostname: str | None = None
    platform: str | None = None
    python: str | None = None
    cpu_model: str | None = None
    cpu_count: int | None = None
    cpu_mhz: Number | None = None
    memory_bytes: int | None = None
    load_average: list[float] | None = None
    ci: bool | None = None

    @property
    def machine_class(self) -> str:
        """A coarse label for comparing baselines: same CPU model and core count."""
        return f"{self.cpu_model}|{self.cpu_count}cpu"


class CpuPlanRecord(Part):
    affinity: bool | None = None  # whether the OS offers CPU affinity (None: older runs)
    server: list[int] = []
    loadgen: list[int] = []
    postgres: list[int] = []
    pinned: bool = False
    loadgen_policy: str | None = None
    note: str = ""


class LeftoverRecord(Part):
    """Something an earlier run left (``provisioning.leftovers``): a scratch directory, a
    cluster, or an orphaned process, with the harness that owned it if one is recorded."""

    kind: str = ""
    what: str = ""
    owner_pid: int | None = None
    owner_alive: bool | None = None
    live: bool = False
    cleaned: bool = False


class BusyRecord(Part):
    """A process not ours that used more than a fifth of a CPU we planned, before the run."""

    pid: int = 0
    name: str = ""
    cpu_percent: Number = 0
    cpus: list[int] = []


class PreflightRecord(Part):
    """What the run found on the machine before it started anything."""

    cpus: list[int] = []
    leftovers: list[LeftoverRecord] = []
    busy: list[BusyRecord] = []


class VariantRecord(Part):
    """How one variant was started, and what was observed of it under load."""

    framework: str | None = None
    server: str | None = None
    description: str | None = None
    command: str | None = None
    interpreter: str | None = None
    env: dict[str, str] = {}
    workers: int | None = None
    threads: int | None = None
    db_max_connections: int | None = None
    axes: dict[str, Any] = {}
    processes_observed: int | None = None
    threads_observed: int | None = None
    affinity_observed: list[int] = []
    target_url: str | None = None


class PostgresRecord(Part):
    mode: str | None = None
    url: str | None = None
    version: str | None = None
    port: int | None = None
    postmaster_pid: int | None = None
    affinity: list[int] | None = None
    config_file: str | None = None
    config_sha256: str | None = None
    schema_sha256: str | None = None
    template_rows: int | None = None
    template_checksum: str | None = None
    settings: dict[str, str] = {}
    seed: dict[str, int] | None = None


# -- one entry per variant × repetition -----------------------------------------------------


class RepetitionEntry(Part):
    """One variant × repetition; a rate-mode one also says whether it kept its rate
    (``load.openloop``: an overloaded repetition's latency is a lower bound)."""

    variant: str
    repetition: int
    data_checksum: str | None = None
    locust_returncode: int | None = None
    target_rate: Number | None = None
    achieved_rate: Number | None = None
    dropped_sends: int | None = None
    behind_schedule: int | None = None
    overloaded: bool | None = None


class IntegrityRecord(Part):
    """Rows the database gained vs successful creates counted (``integrity_holds``)."""

    variant: str
    repetition: int
    expected: int
    actual: int | None = None
    ok: bool
    rows_before: int | None = None
    rows_after: int | None = None
    unfinished_creates: int | None = None
    skipped: str | None = None


class InvalidRepetition(Part):
    variant: str
    repetition: int
    reason: str = "invalid"
    # The load generator fell behind: the window measured it, not the service (a search may
    # try the rate again). False in records written before it was recorded.
    loadgen_fault: bool = False


# -- evidence the fairness rules judge ------------------------------------------------------


class CpuSetRecord(Part):
    cpus: list[int] = []
    busy_pct: Number | None = None
    busiest_from_s: Number | None = None
    stretch_s: Number | None = None
    mean_pct: Number | None = None
    series: list[list[Number]] = []


class LoopLagRecord(Part):
    interval_ms: Number | None = None
    count: int = 0
    worst_process_p99_ms: Number | None = None
    max_ms: Number | None = None


class HealthRecord(Part):
    """``load.health.LoadgenHealth.as_dict()`` of one repetition."""

    valid: bool | None = None
    measured: bool | None = None
    problems: list[str] = []
    limits: dict[str, Number] = {}
    cpu_set: CpuSetRecord = CpuSetRecord()
    loop_lag: LoopLagRecord = LoopLagRecord()
    own_cpu_pct: Number | None = None  # the load generator's own processes, % of a CPU each
    database_cpu_pct: Number | None = None  # Postgres (exited backends included), % of a CPU
    shared: str | None = None  # a saturated CPU set's other work, the generator kept up


class StatementRecord(Part):
    query: str
    calls: int
    rows: int
    exec_ms: Number


class EndpointSql(Part):
    """One endpoint called alone ``calls`` times: what Postgres ran, per call."""

    calls: int = 0
    statements_per_call: Number = 0.0
    rows_per_call: Number = 0.0
    db_exec_ms_per_call: Number = 0.0
    statements: list[StatementRecord] = []


class SqlWindow(Part):
    """One repetition's statements per successful request (``measuring.sqlwork.per_request``)."""

    repetition: int
    requests: int = 0
    statements_per_request: Number = 0.0
    rows_per_request: Number = 0.0
    db_exec_ms_per_request: Number = 0.0
    statements: list[StatementRecord] = []
    per_endpoint: dict[str, dict[str, Number]] | None = None


class CloneCheck(Part):
    variant: str
    repetition: int
    checksum: str | None = None
    checksum_equal: bool = False
    schema_equal: bool = False

    @property
    def ok(self) -> bool:
        return self.checksum_equal and self.schema_equal


class AffinityRecord(Part):
    service: list[int] | None = None
    loadgen: list[int] | None = None
    postgres: list[int] | None = None
    loadgen_policy: list[str] | None = None


class ServiceProbe(Part):
    not_found_status: int | None = None
    debug_page: bool | None = None
    keep_alive: bool | None = None
    access_log_lines: int | None = None


class Window(Part):
    measure_start_offset_s: Number = 0.0
    warmup_requests: int = 0
    measure_start: Number = 0.0
    measure_end: Number = 0.0


class PauseRecord(Part):
    """A window's garbage-collection pauses, as the service's own hook recorded them
    (``serving.pauses``): full (generation-2) collections in the window (any process), their
    total and longest pause, their interval as the window measures it (span / collections;
    None without any), the young (generation 0 and 1) collections likewise, and the serving
    processes that recorded. ``paused_share``: the full collections' pause time over the
    window's process time (span × processes), the share of requests a pause can have held up;
    ``life_paused_share``: the same over the service's whole life up to the window's end;
    ``life_longest_ms``: the longest full collection it ran while serving, up to the window's
    end (None: none ran, or a record from before it was kept)."""

    full: int = 0
    full_total_ms: Number = 0.0
    full_longest_ms: Number = 0.0
    full_interval_s: Number | None = None
    young: int = 0
    young_total_ms: Number = 0.0
    young_longest_ms: Number = 0.0
    processes: int = 0
    paused_share: Number = 0.0
    quiet_s: Number | None = None  # seconds under load without any full collection, if none ran
    life_paused_share: Number | None = None
    life_longest_ms: Number | None = None


class Evidence(Part):
    """What the OS, Postgres and the services showed, keyed ``variant`` or ``variant#rep``."""

    peak_connections: dict[str, int] = {}
    connection_samples: dict[str, int] | None = None
    loadgen_health: dict[str, HealthRecord] = {}
    sql: dict[str, list[SqlWindow]] = {}
    sql_per_endpoint: dict[str, dict[str, EndpointSql]] = {}
    clone_checks: list[CloneCheck] = []
    pg_settings_by_db: dict[str, str] = {}
    pg_settings_hash_start: str | None = None
    pg_settings_hash_end: str | None = None
    affinity: dict[str, AffinityRecord] = {}
    service_probes: dict[str, ServiceProbe] = {}
    order: list[str] = []
    windows: dict[str, Window] = {}
    pauses: dict[str, PauseRecord] = {}  # variant#rep -> the window's pauses (hook switched on)


# -- verdicts and optional sections -----------------------------------------------------------


class RuleRecord(Part):
    name: str
    rule: str = ""
    evidence: str = ""
    held: bool | None = None
    verdict: str = "not checked"


class FairnessRecord(Part):
    rules: list[RuleRecord] = []
    violated: list[str] = []
    comparable: bool = True
    overridden: bool = False
    not_checked: list[str] | None = None


class CrossCheckCitation(Part):
    """Which committed Locust/wrk cross-check vouches for the load generator."""

    file: str | None = None
    started: str | None = None
    git_sha: str | None = None
    scenario: str | None = None
    machine: str | None = None  # where it was measured (machine_class: CPU model|count)
    variants: dict[str, dict[str, Any]] = {}
    not_covered: list[str] = []


class ControlEntry(Part):
    repetition: int
    ops_per_s: Number | None = None
    p50_ms: Number | None = None
    ops: int | None = None
    seconds: Number | None = None
    cpus: list[int] | None = None
    error: str | None = None


class ControlRecord(Part):
    probe: str = ""
    seconds: Number = 0.0
    repetitions: list[ControlEntry] = []


class CacheRecord(Part):
    mode: str | None = None
    url: str | None = None
    version: str | None = None
    stats: dict[str, dict[str, Any]] = {}


class SuiteRecord(Part):
    name: str | None = None
    file: str | None = None
    grid: dict[str, dict[str, list[str]]] = {}
    accept_unfair: list[str] = []
    answer: list[str] | None = None
    scenarios: list[str] | None = None
    hold_constant: list[str] = []


class EqualLoadPhase(Part):
    """One offered rate of the equal-load phase: a run directory of its own (rate mode)."""

    fraction: Number
    rate: Number  # requests/s offered to every variant
    users: int
    directory: str  # relative to the run directory
    status: str = "running"
    comparable: bool | None = None
    overloaded: list[str] = []  # ``variant#rep`` of the repetitions that did not keep the rate


class EqualLoadRecord(Part):
    """Latency at equal offered load (``workflows.phases.equal_load``): the rates, derived from the
    slowest variant's capacity measured earlier in the same run."""

    slowest: str | None = None
    capacity_rps: Number | None = None
    latency_budget_ms: Number | None = None
    phases: list[EqualLoadPhase] = []
    skipped: str | None = None


class SloStep(Part):
    """One window of an SLO search or of its confirmation: the rate tried, the percentile
    seen, whether the window could hold it (``analysing.tails``), the outcome."""

    variant: str
    round: int = 1
    repetition: int  # in <directory>/raw/<variant>/rep-<k>
    rate: Number
    value_ms: Number | None = None
    overloaded: bool = False
    passed: bool = False
    phase: str | None = None  # "search" | "confirm" (None: older runs, all search)
    directory: str | None = None  # the sub-run holding the window, relative to the run
    outcome: str | None = None  # "kept" | "missed" | "not measured" (analysing.slo)
    reason: str | None = None  # why the window could not hold the percentile
    loadgen_fault: bool = False  # not measured because its load generator fell behind


class SloRecord(Part):
    """Capacity under a latency objective (``workflows.phases.slo``)."""

    objective: str  # canonical, e.g. p99=50ms
    percentile: Number
    bound_ms: Number
    capacities: dict[str, Number] = {}  # the closed-loop capacity each search started from
    steps: list[SloStep] = []
    found: dict[str, list[Number]] = {}  # older runs: variant -> each search round's found rate
    confirm_rates: dict[str, Number] = {}  # older runs: variant -> its confirming windows' rate
    skipped: str | None = None
    searched: dict[str, str] = {}  # variant -> how its search ended, in words


class IndependentWindowRecord(Part):
    """One window of the open-model generator that is not Locust (``workflows.phases.crosscheck``),
    on a live service: its percentiles (ms; ``slo``: the objective's), whether it kept the
    rate, the pauses the service recorded in it, rows against creates, the generator's health."""

    variant: str
    target: str  # the cross-check target's directory
    rate: Number
    pair: int
    values_ms: dict[str, Number | None] = {}
    overloaded: bool = False
    achieved_rate: Number | None = None
    dropped: int = 0
    requests: int = 0
    failures: int = 0
    span_s: Number = 0.0
    pauses: PauseRecord | None = None
    creates: int | None = None
    unfinished_creates: int | None = None
    rows_added: int | None = None
    integrity_ok: bool | None = None
    generator_cpu_pct: Number | None = None
    loadgen_problems: list[str] = []


class CrossCheckTarget(Part):
    """A rate the open-model cross-check measured with both generators."""

    label: str  # "equal load 70 %", "found rate", "above the found rate"
    rate: Number
    variants: list[str] = []
    directory: str = ""  # the Locust windows' sub-run, relative to the run
    window_s: Number = 0.0


class OpenCrossCheckCitation(Part):
    """The newest committed open-model cross-check (``chatbench crosscheck --open-model``) a run
    without one of its own cites: its file, when, its sentence, whether the generators agreed."""

    file: str | None = None
    started: str | None = None
    sentence: str = ""
    agrees: bool = False
    run_id: str | None = None


class OpenCrossCheckRecord(Part):
    """The open-model answers measured again by a generator that is not Locust."""

    tool: str = ""
    pairs: int = 0
    agreement: Number = 0.15
    targets: list[CrossCheckTarget] = []
    windows: list[IndependentWindowRecord] = []
    skipped: str | None = None


class ServiceLife(Part):
    """A variant's long-lived service (``measuring.live``): started once, settled past its
    start-up collections (``settled`` None: it records no pauses), measured in every window."""

    started_at: Number | None = None
    settle_s: Number | None = None
    settled: bool | None = None
    settle_collections: dict[str, int] = {}  # pid -> full collections when settling ended
    settle_interval_s: Number | None = None


class VariantProfile(Part):
    """One variant's profiled repetition (``measuring.profiling``): py-spy's collapsed stacks
    (``stacks``, relative to the run directory) and the CPU the service tree used meanwhile."""

    stacks: str
    samples: int = 0
    errors: int = 0
    seconds: Number = 0.0
    user_cpu_s: Number = 0.0
    system_cpu_s: Number = 0.0
    requests: int | None = None


class CpuProfileRecord(Part):
    """``--cpu-profile``: how the profiles were taken, and each variant's (``unavailable``:
    the sentence saying why there are none, when py-spy could not attach)."""

    tool: str = ""
    command: str = ""
    rate_hz: int = 0
    repetition: str = ""
    variants: dict[str, VariantProfile] = {}
    unavailable: str | None = None


class RunRecord(Part):
    """A whole ``meta.json``."""

    format_version: int = RUN_FORMAT_VERSION
    run_id: str = ""
    status: str = "unknown"
    started_at: str | None = None
    finished_at: str | None = None
    question: str | None = None
    config: ConfigRecord = ConfigRecord()
    versions: dict[str, str] = {}
    packages: dict[str, str] = {}
    git: GitRecord = GitRecord()
    machine: MachineRecord = MachineRecord()
    cpu_plan: CpuPlanRecord = CpuPlanRecord()
    preflight: PreflightRecord | None = None
    variants: dict[str, VariantRecord] = {}
    postgres: PostgresRecord = PostgresRecord()
    repetitions: list[RepetitionEntry] = []
    integrity: list[IntegrityRecord] = []
    invalid_repetitions: list[InvalidRepetition] = []
    verify: dict[str, list[str]] = {}
    warnings: list[str] = []
    error: str | None = None
    evidence: Evidence = Evidence()
    fairness: FairnessRecord = FairnessRecord()
    crosscheck: CrossCheckCitation | None = None
    control: ControlRecord | None = None
    cache: CacheRecord | None = None
    suite: SuiteRecord | None = None
    equal_load: EqualLoadRecord | None = None
    slo: SloRecord | None = None
    cpu_profile: CpuProfileRecord | None = None
    services: dict[str, ServiceLife] | None = None  # a local run's long-lived services
    open_crosscheck: OpenCrossCheckRecord | None = None
    open_crosscheck_cited: OpenCrossCheckCitation | None = None
    contract: ContractRecord | None = None  # --contract openapi: the check before measuring

    @property
    def invalid(self) -> dict[tuple[str, int], str]:
        """(variant, repetition) → why it is invalid (a saturated load generator, …)."""
        return {(x.variant, x.repetition): x.reason for x in self.invalid_repetitions}

    @property
    def loadgen_faults(self) -> set[tuple[str, int]]:
        """The (variant, repetition) pairs left out because their load generator fell behind."""
        return {(x.variant, x.repetition) for x in self.invalid_repetitions if x.loadgen_fault}

    @property
    def is_ab(self) -> bool:
        """Whether the run measured paired ``@base`` / ``@head`` variants (same-runner A/B)."""
        return any(v.endswith("@base") for v in self.config.variants)

    def control_ops(self) -> dict[int, float]:
        """repetition → the control probe's ops/s in that round (failed probes left out)."""
        out: dict[int, float] = {}
        for entry in self.control.repetitions if self.control else ():
            ops = entry.ops_per_s
            if isinstance(ops, int | float) and 0 < ops < float("inf"):
                out[entry.repetition] = float(ops)
        return out


def from_dict(data: Any, *, where: str = "this run") -> RunRecord:
    """A record from its JSON document (``where``: the run directory, for messages); an
    unknown format version or a malformed record is a usage error, in one sentence."""
    if not isinstance(data, dict):
        raise UsageError(f"{where} is not a chatbench run (meta.json has no config).")
    version = data.get("format_version", RUN_FORMAT_VERSION)
    if version != RUN_FORMAT_VERSION:
        raise UsageError(
            f"The run record in {where} has format version {version!r}, which this chatbench "
            f"does not read (it reads version {RUN_FORMAT_VERSION})."
        )
    try:
        return RunRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise UsageError(
            f"{where} is not a valid chatbench run (meta.json {field}: {first['msg']})."
        ) from None


def load(run_dir: str | os.PathLike[str]) -> RunRecord:
    """The record of a run directory: THE loader (see the module docstring)."""
    where = Path(run_dir)
    try:
        data = json.loads((where / META).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{where} is not a chatbench run directory (no meta.json).") from None
    except (OSError, UnicodeDecodeError, ValueError):
        raise UsageError(f"{where} is not a chatbench run (meta.json is not valid JSON).") from None
    return from_dict(data, where=str(where))


def save(run_dir: str | os.PathLike[str], record: RunRecord) -> Path:
    """Write ``meta.json`` atomically."""
    return write_json_atomic(Path(run_dir) / META, record.dump())


def stamped(doc: dict[str, Any]) -> dict[str, Any]:
    """A run-directory JSON document (summary, check, answer) with the run format version."""
    return {"format_version": RUN_FORMAT_VERSION, **doc}
