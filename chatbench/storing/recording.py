"""Recording a run as it goes: the record and ``samples.csv`` rewritten after every repetition.

``header`` makes a new run's record, every key it will hold named explicitly (the keys are a
contract, see ``record``). The ``Recorder`` turns what measuring observed (an
``Observation``, a clone's check, a control probe) into the record's typed parts and writes
the whole record and the samples atomically (``save``), so an interrupted run keeps what it
collected and says it is incomplete.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatbench.configuration import machine
from chatbench.configuration.settings import RunConfig
from chatbench.configuration.urls import redact
from chatbench.configuration.variants import VariantSpec
from chatbench.load import openloop
from chatbench.load.health import invalid_message, own_cpu_percent
from chatbench.load.latency import Counts, RequestsDocument
from chatbench.measuring.control import ControlResult
from chatbench.measuring.repetition import Observation
from chatbench.measuring.sqlwork import per_request
from chatbench.provisioning.cpuplan import CpuPlan
from chatbench.serving.pauses import WindowPauses
from chatbench.storing import record as rec
from chatbench.storing.rundir import write_samples


def header(
    cfg: RunConfig,
    plan: CpuPlan,
    *,
    run_id: str,
    question: str,
    crosscheck: Mapping[str, Any] | None,
    suite: rec.SuiteRecord | None = None,
) -> rec.RunRecord:
    """The record of a run that starts now: status ``running``, nothing measured yet."""
    versions = machine.package_versions()
    fields: dict[str, Any] = dict(
        format_version=rec.RUN_FORMAT_VERSION,
        run_id=run_id,
        status="running",
        started_at=datetime.now(UTC).isoformat(),
        finished_at=None,
        question=question,
        config=rec.ConfigRecord.model_validate(cfg.as_dict()),
        versions=machine.key_versions(versions),
        packages=versions,
        git=rec.GitRecord.model_validate(machine.git_info()),
        machine=rec.MachineRecord.model_validate(machine.machine_info()),
        cpu_plan=rec.CpuPlanRecord.model_validate(plan.as_dict()),
        variants={},
        postgres=rec.PostgresRecord(),
        repetitions=[],
        integrity=[],
        verify={},
        warnings=[],
        error=None,
        evidence=rec.Evidence(
            peak_connections={},
            loadgen_health={},
            sql={},
            sql_per_endpoint={},
            clone_checks=[],
            pg_settings_by_db={},
            affinity={},
            service_probes={},
            order=[],
            windows={},
            pauses={},
        ),
        fairness=rec.FairnessRecord(),
        # Which Locust/wrk cross-check (committed under results/crosscheck/) vouches for the
        # load generator on this scenario and these variants; None: none exists.
        crosscheck=rec.CrossCheckCitation.model_validate(crosscheck) if crosscheck else None,
    )
    if suite is not None:
        fields["suite"] = suite
    return rec.RunRecord(**fields)


def variant_record(spec: VariantSpec, env: Mapping[str, str], processes: int, affinity: list[int],
                   interpreter: str) -> rec.VariantRecord:  # fmt: skip
    """How a variant was started: its recipe, its environment (password redacted), what was
    seen of its process tree once it was ready."""
    shown = {k: (redact(v) if k == "DATABASE_URL" else v) for k, v in env.items()}
    return rec.VariantRecord(
        framework=spec.framework,
        server=spec.server,
        description=spec.description,
        command=" ".join(spec.args),
        # Which Python ran it: an A/B base side may run in an environment built from its own
        # pins, and the command alone would not say so.
        interpreter=interpreter,
        env=shown,
        workers=int(shown["CHATBENCH_WORKERS"]),
        threads=int(shown["CHATBENCH_THREADS"]),
        db_max_connections=int(shown["CHATBENCH_DB_MAX_CONNECTIONS"]),
        axes={
            "server": spec.server,
            "pool": shown.get("CHATBENCH_DB_POOL", "persistent"),
            "cache": "valkey" if shown.get("CHATBENCH_CACHE_URL") else "off",
            "workers": shown["CHATBENCH_WORKERS"],
            "gc": shown.get("CHATBENCH_GC", "default"),
        },
        processes_observed=processes,
        affinity_observed=affinity,
    )


def _successful_by_endpoint(doc: RequestsDocument) -> dict[str, int]:
    """Successful requests per endpoint over the whole load (warm-up, measured and drain): the
    window pg_stat_statements saw, since its statistics are reset before the warm-up."""
    counts: Mapping[str, Counts] = doc.totals or doc.endpoints
    return {ep: c.count - c.failures for ep, c in counts.items()}


def _window(doc: RequestsDocument) -> rec.Window:
    """Where the measured window sits in the load, and how many warm-up requests it left out."""
    return rec.Window(
        measure_start_offset_s=doc.warmup_s,
        warmup_requests=sum(c.count for c in doc.outside_window.warmup.values()),
        # Wall clock (epoch s): a duet's two sides must share it (fairness.duet_misaligned).
        measure_start=doc.measure_start,
        measure_end=doc.measure_end,
    )


def pause_record(seen: WindowPauses) -> rec.PauseRecord:
    """A window's pauses as the record keeps them (``record.PauseRecord``)."""
    span = max(seen.end - seen.start, 1e-9)
    processes = max(len(seen.processes), 1)
    life = seen.life_paused_share
    return rec.PauseRecord(
        full=seen.full_count,
        full_total_ms=round(seen.full_total_ms, 3),
        full_longest_ms=round(seen.full_longest_ms, 3),
        full_interval_s=round(span / seen.full_count, 3) if seen.full_count else None,
        young=seen.young_count,
        young_total_ms=round(seen.young_total_ms, 3),
        young_longest_ms=round(seen.young_longest_ms, 3),
        processes=len(seen.processes),
        paused_share=round(seen.full_total_ms / 1000 / (span * processes), 5),
        quiet_s=round(seen.quiet_s, 3) if seen.quiet_s is not None else None,
        life_paused_share=round(life, 5) if life is not None else None,
        life_longest_ms=round(seen.life_longest_ms, 3)
        if seen.life_longest_ms is not None
        else None,
    )


