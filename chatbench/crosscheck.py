"""Cross-check: does Locust agree with an independent load generator (wrk) on the same service?

A load generator that is itself a bottleneck, or that drives the service differently from real
clients, reports the service as slower (or faster) than it is, and every ratio built on it
inherits the error. So chatbench measures the same service with Locust and with wrk, in
interleaved pairs (Locust then wrk, then wrk then Locust, …), on the same scenario, connection
count, warm-up and duration, with the run's CPU plan: service on the service CPUs, Postgres and
the load generator on the others. Each pair gives one ratio Locust/wrk; the answer per variant
is their geometric mean with a 95 % t interval on the log ratios (``stats.paired_ratio``; pairs
measured back to back share the machine's state, as a duet does). The tools **agree** when that
interval lies within ±5 % (:data:`AGREEMENT`).

wrk runs a Lua script per scenario (:func:`wrk_script`) that sends the same request mix as the
Locust user class: ``chat`` cycles POST user message → POST assistant reply → GET history page
(limit 50) over as many sessions as connections; ``read`` pages seeded sessions; ``write``
alternates the two POSTs; ``detail`` reads seeded rows by id. wrk reports only totals, so the
comparison is of all requests per second.

Also recorded per measurement, as evidence for a disagreement: how the service's established
connections were spread over its worker processes once all were open (with one
listening socket shared by gunicorn's workers, a burst of connections lands on one worker; see
``impl_django/gunicorn_conf.py``), and how busy the service's CPUs were.

The result is one JSON file (:data:`FORMAT_VERSION`) that runs cite: :func:`latest_for` finds
the newest cross-check of a scenario under ``results/crosscheck/`` and the report says which
one the run's variants were checked against.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import math
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from chatbench import cpuplan, loadgen, loadhealth, metadata, postgres, servers, stats
from chatbench import variants as variants_mod
from chatbench.errors import ChatbenchError, UsageError
from loadtests import corpus

FORMAT_VERSION = 1
# Where committed cross-checks live; runs cite the newest one of their scenario from here.
COMMITTED_DIR = Path(__file__).resolve().parent.parent / "results" / "crosscheck"
AGREEMENT = 0.05  # the interval of Locust/wrk must lie within 1 ± this
MIN_PAIRS = 3  # fewer pairs give no 95 % interval (see stats.paired_ratio)
WRK_TIMEOUT_GRACE_S = 30.0
HISTORY_LIMIT = 50
LAYOUT_POLL_S = 0.25

# The request mix of each scenario, as the Locust user classes in loadtests/locustfile.py send
# it. Placeholders: %(prefix)s unique per measurement, %(users)d sessions, %(seed_sessions)d,
# %(seed_rows)d, and the contents: drawn by the locustfile's own generator
# (loadtests/corpus.py), JSON-escaped as Locust escapes them.
CONTENTS_PER_ROLE = 256
_LUA_COMMON = """
math.randomseed(%(random_seed)d)
local contents = {user = {%(user_contents)s}, assistant = {%(assistant_contents)s}}
local headers = {["Content-Type"] = "application/json", ["Accept"] = "application/json"}
-- The body as Locust's json.dumps writes it: ", " and ": " separators, non-ASCII escaped.
local function post(role, session)
  local pool = contents[role]
  local body = '{"role": "' .. role .. '", "content": "' .. pool[math.random(#pool)] ..
    '", "session_id": "' .. session .. '"}'
  return wrk.format("POST", "/api/chat/messages", headers, body)
end
local n = 0
"""

_LUA_REQUEST = {
    "chat": """
request = function()
  local step = n %% 3
  local session = "%(prefix)s-" .. (math.floor(n / 3) %% %(users)d)
  n = n + 1
  if step == 0 then return post("user", session) end
  if step == 1 then return post("assistant", session) end
  return wrk.format("GET", "/api/chat/messages?session_id=" .. session .. "&limit=%(limit)d")
end
""",
    "read": """
request = function()
  local session = string.format("seed-%%05d", math.random(0, %(seed_sessions)d - 1))
  return wrk.format("GET", "/api/chat/messages?session_id=" .. session .. "&limit=%(limit)d")
end
""",
    "write": """
request = function()
  local session = "%(prefix)s-" .. (math.floor(n / 2) %% %(users)d)
  n = n + 1
  if n %% 2 == 1 then return post("user", session) end
  return post("assistant", session)
end
""",
    "detail": """
request = function()
  return wrk.format("GET", "/api/chat/messages/" .. math.random(1, %(seed_rows)d))
end
""",
}

# One JSON line at the end, so the figures are parsed, not scraped from wrk's prose.
_LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nCHATBENCH {"requests":%d,"duration_us":%d,"status_errors":%d,"timeouts":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d}\\n',
    summary.requests, summary.duration, e.status, e.timeout, e.connect, e.read, e.write))
end
"""


def wrk_script(
    scenario: str,
    *,
    prefix: str,
    users: int,
    seed_sessions: int,
    seed_messages: int,
    random_seed: int = 1,
) -> str:
    """The Lua script that makes wrk send ``scenario``'s request mix."""
    if scenario not in _LUA_REQUEST:
        raise UsageError(f"Unknown scenario {scenario!r}; choose one of {', '.join(_LUA_REQUEST)}.")
    rng = random.Random(random_seed)

    def pool(chars: tuple[int, int]) -> str:
        # json.dumps escapes exactly as Locust's request body does; Lua reads the same
        # backslash escapes in a double-quoted string, so write them twice.
        texts = (
            json.dumps(corpus.make_content(rng, *chars))[1:-1] for _ in range(CONTENTS_PER_ROLE)
        )
        return ",".join('"' + t.replace("\\", "\\\\") + '"' for t in texts)

    values = {
        "user_contents": pool(corpus.USER_CHARS),
        "assistant_contents": pool(corpus.ASSISTANT_CHARS),
        "prefix": prefix,
        "users": max(1, users),
        "seed_sessions": max(1, seed_sessions),
        "seed_rows": max(1, seed_sessions * seed_messages),
        "limit": HISTORY_LIMIT,
        "random_seed": random_seed,
    }
    return (_LUA_COMMON + _LUA_REQUEST[scenario]) % values + _LUA_DONE


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    errors: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else math.nan


def parse_wrk_output(text: str) -> WrkResult:
    """The CHATBENCH line our ``done`` hook prints; a clear error when it is missing."""
    match = re.search(r"^CHATBENCH (\{.*\})$", text, flags=re.MULTILINE)
    if not match:
        raise ChatbenchError("wrk printed no summary line; its output:\n" + text[-2000:])
    data = json.loads(match.group(1))
    errors = {k: int(v) for k, v in data.items() if k.endswith("errors") or k == "timeouts"}
    return WrkResult(int(data["requests"]), int(data["duration_us"]) / 1e6, errors)


def run_wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    script: Path,
    cpus: tuple[int, ...] | None,
    yield_cpu: bool = False,
) -> WrkResult:
    """One wrk run: one thread (like one Locust process), pinned and scheduled like the load
    generator (``cpuplan.loadgen_preexec``)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise UsageError("wrk is not installed (Debian: apt-get install wrk).")
    cmd = [
        wrk, "-t", "1", "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
        "--timeout", "10s", "-s", str(script), url,
    ]  # fmt: skip
    try:
        done = subprocess.run(
            cmd,
            preexec_fn=cpuplan.loadgen_preexec(cpus, yield_cpu=yield_cpu),
            capture_output=True,
            text=True,
            timeout=seconds + WRK_TIMEOUT_GRACE_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ChatbenchError(
            f"wrk did not finish within {seconds + WRK_TIMEOUT_GRACE_S:.0f} s."
        ) from exc
    if done.returncode != 0:
        raise ChatbenchError(f"wrk failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return parse_wrk_output(done.stdout)


def connections_per_worker(server: servers.RunningServer) -> list[int]:
    """Established client connections held by each process of the service, sorted."""
    port = int(server.base_url.rsplit(":", 1)[1])
    counts = []
    for proc in servers.process_tree(server.pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            held = sum(
                1
                for c in proc.net_connections("tcp")
                if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port
            )
            if held:
                counts.append(held)
    return sorted(counts)


@dataclass(frozen=True)
class Measurement:
    """One tool's measured window on one variant."""

    variant: str
    pair: int
    tool: str  # "locust" | "wrk"
    rps: float
    requests: int
    duration_s: float
    connections_per_worker: list[int]
    service_cpu_busy: float
    started_at: float


@dataclass(frozen=True)
class Agreement:
    """Locust/wrk for one variant: per-pair ratios, their geometric mean and 95 % interval."""

    variant: str
    ratios: list[float]
    ratio: float
    low: float
    high: float
    n: int

    @property
    def agrees(self) -> bool:
        return (
            self.n >= MIN_PAIRS
            and math.isfinite(self.low)
            and self.low >= 1 - AGREEMENT
            and self.high <= 1 + AGREEMENT
        )

    def sentence(self) -> str:
        interval = (
            f"[{self.low:.3f}–{self.high:.3f}]" if math.isfinite(self.low) else "(no interval)"
        )
        verdict = "agree within ±5 %" if self.agrees else "do NOT agree within ±5 %"
        return f"{self.variant}: Locust/wrk {self.ratio:.3f} {interval}, n = {self.n}: {verdict}"


def agreement(variant: str, measurements: list[Measurement]) -> Agreement:
    """Pair up Locust and wrk windows by pair number and judge the log ratios."""
    by_pair: dict[int, dict[str, float]] = {}
    for m in measurements:
        if m.variant == variant:
            by_pair.setdefault(m.pair, {})[m.tool] = m.rps
    pairs = [p for p in sorted(by_pair) if {"locust", "wrk"} <= set(by_pair[p])]
    wrk = [by_pair[p]["wrk"] for p in pairs]
    locust = [by_pair[p]["locust"] for p in pairs]
    est, _ = stats.paired_ratio(wrk, locust)
    ratios = [round(b / a, 4) for a, b in zip(wrk, locust, strict=True) if a > 0]
    return Agreement(variant, ratios, est.value, est.low, est.high, est.n)


@dataclass(frozen=True)
class CrossCheckConfig:
    variants: tuple[str, ...] = ("django", "fastapi")
    scenario: str = "chat"
    users: int = 20
    warmup_s: float = 3.0
    duration_s: float = 10.0
    pairs: int = 5
    database_url: str | None = None
    server_cpus: str | None = None
    loadgen_cpus: str | None = None
    seed_sessions: int = 1000
    seed_messages: int = 20
    # Extra service environment per variant (``--service-env``), e.g. to cross-check a
    # configuration other than the default; runs only cite cross-checks without any.
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    # Both tools at normal priority instead of the plan's SCHED_IDLE (cpuplan): measures what
    # yielding the shared CPUs to Postgres changes; runs only cite cross-checks without it.
    normal_priority: bool = False

    def __post_init__(self) -> None:
        for name in self.variants:
            variants_mod.get(name)  # UsageError for an unknown one
        for name in self.service_env:
            if name not in self.variants:
                raise UsageError(
                    f"--service-env names {name!r}, which this cross-check does not run."
                )
        if self.scenario not in loadgen.SCENARIOS:
            raise UsageError(
                f"Unknown scenario {self.scenario!r}; choose one of {', '.join(loadgen.SCENARIOS)}."
            )
        if self.pairs < MIN_PAIRS:
            raise UsageError(
                f"A cross-check needs at least {MIN_PAIRS} pairs for a 95 % interval, not {self.pairs}."
            )
        if self.users < 1 or self.duration_s < 1 or self.warmup_s < 0:
            raise UsageError("--users and --duration must be at least 1 and --warmup at least 0.")

    @property
    def planned_s(self) -> float:
        # Each pair: a Locust window and a wrk window, each with its warm-up, plus about 4 s
        # of Locust start-up and stop.
        return len(self.variants) * self.pairs * (2 * (self.warmup_s + self.duration_s) + 4)


@dataclass(frozen=True)
class CrossCheckResult:
    config: CrossCheckConfig
    measurements: list[Measurement]
    agreements: list[Agreement]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def agrees(self) -> bool:
        return all(a.agrees for a in self.agreements)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "kind": "chatbench-crosscheck",
            "config": asdict(self.config) | {"database_url": None},
            "meta": self.meta,
            "agreement_bound": AGREEMENT,
            "agrees": self.agrees,
            "agreements": [asdict(a) | {"agrees": a.agrees} for a in self.agreements],
            "measurements": [asdict(m) for m in self.measurements],
        }


