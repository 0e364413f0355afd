"""The measurement phases of a run, in the order they run, each one module with one signature:

    wanted(cfg: RunConfig) -> bool
    measure(ctx: PhaseContext) -> tuple[Recorder, ...]

``capacity`` (the configured load: closed-loop capacity by default), ``equal_load`` (the same
open-model rate for every variant), ``slo`` (capacity under a latency objective),
``crosscheck`` (the open-model answers measured again by a generator that is not Locust) and
``cpu_profile`` (py-spy on one more window per variant). ``measure`` writes its windows into
the run's record or into sub-runs of its own and returns the sub-runs' recorders, which the
run judges and checks like itself (``workflows.run``).

``PhaseContext`` is what they share: the run's settings, CPU plan, record, the provisioned
Postgres, and the **long-lived services** (``measuring.live``): a local run starts each
variant's service once, settles it past its start-up garbage collections and measures every
window of every phase on it, interleaved across variants. A duet (``chatbench check``) and a
``--target`` run keep their own shapes (services started per repetition, or not at all).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from dataclasses import dataclass, field
from pathlib import Path

from chatbench.analysing import fairness, integrity
from chatbench.analysing.fairness import NotComparable
from chatbench.configuration.settings import RunConfig
from chatbench.configuration.variants import VariantSpec
from chatbench.measuring import duet, repetition
from chatbench.measuring.live import LiveServices, Settled
from chatbench.measuring.repetition import Observation, Stage
from chatbench.measuring.watch import Progress, RunHooks
from chatbench.provisioning import cpuplan, postgres
from chatbench.storing import record as rec
from chatbench.storing.recording import Recorder


@dataclass
class PhaseContext:
    """What every phase of one run shares (only ``workflows.run`` makes one)."""

    cfg: RunConfig
    plan: cpuplan.CpuPlan
    recorder: Recorder  # the run's own record
    progress: Progress
    hooks: RunHooks
    stop: threading.Event
    stage: Stage | None = None  # a local run's; None for --target
    template: postgres.DataState | None = None
    template_url: str = ""  # the template database (the control probe reads it)
    specs: dict[str, VariantSpec] = field(default_factory=dict)
    live: LiveServices | None = None  # the long-lived services (None: a duet or a target)
    records: list[Recorder] = field(default_factory=list)  # the run's and every sub-run's

    @property
    def run_dir(self) -> Path:
        return self.recorder.run_dir

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt

    # -- the long-lived services ------------------------------------------------------------
    def open_services(self, stack: contextlib.ExitStack) -> None:
        """Clone, check, start and settle every variant's service, one after the other
        (closed by ``stack`` on success, failure and Ctrl-C)."""
        assert self.stage is not None and self.template is not None
        self.live = stack.enter_context(LiveServices(self.stage))
        for spec in self.specs.values():
            self.check_stop()
            made = repetition.clone(self.stage, spec, 1)
            self._check_clone(spec, made, self.recorder)
            self.live.open(spec, made)
        services = {}
        for name in self.specs:
            self.check_stop()
            settled = self.live.settle(name)
            services[name] = _life(self.live.services[name].started_at, settled)
            if settled.settled is False:
                counts = ", ".join(str(n) for n in settled.collections.values()) or "none"
                self.recorder.warn(
                    f"{name} did not settle within {settled.seconds:g} s of closed-loop load: its "
                    f"serving processes ran {counts} full collection(s) while serving, "
                    f"{self.cfg.settle_collections} wanted each; its first windows may include "
                    "start-up collections"
                )
            self.recorder.set(services=services)
            self.recorder.save()

    def close_services(self) -> None:
        """Stop the long-lived services and put the access-log lines they wrote into every
        record that holds their probes (the run's and its sub-runs')."""
        if self.live is None:
            return
        lines = self.live.close()
        self.live = None
        for recorder in self.records:
            probes = recorder.record.evidence.service_probes
            recorder.evidence(service_probes={
                name: probe.but(access_log_lines=lines.get(name, probe.access_log_lines or 0))
                for name, probe in probes.items()
            })  # fmt: skip
            recorder.save()

    # -- one repetition round ---------------------------------------------------------------
    def window(self, stage: Stage, rep: int, names: tuple[str, ...], recorder: Recorder, *,
               requests: int = 0) -> None:  # fmt: skip
        """One repetition of ``names`` under ``stage``'s load, recorded into ``recorder``: on
        the long-lived services one after the other (an adaptive window holding at least
        ``requests``), or a duet's pair at once on services of their own."""
        specs = tuple(self.specs[n] for n in names)
        if self.live is not None:
            observed = []
            for spec in specs:
                self.check_stop()
                observed.append(self.live.window(stage, spec.name, rep, requests=requests))
        else:
            observed = self._fresh(stage, rep, specs, recorder)
        stage.progress.phase(f"repetition {rep}: recording")
        for spec, seen in zip(specs, observed, strict=True):
            recorder.variant_started(spec, seen)
            self.record(seen, recorder)

    def _fresh(self, stage: Stage, rep: int, specs: tuple[VariantSpec, ...],
               recorder: Recorder) -> list[Observation]:  # fmt: skip
        """A duet's repetition: each side's own clone, checked, and service."""
        clones = []
        for spec in specs:
            made = repetition.clone(stage, spec, rep)
            self._check_clone(spec, made, recorder)
            clones.append(made)
        firsts = tuple(s.name not in recorder.record.variants for s in specs)
        return duet.together(stage, specs, tuple(clones), firsts)

    def _check_clone(self, spec: VariantSpec, made: repetition.Clone, recorder: Recorder) -> None:
        assert self.template is not None
        check = fairness.check_clone(spec.name, made.repetition, self.template, made.state)
        recorder.clone_checked(check, made.database, made.settings_hash)
        if not check.ok and not self.cfg.allow_unfair:
            self.judge(recorder)
            raise NotComparable(
                f"The {spec.name} database (repetition {made.repetition}) does not hold the "
                "template's data or schema, so the run stopped before loading it "
                "(--allow-unfair accepts it)."
            )

    def record(self, seen: Observation, recorder: Recorder) -> None:
        result = seen.result
        recorder.repetition(seen, integrity.entry(
            seen.variant, seen.repetition, creates=int(result.successful_creates_total),
            unfinished=result.unfinished_creates, rows_before=seen.rows_before,
            rows_after=seen.rows_after,
        ))  # fmt: skip

    def judge(self, recorder: Recorder | None = None) -> None:
        """The fairness rules over everything recorded so far (in ``recorder``: the run's, or
        a sub-run's)."""
        recorder = recorder or self.recorder
        summary = fairness.summarise(fairness.judge(recorder.record), allowed=self.cfg.allow_unfair)
        if self.cfg.target_url:
            summary = fairness.for_target(summary)
        recorder.set(fairness=summary)

    def sub_stage(self, cfg: RunConfig, run_dir: Path) -> Stage:
        assert self.stage is not None
        return dataclasses.replace(self.stage, cfg=cfg, run_dir=run_dir)


def _life(started_at: float, settled: Settled) -> rec.ServiceLife:
    return rec.ServiceLife(
        started_at=round(started_at, 3),
        settle_s=settled.seconds,
        settled=settled.settled,
        settle_collections={str(pid): n for pid, n in settled.collections.items()},
        settle_interval_s=round(settled.interval_s, 3) if settled.interval_s else None,
    )
