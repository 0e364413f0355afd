"""Fairness rules, each judged from evidence read back from the OS and Postgres.

A framework comparison is only worth reading if it was fair. Every run collects evidence (CPU
masks actually in force, worker processes observed, peak database connections, data
checksums and schema dumps, Postgres settings per database, service logs, keep-alive, load
generator CPU, run order) and this module turns it into rules with a verdict: ``held``,
``violated``, or ``not checked`` when the evidence for it could not be collected (never a
pretend ``held``). A violated rule makes the run "not comparable" unless the user explicitly
allowed it (``--allow-unfair``), in which case every chart says so.

Each ``_rule_*`` function reads fields of the run record (``chatbench.storing.record``) and
returns one ``Rule``; they are small so they can be tested with constructed evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chatbench.errors import NotComparableError
from chatbench.load.health import BUSY_LIMIT_PCT, BUSY_STRETCH_S, LOOP_LAG_LIMIT_MS
from chatbench.measuring.schedule import duet_pairs, interleaved_order
from chatbench.provisioning.postgres import DataState
from chatbench.storing.record import (
    CloneCheck,
    ConfigRecord,
    FairnessRecord,
    HealthRecord,
    RuleRecord,
    RunRecord,
    Window,
)


class NotComparable(NotComparableError):
    """The run finished (or stopped before load) because a fairness rule was violated (exit 3,
    like every "not comparable" of ``chatbench.errors``)."""


@dataclass(frozen=True)
class Rule:
    name: str
    rule: str
    evidence: str
    held: bool | None  # None: not checked (the evidence could not be collected)

    @property
    def verdict(self) -> str:
        if self.held is None:
            return "not checked"
        return "held" if self.held else "violated"

    def as_record(self) -> RuleRecord:
        return RuleRecord(
            name=self.name,
            rule=self.rule,
            evidence=self.evidence,
            held=self.held,
            verdict=self.verdict,
        )


def _each_variant(name: str, rule: str, parts: list[str], bad: list[str], *, nothing: str) -> Rule:
    """A rule judged variant by variant: held when there was evidence for some variant
    (``parts``, one sentence each) and no variant broke it (``bad``)."""
    return Rule(name, rule, "; ".join(parts) or nothing, bool(parts) and not bad)


def _cpus(values) -> str:
    return ",".join(map(str, sorted(values))) or "?"


def _rule_cpu_separation(meta: RunRecord) -> Rule:
    """Masks read from the live processes (service tree, Locust, Postgres) during load."""
    text = (
        "the service runs on CPUs no load generator or Postgres uses; on theirs, the load "
        "generator yields to Postgres (SCHED_IDLE) where the plan says so"
    )
    plan = meta.cpu_plan
    if not plan.pinned and plan.affinity is False:
        # The platform pins nothing (macOS): nothing to check, and no rule was broken by us.
        return Rule("cpu_separation", text, f"not checked: {plan.note}", None)
    if not plan.pinned:
        return Rule("cpu_separation", text, f"pinning unavailable: {plan.note}", False)
    observed = meta.evidence.affinity
    if not observed:
        return Rule("cpu_separation", text, "no CPU masks were read from the processes", False)
    parts, clashes = [], []
    # A plan that makes the load generator yield its shared CPUs to Postgres (cpuplan) must
    # be seen in force too: Locust at normal priority slows the database the services wait on.
    policy = plan.loadgen_policy
    for key, masks in observed.items():
        svc = set(masks.service or [])
        lg = set(masks.loadgen or [])
        pg = set(masks.postgres or [])
        seen = masks.loadgen_policy
        parts.append(
            f"{key}: service on {_cpus(svc)}, Locust on {_cpus(lg)}"
            + (f" ({'/'.join(seen) or 'policy unread'})" if seen is not None else "")
            + ", "
            + (
                f"Postgres on {_cpus(pg)}"
                if masks.postgres is not None
                else "Postgres not observable (external server)"
            )
        )
        wrong_policy = policy == "SCHED_IDLE" and seen is not None and seen != ["SCHED_IDLE"]
        if not svc or svc & lg or svc & pg or wrong_policy:
            clashes.append(key)
    overlap = f" — overlap: {', '.join(clashes)}" if clashes else ""
    return Rule("cpu_separation", text, "; ".join(parts) + overlap, not clashes)


def _rule_workers(meta: RunRecord) -> Rule:
    parts, bad = [], []
    for name, v in meta.variants.items():
        workers = v.workers if v.workers is not None else 1
        # gunicorn and granian always run a main process beside their workers.
        expected = workers + (1 if v.server in ("gthread", "sync", "granian") or workers > 1 else 0)
        observed = v.processes_observed
        threads = v.threads_observed
        parts.append(
            f"{name}: {observed} processes"
            + (f" / {threads} threads" if threads is not None else "")
            + f" observed ({workers} workers × {v.threads} threads, expected {expected}"
            " processes)"
        )
        if observed is None or observed < expected:
            bad.append(name)
    return _each_variant(
        "workers_as_recorded",
        "each service runs the worker processes its recipe states",
        parts,
        bad,
        nothing="no variant recorded",
    )


def _rule_connection_cap(meta: RunRecord) -> Rule:
    """The harness's cap (config) is the yardstick, not what a service says its own cap is.

    A peak of 0 from a sampler that never read ``pg_stat_activity`` proves nothing: with
    ``evidence.connection_samples`` (successful samples per variant, the fewest of any
    repetition) a variant with 0 samples makes the rule "not checked", unless another variant
    is over the cap (a proven violation stands). Metadata without the counts (older runs) is
    judged on the peaks alone.
    """
    cap = meta.config.db_max_connections
    peaks = meta.evidence.peak_connections
    samples = meta.evidence.connection_samples
    parts, bad, unsampled = [], [], []
    for name, v in meta.variants.items():
        peak = peaks.get(name)
        configured = v.db_max_connections
        own_cap = cap if cap is not None else configured
        if samples is not None and not samples.get(name):
            unsampled.append(name)
            parts.append(
                f"{name}: peak unknown, no pg_stat_activity sample succeeded (cap {own_cap})"
            )
        else:
            parts.append(
                f"{name}: peak {peak} of {own_cap} (pg_stat_activity"
                + (f", {samples[name]} samples" if samples is not None else "")
                + ")"
            )
        if configured != own_cap:
            parts[-1] += f", but configured for {configured}"
            bad.append(name)
        elif name not in unsampled and (peak is None or (own_cap is not None and peak > own_cap)):
            bad.append(name)
    evidence = "; ".join(parts) + (f" — over the cap: {', '.join(bad)}" if bad else "")
    held: bool | None = bool(parts) and not bad
    if unsampled and not bad:
        held = None
        evidence += f" — not checked: connections were never sampled for {', '.join(unsampled)}"
    return Rule(
        "connection_cap",
        "every service holds at most the same number of DB connections",
        evidence,
        held,
    )


def _rule_identical_data(meta: RunRecord) -> Rule:
    """Checked on every clone before its service starts (see ``check_clone``)."""
    checks = meta.evidence.clone_checks
    template = meta.postgres.template_checksum
    bad = [f"{c.variant}#{c.repetition}" for c in checks if not c.ok]
    return Rule(
        "identical_data",
        "every variant starts from byte-identical data and schema (checked before load)",
        f"{len(checks)} clone(s): row md5 and pg_dump --schema-only compared with the template "
        f"(md5 {str(template)[:12]}…)" + (f" — differ: {', '.join(bad)}" if bad else ""),
        bool(checks) and not bad,
    )


def check_clone(variant: str, repetition: int, template: DataState, clone: DataState) -> CloneCheck:
    """Compare one clone's checksum and schema dump with the template's (before load)."""
    return CloneCheck(
        variant=variant,
        repetition=repetition,
        checksum=clone.checksum,
        checksum_equal=clone.checksum == template.checksum,
        schema_equal=clone.schema == template.schema,
    )


def _rule_postgres_settings(meta: RunRecord) -> Rule:
    ev, pg = meta.evidence, meta.postgres
    start, end = ev.pg_settings_hash_start, ev.pg_settings_hash_end
    per_db = ev.pg_settings_by_db
    hashes = {start, end, *per_db.values()}
    differ = [db for db, h in per_db.items() if h != start]
    return Rule(
        "postgres_settings",
        "one Postgres build and postgresql.conf for every variant, unchanged during the run",
        f"PostgreSQL {pg.version or '?'}, postgresql.conf sha256 "
        f"{str(pg.config_sha256)[:12]}; SHOW ALL hash {str(start)[:12]} in the template "
        f"at start, {str(end)[:12]} at end, in {len(per_db)} variant database(s) "
        + ("the same" if not differ else f"different: {', '.join(differ)}"),
        start is not None and len(hashes) == 1,
    )


def _rule_quiet_services(meta: RunRecord) -> Rule:
    probes = meta.evidence.service_probes
    parts, bad = [], []
    for name, p in probes.items():
        lines = "?" if p.access_log_lines is None else p.access_log_lines
        parts.append(
            f"{name}: unknown path → {p.not_found_status}"
            f"{' debug page' if p.debug_page else ' plain'}, "
            f"{lines} access-log line(s) in service.log"
        )
        if p.debug_page or (p.access_log_lines or 0) > 0:
            bad.append(name)
    return _each_variant(
        "debug_and_access_logs_off",
        "no service runs in DEBUG mode or writes an access log",
        parts,
        bad,
        nothing="not probed",
    )


def _rule_keep_alive(meta: RunRecord) -> Rule:
    kept = {name: p.keep_alive for name, p in meta.evidence.service_probes.items()}
    return Rule(
        "keep_alive",
        "every service keeps HTTP/1.1 connections open between requests",
        "; ".join(f"{n}: {'reused' if k else 'closed'} after a request" for n, k in kept.items())
        or "not probed",
        bool(kept) and all(kept.values()),
    )


def _rule_loadgen_headroom(meta: RunRecord) -> Rule:
    """Collects the run's per-repetition verdicts (``evidence.loadgen_health``, judged by
    ``load.health.LoadgenHealth``, the same verdicts as ``invalid_repetitions``) rather than
    judging again, so the rule and the list of invalid repetitions cannot disagree."""
    text = (
        f"the load generator keeps up over each measured window: no event loop of it wakes more "
        f"than {LOOP_LAG_LIMIT_MS:g} ms late at p99, its own processes use at most "
        f"{BUSY_LIMIT_PCT:.0f} % of a CPU each, and its CPU set (every process on it: Locust, "
        f"Postgres, …) is at most {BUSY_LIMIT_PCT:.0f} % busy over the busiest "
        f"{BUSY_STRETCH_S:g} s unless that is other work while the generator kept headroom "
        "(a variant's own database cost: reported, not held against it)"
    )
    health = meta.evidence.loadgen_health
    if not health:
        return Rule("loadgen_headroom", text, "no load-generator health was recorded", None)
    parts, invalid, unmeasured = [], [], []
    for key, h in health.items():
        parts.append(f"{key}: {_health_text(h)}")
        if h.valid is False:
            invalid.append(key)
        elif not h.measured:
            unmeasured.append(key)
    evidence = "; ".join(parts)
    if invalid:
        evidence += f" — invalid: {', '.join(invalid)}"
        return Rule("loadgen_headroom", text, evidence, False)
    if unmeasured:
        evidence += f" — not measured: {', '.join(unmeasured)}"
        return Rule("loadgen_headroom", text, evidence, None)
    return Rule("loadgen_headroom", text, evidence, True)


def _health_text(h: HealthRecord) -> str:
    cs, lag = h.cpu_set, h.loop_lag
    cpus = ",".join(map(str, cs.cpus)) or "?"
    if cs.busy_pct is None:
        cpu = f"CPU set {{{cpus}}} not measured"
    else:
        cpu = (
            f"CPU set {{{cpus}}} {cs.busy_pct:.0f} % busy (busiest {cs.stretch_s or 0:g} "
            f"s; mean {cs.mean_pct or 0:.0f} %)"
        )
    own = f", own CPU {h.own_cpu_pct:.0f} %" if h.own_cpu_pct is not None else ""
    shared = " (the database's work on the set: its cost, the figures stand)" if h.shared else ""
    if lag.worst_process_p99_ms is None:
        return f"{cpu}{own}, loop lag not recorded{shared}"
    return (
        f"{cpu}{own}, loop lag p99 {lag.worst_process_p99_ms:.1f} ms "
        f"(max {lag.max_ms or 0:.1f} ms){shared}"
    )


def interleaved(order: list[str], variants: list[str], repeat: int) -> bool:
    """A B, B A, A B … : the order ``measuring.schedule.interleaved_order`` promises (prefix
    allowed)."""
    expected = [f"{n}#{rep}" for rep, n in interleaved_order(tuple(variants), repeat)]
    return bool(order) and order == expected[: len(order)]


def duet_ordered(order: list[str], cfg) -> bool:
    """A duet's order: the one its recorded ``order_seed`` draws (``schedule.duet_pairs``), or
    the alternation of a run recorded without a seed (prefix allowed)."""
    pairs = duet_pairs(tuple(cfg.variants), cfg.repeat or 1, cfg.order_seed)
    expected = [f"{n}#{rep}" for rep, names in pairs for n in names]
    return bool(order) and order == expected[: len(order)]


def _rule_measurement_window(meta: RunRecord) -> Rule:
    cfg = meta.config
    order = meta.evidence.order
    windows = meta.evidence.windows
    warmup = cfg.warmup_s or 0
    leaked = [k for k, w in windows.items() if w.measure_start_offset_s < warmup - 0.01]
    ok_order = (
        duet_ordered(order, cfg)
        if cfg.duet
        else interleaved(order, list(cfg.variants), cfg.repeat or 1)
    )
    excluded = sum(w.warmup_requests for w in windows.values())
    apart = duet_misaligned(cfg, windows) if cfg.duet else []
    return Rule(
        "warmup_excluded_interleaved",
        "warm-up is left out of every figure and repetitions alternate A B, B A …"
        + (
            " (duet: both sides of a pair measured in one wall-clock window, their order drawn "
            f"per repetition from the recorded seed {cfg.order_seed})"
            if cfg.duet
            else ""
        ),
        f"order {' → '.join(order) or '?'} ({'interleaved' if ok_order else 'NOT interleaved'}); "
        f"warm-up {warmup:g} s per repetition, {excluded} warm-up request(s) excluded"
        + (f" — window includes warm-up: {', '.join(leaked)}" if leaked else "")
        + (f" — duet windows apart: {'; '.join(apart)}" if apart else ""),
        ok_order and not leaked and not apart,
    )


DUET_ALIGN_S = 0.05  # two clocks read on one machine: equal but for float rounding


def duet_misaligned(cfg: ConfigRecord, windows: dict[str, Window]) -> list[str]:
    """Duet pairs (consecutive variants) whose measured windows differ, or where a side had no
    users running before its window opened (no warm-up request): one sentence each."""
    variants = list(cfg.variants)
    problems = []
    for i in range(0, len(variants) - 1, 2):
        a, b = variants[i], variants[i + 1]
        for rep in range(1, (cfg.repeat or 1) + 1):
            wa, wb = windows.get(f"{a}#{rep}"), windows.get(f"{b}#{rep}")
            if wa is None or wb is None:
                continue  # not measured (an interrupted run): nothing to compare
            gap = max(
                abs(wa.measure_start - wb.measure_start), abs(wa.measure_end - wb.measure_end)
            )
            if gap > DUET_ALIGN_S:
                problems.append(f"{a}/{b} repetition {rep} {gap:.2f} s apart")
            for name, w in ((a, wa), (b, wb)):
                if not w.warmup_requests:
                    problems.append(f"{name} repetition {rep}: no request before the window")
    return problems


RULES: tuple[Callable[[RunRecord], Rule], ...] = (
    _rule_postgres_settings,
    _rule_identical_data,
    _rule_cpu_separation,
    _rule_workers,
    _rule_connection_cap,
    _rule_quiet_services,
    _rule_keep_alive,
    _rule_loadgen_headroom,
    _rule_measurement_window,
)


def judge(meta: RunRecord) -> list[Rule]:
    """All rules for a run's record."""
    return [rule(meta) for rule in RULES]