def pair_order(pair: int) -> tuple[str, str]:
    """Locust first in even pairs, wrk first in odd ones: drift hits both tools alike."""
    return ("locust", "wrk") if pair % 2 == 0 else ("wrk", "locust")


def _measure_locust(
    cfg: CrossCheckConfig, srv: servers.RunningServer, out: Path, plan: cpuplan.CpuPlan
) -> tuple[int, float]:
    spec = loadgen.LoadSpec(
        target_url=srv.base_url,
        scenario=cfg.scenario,
        mode="closed",
        users=cfg.users,
        duration_s=cfg.duration_s,
        warmup_s=cfg.warmup_s,
        spawn_rate=float(cfg.users),  # all users within one second, as the profiles do
        seed_sessions=cfg.seed_sessions,
        seed_messages=cfg.seed_messages,
        cpus=plan.loadgen if plan.pinned else None,
        yield_cpu=plan.loadgen_yields,
    )
    result = loadgen.run_load(spec, out)
    failures = sum(int(e.get("failures", 0)) for e in result.measured["endpoints"].values())
    if failures:
        raise ChatbenchError(f"Locust saw {failures} failed requests on {srv.variant.name}.")
    count = sum(int(e.get("count", 0)) for e in result.measured["endpoints"].values())
    return count, float(result.measured["duration_s"])