@dataclass
class Recorder:
    """The run record of ``run_dir`` as it grows, and its resource samples."""

    run_dir: Path
    record: rec.RunRecord

    def __post_init__(self) -> None:
        self.samples: list[dict[str, Any]] = []

    # -- writing --------------------------------------------------------------------------
    def save(self) -> None:
        """meta.json and samples.csv, atomically."""
        rec.save(self.run_dir, self.record)
        write_samples(self.run_dir, self.samples)

    def set(self, **changes: Any) -> None:
        self.record = self.record.but(**changes)

    def evidence(self, **changes: Any) -> None:
        self.set(evidence=self.record.evidence.but(**changes))

    def warn(self, text: str) -> None:
        self.set(warnings=[*self.record.warnings, text])

    def finish(self, status: str, error: str | None = None) -> None:
        changes: dict[str, Any] = {"status": status, "finished_at": datetime.now(UTC).isoformat()}
        if error is not None:
            changes["error"] = error
        self.set(**changes)

    # -- what measuring observed ------------------------------------------------------------
    def clone_checked(self, check: rec.CloneCheck, database: str, settings_hash: str) -> None:
        ev = self.record.evidence
        self.evidence(
            clone_checks=[*ev.clone_checks, check],
            pg_settings_by_db={**ev.pg_settings_by_db, database: settings_hash},
        )

    def control(self, rep: int, result: ControlResult | None, error: str | None) -> None:
        """One repetition round's control probe (``error``: it failed, the run goes on); the
        section (probe, seconds) is set when the first round starts."""
        section = self.record.control or rec.ControlRecord(repetitions=[])
        entry = (
            rec.ControlEntry(repetition=rep, **result.as_dict())
            if result is not None
            else rec.ControlEntry(repetition=rep, error=error)
        )
        self.set(control=section.but(repetitions=[*section.repetitions, entry]))

    def variant_started(self, spec: VariantSpec, observed: Observation) -> None:
        """The first repetition of a variant: how it was started, its checks and probes."""
        facts = observed.facts
        if facts is None or spec.name in self.record.variants:
            return
        ev = self.record.evidence
        self.set(
            variants={
                **self.record.variants,
                spec.name: variant_record(
                    spec, facts.env, facts.processes, facts.affinity, facts.interpreter
                ),
            },
            verify={**self.record.verify, spec.name: facts.checks},
        )
        self.evidence(
            service_probes={
                **ev.service_probes,
                spec.name: rec.ServiceProbe.model_validate(facts.probe),
            },
            sql_per_endpoint={
                **ev.sql_per_endpoint,
                spec.name: {
                    ep: rec.EndpointSql.model_validate(p) for ep, p in facts.sql_profile.items()
                },
            },
        )

    def repetition(self, observed: Observation, integrity: rec.IntegrityRecord) -> None:
        """Everything one variant × repetition leaves in the record and samples.csv."""
        name, rep, result = observed.variant, observed.repetition, observed.result
        entry = rec.RepetitionEntry(variant=name, repetition=rep,
                                    locust_returncode=result.locust_returncode)  # fmt: skip
        if observed.data_checksum is not None:
            entry = entry.but(data_checksum=observed.data_checksum)
        kept = openloop.verdict(result.measured)
        if kept is not None:
            entry = entry.but(target_rate=kept.target_rate, achieved_rate=round(kept.achieved_rate, 3),
                              dropped_sends=kept.dropped, behind_schedule=kept.behind_schedule,
                              overloaded=kept.overloaded)  # fmt: skip
            if kept.overloaded:
                self.warn(f"{name} repetition {rep} was overloaded: {kept.describe()}; its "
                          "latency is a lower bound")  # fmt: skip
        self.set(
            integrity=[*self.record.integrity, integrity],
            repetitions=[*self.record.repetitions, entry],
        )
        if observed.statements is not None:  # a service this run started and watched
            self._service_evidence(observed)
        self._add_samples(name, rep, "server", observed.server_samples)
        self._add_samples(name, rep, "loadgen", result.samples)
        self._add_samples(name, rep, "postgres", observed.database_samples)
        self._loadgen_health(observed)

    def _service_evidence(self, observed: Observation) -> None:
        name, rep, result = observed.variant, observed.repetition, observed.result
        ev = self.record.evidence
        key = f"{name}#{rep}"
        probe = ev.service_probes.get(name, rec.ServiceProbe())
        probe = probe.but(
            access_log_lines=(probe.access_log_lines or 0) + observed.access_log_lines
        )
        # A repetition whose sampler never read pg_stat_activity leaves the cap unchecked.
        counts = dict(ev.connection_samples or {})
        samples = int(observed.connection_samples or 0)
        counts[name] = min(counts.get(name, samples), samples)
        by_endpoint = _successful_by_endpoint(result.measured)
        profile = ev.sql_per_endpoint.get(name)
        window = per_request(
            list(observed.statements or ()),
            sum(by_endpoint.values()),
            endpoint_requests=by_endpoint,
            profile={ep: p.dump() for ep, p in profile.items()} if profile else None,
        )
        changes: dict[str, Any] = dict(
            service_probes={**ev.service_probes, name: probe},
            peak_connections={
                **ev.peak_connections,
                name: max(ev.peak_connections.get(name, 0), int(observed.peak_connections or 0)),
            },
            connection_samples=counts,
            sql={**ev.sql, name: [*ev.sql.get(name, []),
                                  rec.SqlWindow.model_validate({"repetition": rep, **window})]},
            order=[*ev.order, key],
            windows={**ev.windows, key: _window(result.measured)},
        )  # fmt: skip
        if observed.affinity is not None:
            changes["affinity"] = {**ev.affinity, key: rec.AffinityRecord(**observed.affinity)}
        if observed.pauses is not None:
            changes["pauses"] = {**ev.pauses, key: pause_record(observed.pauses)}
        self.evidence(**changes)
        variant = self.record.variants.get(name)
        if variant is not None:
            processes = max(
                (int(r.get("processes", 0)) for r in observed.server_samples), default=0
            )
            threads = max((int(r.get("threads", 0)) for r in observed.server_samples), default=0)
            self.set(variants={**self.record.variants, name: variant.but(
                processes_observed=max(variant.processes_observed or 0, processes),
                threads_observed=max(variant.threads_observed or 0, threads),
            )})  # fmt: skip
        if observed.cache_stats is not None and self.record.cache is not None:
            cache = self.record.cache
            self.set(cache=cache.but(stats={**cache.stats, key: observed.cache_stats}))

    def _loadgen_health(self, observed: Observation) -> None:
        """The load generator's verdict over the MEASURED window (``load.health``): its
        evidence, the CPU set's samples, and an invalid mark for a repetition that broke a
        limit. Locust's own warning needs 90 % of one process's CPU over 10 s, so a short run,
        or a Locust sharing its core with Postgres, saturates silently; this is the one rule
        the report's Warnings, the fairness rule and ``check``/``compare`` go by."""
        name, rep, result = observed.variant, observed.repetition, observed.result
        health = (
            result.health
            if observed.cpu_set is None
            else result.health.with_cpu_set(observed.cpu_set, observed.own_cpu_pct)
        )
        plan = self.record.cpu_plan
        apart = plan.pinned and not set(plan.server) & set(plan.loadgen)
        database = own_cpu_percent(observed.database_samples, result.measured.measure_start,
                                   result.measured.measure_end)  # fmt: skip
        health = dataclasses.replace(health, database_only=apart, database_cpu_pct=database)
        ev = self.record.evidence
        self.evidence(loadgen_health={**ev.loadgen_health, f"{name}#{rep}":
                                      rec.HealthRecord.model_validate(health.as_dict())})  # fmt: skip
        self._add_samples(name, rep, "loadgen_cpus", result.cpu_set_samples)
        if health.attributed:
            self.warn(f"{name} repetition {rep}: {health.shared}")
        if health.valid:
            return
        reason = "loadgen saturated: " + "; ".join(health.problems)
        self.warn(invalid_message(name, rep, reason))
        invalid = rec.InvalidRepetition(
            variant=name, repetition=rep, reason=reason, loadgen_fault=True
        )
        self.set(invalid_repetitions=[*self.record.invalid_repetitions, invalid])

    def _add_samples(self, variant: str, rep: int, role: str, rows: Iterable[Mapping]) -> None:
        for row in rows:
            self.samples.append({"variant": variant, "repetition": rep, "role": role, **row})