def summarise(rules: list[Rule], *, allowed: bool) -> FairnessRecord:
    violated = [r.name for r in rules if r.held is False]
    summary = FairnessRecord(
        rules=[r.as_record() for r in rules],
        violated=violated,
        comparable=not violated,
        overridden=bool(violated) and allowed,
    )
    not_checked = [r.name for r in rules if r.held is None]
    return summary.but(not_checked=not_checked) if not_checked else summary


# What a --target run can still observe: the load generator runs here.
TARGET_CHECKABLE_RULES = frozenset({"loadgen_headroom"})


def for_target(summary: FairnessRecord) -> FairnessRecord:
    """Rules about a service we neither started nor watched say "not checked", never "held"."""
    rules = [
        r
        if r.name in TARGET_CHECKABLE_RULES
        else r.but(
            held=None,
            verdict="not checked",
            evidence="external target: not observable from the load generator",
        )
        for r in summary.rules
    ]
    violated = [r.name for r in rules if r.held is False]
    return summary.but(
        rules=rules,
        violated=violated,
        not_checked=[r.name for r in rules if r.held is None],
        comparable=not violated,
        overridden=bool(violated) and summary.overridden,
    )


def terminal_line(fairness: FairnessRecord) -> str:
    """One line for the terminal summary: how many rules held, and which were violated."""
    held = sum(1 for r in fairness.rules if r.held is True)
    text = f"fairness: {held}/{len(fairness.rules)} rules held"
    if fairness.violated:
        text += f"; VIOLATED: {', '.join(fairness.violated)}"
        if fairness.overridden:
            text += " (allowed by --allow-unfair)"
    if fairness.not_checked:
        text += f"; not checked: {', '.join(fairness.not_checked)}"
    return text