def _measure_wrk(
    cfg: CrossCheckConfig,
    srv: servers.RunningServer,
    script_dir: Path,
    plan: cpuplan.CpuPlan,
    tag: str,
) -> tuple[int, float]:
    def script(suffix: str) -> Path:
        path = script_dir / f"{tag}-{suffix}.lua"
        path.write_text(
            wrk_script(
                cfg.scenario,
                # One prefix for warm-up and measurement: the measured window continues the
                # warm-up's sessions, as Locust's users do, so history pages are as full.
                prefix=f"wrk-{tag}",
                users=cfg.users,
                seed_sessions=cfg.seed_sessions,
                seed_messages=cfg.seed_messages,
            )
        )
        return path

    cpus = plan.loadgen if plan.pinned else None
    if cfg.warmup_s >= 1:
        run_wrk(
            srv.base_url,
            connections=cfg.users,
            seconds=cfg.warmup_s,
            script=script("warm"),
            cpus=cpus,
            yield_cpu=plan.loadgen_yields,
        )
    result = run_wrk(
        srv.base_url,
        connections=cfg.users,
        seconds=cfg.duration_s,
        script=script("measure"),
        cpus=cpus,
        yield_cpu=plan.loadgen_yields,
    )
    bad = {k: v for k, v in result.errors.items() if v}
    if bad:
        raise ChatbenchError(f"wrk saw errors on {srv.variant.name}: {bad}.")
    return result.requests, result.duration_s


