"""Runs the open-model generator (``loadtests/openmodel``, Node.js on undici) and reads what it
measured: a second instrument for latency tails and SLO rates, independent of Locust.

The generator sends on one global schedule, evenly spaced (request i is intended at t0 + i /
rate) or Poisson, as ``arrivals`` says (the same two as Locust's rate mode:
``loadtests/arrivals.py``), over a keep-alive pool of ``connections`` connections, and times every
request from its intended send time, so waiting for a connection or behind a stalled service
counts (see the program's header comment and docs/crosscheck.md). It writes one JSON file; this
module turns it into an :class:`OpenModelResult`: HDR histograms built with
``chatbench.load.latency`` (percentiles computed exactly as for Locust's ``requests.json``),
counts, the window, and the overloaded verdict of ``chatbench.load.openloop`` (the rule that
judges a Locust rate-mode repetition, applied to the generator's schedule counts).

``run_open_model(spec, out_dir)`` starts node in its own process group, pinned to the
load-generator CPUs like Locust (``cpuplan.loadgen_preexec``) and on the lifeline, samples its
CPU and the load-generator CPU set, waits with a deadline, and on an error, a stop request or
Ctrl-C stops the whole group. node and the generator's packages come from ``make tools``; their
absence is a :class:`~chatbench.errors.ToolMissing` saying so.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hdrh.histogram import HdrHistogram
from pydantic import BaseModel, ConfigDict, ValidationError

from chatbench.configuration.paths import OPENMODEL_DIR, OPENMODEL_SCRIPT
from chatbench.configuration.urls import target_problem
from chatbench.errors import Interrupted, LoadgenError, ToolMissing, UsageError
from chatbench.load import latency, openloop
from chatbench.load.health import CpuSetBusy, CpuSetSampler, LoadgenHealth, LoopLag, own_cpu_percent
from chatbench.provisioning import cpuplan, lifeline
from chatbench.provisioning.processes import owner_env, stop_if_running, terminate_group
from chatbench.serving.sampler import TreeSampler
from loadtests import corpus
from loadtests.arrivals import ARRIVALS, DEFAULT_ARRIVALS

FORMAT_VERSION = 1  # of the generator's JSON file (``format_version``)
SCENARIOS = ("chat", "detail")
# The oldest node undici 7 runs on (package.json "engines"; a test keeps the two equal).
MIN_NODE = (20, 18, 1)
# Connections when the spec names none: as many as Locust's rate mode has users at this rate
# (``openloop.users_for``), so both tools hold the same number of connections.
CONNECTION_BUDGET_S = 0.25
# Message texts per role handed to the generator, drawn by the locustfile's own generator.
CONTENTS_PER_ROLE = 256
SAMPLE_INTERVAL_S = 0.5
STARTUP_GRACE_S = 15.0  # node start, undici import
DRAIN_GRACE_S = 25.0  # the generator awaits in-flight requests for up to 15 s, then writes
TERMINATE_GRACE_S = 5.0
RESULT_NAME = "openmodel.json"
LOG_NAME = "openmodel.log"


@dataclass(frozen=True)
class OpenModelSpec:
    """What open-model load to offer. ``rate`` in requests per second; times in seconds.

    ``connections`` None: ``rate × CONNECTION_BUDGET_S`` (at least 2), Locust's user count for
    the same rate. ``sessions`` (chat: conversations taking the slots in turn) None: one per
    connection, as Locust has one per user. ``start_at``: epoch seconds at which the schedule
    (warm-up, then the measured window) starts; None: as soon as the generator is ready.
    ``yield_cpu`` runs it under SCHED_IDLE, as the CPU plan runs Locust
    (``cpuplan.CpuPlan.loadgen_yields``).
    """

    target_url: str
    scenario: str = "chat"
    rate: float = 100.0
    arrivals: str = DEFAULT_ARRIVALS
    connections: int | None = None
    warmup_s: float = 5.0
    duration_s: float = 20.0
    seed: int = 1
    seed_sessions: int = 0
    seed_messages: int = 0
    cpus: tuple[int, ...] | None = None
    start_at: float | None = None
    sessions: int | None = None
    yield_cpu: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.scenario not in SCENARIOS:
            problems.append(f"scenario {self.scenario!r} is not one of {', '.join(SCENARIOS)}")
        if not (math.isfinite(self.rate) and self.rate > 0):
            problems.append("rate must be a number of requests/s > 0")
        if self.arrivals not in ARRIVALS:
            problems.append(f"arrivals {self.arrivals!r} is not one of {', '.join(ARRIVALS)}")
        if self.connections is not None and self.connections < 1:
            problems.append("connections must be at least 1")
        if self.sessions is not None and self.sessions < 1:
            problems.append("sessions must be at least 1")
        if not self.duration_s > 0:
            problems.append("duration_s must be positive")
        if not self.warmup_s >= 0:
            problems.append("warmup_s cannot be negative")
        if self.seed < 0:
            problems.append("seed cannot be negative")
        if self.scenario == "detail" and self.seed_sessions * self.seed_messages < 1:
            problems.append("the detail scenario needs seed_sessions and seed_messages >= 1")
        if self.start_at is not None and not self.start_at > 0:
            problems.append("start_at, when given, must be epoch seconds > 0")
        if self.cpus is not None and not self.cpus:
            problems.append("cpus, when given, must name at least one CPU")
        if problems:
            raise UsageError("Invalid open-model load: " + "; ".join(problems) + ".")

    @property
    def connection_count(self) -> int:
        return self.connections or openloop.users_for(self.rate, CONNECTION_BUDGET_S)

    @property
    def total_s(self) -> float:
        return self.warmup_s + self.duration_s


@dataclass(frozen=True)
class EndpointCounts:
    """Responses of one endpoint; a failure is any status other than the expected one, or a
    request that got no response."""

    count: int
    failures: int


@dataclass(frozen=True)
class SendLag:
    """How late the sends due in the measured window went out after their intended time, ms
    (waiting for a connection included); None when nothing was sent."""

    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass(frozen=True)
class OpenModelResult:
    """What one run of the generator measured.

    ``histogram`` holds every measured latency (µs, from the intended send time),
    ``endpoint_histograms`` those of each endpoint; ``endpoints`` counts the measured window,
    ``totals`` every response (warm-up and drain too). ``rate`` is the overloaded verdict
    (``openloop.verdict``). ``cpu_percent`` is the generator's own CPU over the measured window
    (% of one CPU; NaN when the samples do not cover it), ``samples`` its process samples
    (samples.csv columns, as Locust's), ``cpu_set`` how busy the whole load-generator CPU set
    was, ``loop_lag`` how late node's event loop woke a 10 ms timer.
    """

    spec: OpenModelSpec
    path: Path
    histogram: HdrHistogram
    endpoint_histograms: Mapping[str, HdrHistogram]
    endpoints: Mapping[str, EndpointCounts]
    totals: Mapping[str, EndpointCounts]
    window_start: float
    window_end: float
    scheduled: int
    sent_on_time: int
    behind_schedule: int
    dropped: int
    rate: openloop.RateVerdict
    successful_creates: int
    successful_creates_total: int
    unfinished_creates: int
    send_lag: SendLag
    loop_lag: LoopLag
    cpu_percent: float
    cpu_set: CpuSetBusy
    samples: tuple[dict[str, float], ...]
    errors: Mapping[str, int]
    connections: int
    node_version: str
    undici_version: str
    command: tuple[str, ...]
    wall_s: float
    arrivals: str = DEFAULT_ARRIVALS  # the generator's own word for what it sent

    @property
    def duration_s(self) -> float:
        return self.window_end - self.window_start

    @property
    def achieved_rate(self) -> float:
        return self.rate.achieved_rate

    @property
    def overloaded(self) -> bool:
        return self.rate.overloaded

    @property
    def health(self) -> LoadgenHealth:
        """The load-generator health rule (``health.LoadgenHealth``, as for Locust): the CPU
        set's busiest stretch and the event loop's lag."""
        return LoadgenHealth(self.cpu_set, self.loop_lag, self.cpu_percent)

    @property
    def failures(self) -> int:
        """Failed responses in the measured window."""
        return sum(c.failures for c in self.endpoints.values())

    def percentiles(
        self, ps: tuple[float, ...] = latency.DEFAULT_PERCENTILES
    ) -> dict[float, float]:
        """Percentile -> ms over every endpoint, as ``latency.percentiles`` computes Locust's."""
        return latency.percentiles(self.histogram, ps)


# --- the program ----------------------------------------------------------------------------


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.strip().lstrip("v").split(".")[:3])