def _sampled(
    srv: servers.RunningServer, plan: cpuplan.CpuPlan, work: Callable[[], tuple[int, float]]
) -> tuple[int, float, list[int], float]:
    """Run ``work`` while polling the service's connection layout (the fullest one seen is
    kept: the steady state once every connection is open) and measuring how busy the service
    CPUs were over the whole call."""
    layout: list[int] = []
    done = threading.Event()

    def poll() -> None:
        while not done.wait(LAYOUT_POLL_S):
            seen = connections_per_worker(srv)
            if sum(seen) >= sum(layout):
                layout[:] = seen

    poller = threading.Thread(target=poll, name="crosscheck-layout", daemon=True)
    service_cpus = loadhealth.CpuSetSampler(plan.server)
    service_cpus.sample()
    poller.start()
    try:
        requests, duration = work()
    finally:
        done.set()
        poller.join(timeout=5)
    service_cpus.sample()
    busy = service_cpus.busy_over(service_cpus.walls[0], service_cpus.walls[-1])
    return requests, duration, list(layout), busy.mean_pct / 100


def _measure_one(
    cfg: CrossCheckConfig,
    srv: servers.RunningServer,
    plan: cpuplan.CpuPlan,
    work: Path,
    *,
    pair: int,
    tool: str,
) -> Measurement:
    tag = f"{srv.variant.name}-{pair}-{tool}"
    if tool == "locust":
        fn = functools.partial(_measure_locust, cfg, srv, work / tag, plan)
    else:
        fn = functools.partial(_measure_wrk, cfg, srv, work, plan, tag)
    t0 = time.time()
    requests, duration, layout, busy = _sampled(srv, plan, fn)
    srv.check_alive()
    return Measurement(
        srv.variant.name, pair, tool, round(requests / duration, 2), requests,
        round(duration, 3), layout, round(busy, 4), t0,
    )  # fmt: skip


@contextlib.contextmanager
def _cluster(cfg: CrossCheckConfig, plan: cpuplan.CpuPlan) -> Iterator[str]:
    seed = postgres.SeedSpec(cfg.seed_sessions, cfg.seed_messages)
    if cfg.database_url:
        postgres.wait_ready(cfg.database_url, timeout_s=15)
        postgres.create_template(cfg.database_url, seed)
        yield cfg.database_url
        return
    with postgres.EmbeddedCluster.start() as cluster:
        if plan.pinned and cluster.postmaster_pid:
            for proc in servers.process_tree(cluster.postmaster_pid):
                with contextlib.suppress(OSError):
                    cpuplan.pin(proc.pid, plan.loadgen)
        postgres.create_template(cluster.url, seed)
        yield cluster.url


def run(
    cfg: CrossCheckConfig,
    *,
    announce: Callable[[str], None] = print,
) -> CrossCheckResult:
    """Measure every variant with both tools in interleaved pairs; nothing is left running."""
    if shutil.which("wrk") is None:
        raise UsageError("wrk is not installed (Debian: apt-get install wrk).")
    plan = cpuplan.make_plan(cfg.server_cpus, cfg.loadgen_cpus)
    if cfg.normal_priority:
        plan = dataclasses.replace(plan, yield_loadgen=False)
    started = dt.datetime.now(dt.UTC)
    measurements: list[Measurement] = []
    announce(f"cross-check: {plan.note}; about {cfg.planned_s / 60:.1f} min")
    with (
        tempfile.TemporaryDirectory(prefix="chatbench-crosscheck-") as tmp,
        _cluster(cfg, plan) as url,
    ):
        work = Path(tmp)
        for variant in cfg.variants:
            spec = variants_mod.get(variant)
            db_url = postgres.clone_database(url, "cb_xc_" + re.sub(r"\W", "_", variant))
            try:
                with servers.start_server(
                    spec,
                    database_url=db_url,
                    port=postgres.free_port(),
                    log_path=work / f"{spec.name}.log",
                    cpus=plan.server if plan.pinned else None,
                    extra_env=cfg.service_env.get(variant),
                ) as srv:
                    for pair in range(cfg.pairs):
                        for tool in pair_order(pair):
                            m = _measure_one(cfg, srv, plan, work, pair=pair, tool=tool)
                            measurements.append(m)
                            announce(
                                f"{variant} pair {pair + 1}/{cfg.pairs} {tool:6s} {m.rps:8.1f} req/s"
                                f"  connections per worker {m.connections_per_worker}"
                                f"  service CPU {m.service_cpu_busy:.0%}"
                            )
            finally:
                with contextlib.suppress(ChatbenchError):
                    postgres.drop_database(url, db_url.rsplit("/", 1)[1])
    agreements = [agreement(v, measurements) for v in cfg.variants]
    meta = {
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git": metadata.git_info(),
        "machine": metadata.machine_info(),
        "machine_class": metadata.machine_class(),
        "cpu_plan": plan.as_dict(),
        "wrk": _wrk_version(),
        "versions": metadata.key_versions(),
    }
    return CrossCheckResult(cfg, measurements, agreements, meta)


def _wrk_version() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=5, check=False)
        return (done.stdout or done.stderr).splitlines()[0].strip()
    return "unknown"


def write(result: CrossCheckResult, out_dir: Path) -> Path:
    """``out_dir/crosscheck-<scenario>-<UTC time>.json``, written atomically."""
    from chatbench.results import write_json_atomic

    stamp = result.meta.get("started", "").replace(":", "").replace("-", "")[:15]
    path = out_dir / f"crosscheck-{result.config.scenario}-{stamp}.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, result.to_json())
    return path


def load(path: Path) -> dict[str, Any]:
    """A cross-check file, refused with one sentence when it is not one we can read."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a readable cross-check file ({exc}).") from None
    if data.get("kind") != "chatbench-crosscheck" or data.get("format_version") != FORMAT_VERSION:
        raise UsageError(
            f"{path} is not a chatbench cross-check of format version {FORMAT_VERSION}."
        )
    return data


def latest_for(directory: Path, scenario: str, variants: list[str]) -> dict[str, Any] | None:
    """What a run cites: the newest cross-check in ``directory`` of ``scenario`` made with the
    variants' and the load generator's default configuration (no ``service_env``, no
    ``normal_priority``), with every one of ``variants`` that
    it covers, as {file, started, git sha, per-variant agreement}."""
    best: tuple[str, Path, dict[str, Any]] | None = None
    for path in sorted(directory.glob("crosscheck-*.json")) if directory.is_dir() else []:
        try:
            data = load(path)
        except UsageError:
            continue
        config = data["config"]
        if (
            config["scenario"] != scenario
            or config.get("service_env")
            or config.get("normal_priority")
        ):
            continue
        started = str(data.get("meta", {}).get("started", ""))
        if best is None or started > best[0]:
            best = (started, path, data)
    if best is None:
        return None
    started, path, data = best
    covered = {a["variant"]: a for a in data["agreements"]}
    return {
        "file": path.name,
        "started": started,
        "git_sha": (data.get("meta", {}).get("git") or {}).get("sha"),
        "scenario": scenario,
        "variants": {v: covered[v] for v in variants if v in covered},
        "not_covered": [v for v in variants if v not in covered],
    }