@functools.cache
def _node_version(node: str) -> str:
    try:
        done = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolMissing(f"{node} --version failed ({exc}); run `make tools`.") from None
    return done.stdout.strip().lstrip("v")


def node_command() -> list[str]:
    """``[node, openmodel.mjs]``, once node and the generator's packages are there; else a
    ToolMissing naming what is missing and that ``make tools`` installs it."""
    node = shutil.which("node")
    need = ".".join(map(str, MIN_NODE))
    if node is None:
        raise ToolMissing(
            f"The open-model generator needs Node.js >= {need}, and node is not installed; "
            "install Node.js, then run `make tools`."
        )
    version = _node_version(node)
    if _version(version) < MIN_NODE:
        raise ToolMissing(f"The open-model generator needs Node.js >= {need}; {node} is {version}.")
    if not (OPENMODEL_DIR / "node_modules" / "undici" / "package.json").is_file():
        raise ToolMissing(
            f"The open-model generator's packages are not installed in "
            f"{OPENMODEL_DIR / 'node_modules'}; run `make tools` (it runs `npm ci` there)."
        )
    return [node, str(OPENMODEL_SCRIPT)]


def write_contents(path: Path, seed: int) -> Path:
    """The message texts the generator posts: ``CONTENTS_PER_ROLE`` per role, drawn by
    ``loadtests/corpus.py`` (the locustfile's own generator, same lengths) from ``seed``."""
    rng = random.Random(seed)
    doc = {
        "user": [corpus.make_content(rng, *corpus.USER_CHARS) for _ in range(CONTENTS_PER_ROLE)],
        "assistant": [
            corpus.make_content(rng, *corpus.ASSISTANT_CHARS) for _ in range(CONTENTS_PER_ROLE)
        ],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def generator_command(spec: OpenModelSpec, out: Path, contents: Path | None) -> list[str]:
    """The generator's command line for spec, writing ``out``."""
    options = {
        "target": spec.target_url,
        "scenario": spec.scenario,
        "rate": repr(float(spec.rate)),
        "arrivals": spec.arrivals,
        "connections": str(spec.connection_count),
        "warmup-s": repr(float(spec.warmup_s)),
        "duration-s": repr(float(spec.duration_s)),
        "seed": str(spec.seed),
        "seed-sessions": str(spec.seed_sessions),
        "seed-messages": str(spec.seed_messages),
        "out": str(out),
    }
    if spec.sessions is not None:
        options["sessions"] = str(spec.sessions)
    if spec.start_at is not None:
        options["start-at"] = repr(float(spec.start_at))
    if contents is not None:
        options["contents"] = str(contents)
    cmd = node_command()
    for name, value in options.items():
        cmd += [f"--{name}", value]
    return cmd


# --- its file -------------------------------------------------------------------------------


class _Counts(BaseModel):
    model_config = ConfigDict(frozen=True)
    count: int
    failures: int


class _Endpoint(_Counts):
    latencies_us: list[int]
    completed_ms: list[int]  # when each measured response ended, ms after the window's start


class _SendLag(BaseModel):
    model_config = ConfigDict(frozen=True)
    p50: float | None
    p99: float | None
    max: float | None


class _LoopLag(BaseModel):
    model_config = ConfigDict(frozen=True)
    interval_ms: float
    count: int
    p99_ms: float | None
    max_ms: float | None


class GeneratorDocument(BaseModel):
    """The generator's JSON file (``format_version`` 1), as this module reads it."""

    model_config = ConfigDict(frozen=True)
    format_version: int
    node: str
    undici: str
    scenario: str
    target_rate: float
    arrivals: str = "even"  # absent before the choice, when the generator sent evenly spaced
    connections: int
    measure_start: float
    measure_end: float
    duration_s: float
    scheduled: int
    sent_on_time: int
    behind_schedule: int
    dropped: int
    send_lag_ms: _SendLag
    loop_lag: _LoopLag
    endpoints: dict[str, _Endpoint]
    totals: dict[str, _Counts]
    successful_creates: int
    successful_creates_total: int
    unfinished_creates: int
    errors: dict[str, int]


def read_document(path: Path) -> GeneratorDocument:
    """Parse the generator's file; a LoadgenError in one sentence when it is missing, not JSON,
    of another format version or missing a field."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LoadgenError(f"Cannot read the open-model generator's file {path}: {exc}.") from None
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if version != FORMAT_VERSION:
        raise LoadgenError(
            f"{path} has open-model format_version {version!r}; this chatbench reads "
            f"{FORMAT_VERSION}."
        )
    try:
        return GeneratorDocument.model_validate(raw)
    except ValidationError as exc:
        raise LoadgenError(f"{path} is not a valid open-model file: {exc}.") from None


def _histogram(values: list[int]) -> HdrHistogram:
    hist = latency.new_histogram()
    for value in values:
        latency.record_us(hist, value)
    return hist


# --- the run ----------------------------------------------------------------------------------


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _loadgen_cpus(spec: OpenModelSpec) -> tuple[int, ...]:
    return tuple(sorted(spec.cpus)) if spec.cpus else cpuplan.available_cpus()


def run_open_model(
    spec: OpenModelSpec,
    out_dir: str | Path,
    *,
    stop_event: threading.Event | None = None,
) -> OpenModelResult:
    """Offer spec's load with the open-model generator; its file and log go to ``out_dir``.

    Blocks for about warm-up + duration + a second. Raises UsageError for a target that is
    not on this machine, ToolMissing when node or the generator's packages are missing,
    LoadgenError when the generator fails (its last line in the message, its log's tail as
    detail) or overruns its deadline, Interrupted when ``stop_event`` is set; on any of them,
    and on Ctrl-C, no generator process is left.
    """
    problem = target_problem(spec.target_url)
    if problem:
        raise UsageError(f"{problem[0].upper()}{problem[1:]}.")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    result_path = out / RESULT_NAME
    log_path = out / LOG_NAME
    for stale in (result_path, log_path):
        stale.unlink(missing_ok=True)
    contents = write_contents(out / "contents.json", spec.seed) if spec.scenario == "chat" else None
    cmd = generator_command(spec, result_path, contents)

    started_at = time.time()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=OPENMODEL_DIR,
            env={**os.environ, **owner_env()},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=cpuplan.loadgen_preexec(spec.cpus, yield_cpu=spec.yield_cpu),
        )
    lifeline.watch("group", proc.pid)
    wait_s = max(0.0, (spec.start_at or started_at) - started_at)
    budget_s = wait_s + spec.total_s + STARTUP_GRACE_S + DRAIN_GRACE_S
    deadline = time.monotonic() + budget_s
    sampler = TreeSampler(proc.pid)
    cpu_set = CpuSetSampler(_loadgen_cpus(spec))
    try:
        while True:
            sampler.sample()
            cpu_set.sample()
            try:
                proc.wait(timeout=SAMPLE_INTERVAL_S)
                break
            except subprocess.TimeoutExpired:
                pass
            if stop_event is not None and stop_event.is_set():
                terminate_group(proc, grace_s=TERMINATE_GRACE_S)
                raise Interrupted("Open-model load stopped on request.")
            if time.monotonic() > deadline:
                terminate_group(proc, grace_s=TERMINATE_GRACE_S)
                raise LoadgenError(
                    f"The open-model generator did not finish within {budget_s:.0f} s.",
                    detail=_tail(log_path) or None,
                )
    except BaseException:
        stop_if_running(proc, grace_s=TERMINATE_GRACE_S)
        raise
    cpu_set.sample()
    stop_if_running(proc, grace_s=TERMINATE_GRACE_S)
    wall_s = time.time() - started_at

    if proc.returncode != 0:
        said = _tail(log_path, 1).removeprefix("openmodel: ").rstrip(".")
        raise LoadgenError(
            f"The open-model generator exited with code {proc.returncode}: {said}.",
            detail=_tail(log_path) or None,
        )
    doc = read_document(result_path)
    return _result(spec, doc, result_path, sampler, cpu_set, tuple(cmd), wall_s)


def _result(
    spec: OpenModelSpec,
    doc: GeneratorDocument,
    path: Path,
    sampler: TreeSampler,
    cpu_set: CpuSetSampler,
    command: tuple[str, ...],
    wall_s: float,
) -> OpenModelResult:
    by_endpoint = {name: _histogram(row.latencies_us) for name, row in doc.endpoints.items()}
    verdict = openloop.judge(
        doc.target_rate,
        doc.duration_s,
        scheduled=doc.scheduled,
        sent_on_time=doc.sent_on_time,
        dropped=doc.dropped,
        behind_schedule=doc.behind_schedule,
        completed=sum(row.count for row in doc.endpoints.values()),
    )
    if not doc.target_rate > 0:
        raise LoadgenError(f"{path} has no target rate > 0 to judge its schedule against.")
    samples = tuple(sampler.samples)
    lag = doc.loop_lag
    return OpenModelResult(
        spec=spec,
        path=path,
        histogram=latency.merge_histograms(by_endpoint.values()),
        endpoint_histograms=by_endpoint,
        endpoints={n: EndpointCounts(r.count, r.failures) for n, r in doc.endpoints.items()},
        totals={n: EndpointCounts(r.count, r.failures) for n, r in doc.totals.items()},
        window_start=doc.measure_start,
        window_end=doc.measure_end,
        scheduled=doc.scheduled,
        sent_on_time=doc.sent_on_time,
        behind_schedule=doc.behind_schedule,
        dropped=doc.dropped,
        rate=verdict,
        successful_creates=doc.successful_creates,
        successful_creates_total=doc.successful_creates_total,
        unfinished_creates=doc.unfinished_creates,
        send_lag=SendLag(doc.send_lag_ms.p50, doc.send_lag_ms.p99, doc.send_lag_ms.max),
        loop_lag=LoopLag(lag.interval_ms, lag.count, lag.p99_ms, lag.max_ms),
        cpu_percent=own_cpu_percent(samples, doc.measure_start, doc.measure_end),
        cpu_set=cpu_set.busy_over(doc.measure_start, doc.measure_end),
        samples=samples,
        errors=dict(doc.errors),
        connections=doc.connections,
        node_version=doc.node,
        undici_version=doc.undici,
        command=command,
        wall_s=wall_s,
        arrivals=doc.arrivals,
    )
