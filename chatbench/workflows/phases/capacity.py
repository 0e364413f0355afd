"""The run's own load: closed-loop capacity by default (or the rate or ramp it was given).

Repetition rounds interleaved A B, B A … (``measuring.schedule``); before each round, the
control probe measures the machine's speed (``measuring.control``), so a figure can be
expressed relative to it. A local run measures every window on the variants' long-lived
services; a duet starts both sides afresh per repetition and loads them at once; a
``--target`` run measures services it did not start (``measuring.target``). Its windows go
into the run's own record: it returns no sub-run.
"""

from __future__ import annotations

import contextlib

from chatbench.configuration.settings import RunConfig
from chatbench.configuration.urls import redact
from chatbench.errors import ChatbenchError
from chatbench.measuring import control, sqlwork, target
from chatbench.measuring.schedule import schedule
from chatbench.storing import record as rec
from chatbench.storing.recording import Recorder
from chatbench.workflows.phases import PhaseContext


def wanted(cfg: RunConfig) -> bool:
    return True


def measure(ctx: PhaseContext) -> tuple[Recorder, ...]:
    if ctx.cfg.target_url:
        _measure_target(ctx)
        return ()
    assert ctx.stage is not None
    probed = 0
    for rep, names in schedule(ctx.cfg):
        ctx.check_stop()
        if rep != probed:  # once per repetition round, before its variants load
            _control(ctx, rep)
            probed = rep
        ctx.window(ctx.stage, rep, names, ctx.recorder)
        ctx.recorder.save()
    return ()


def _control(ctx: PhaseContext, rep: int) -> None:
    """The control probe of one repetition round: the machine's speed now. A failed probe is
    recorded and warned about; it never fails the run (only normalised figures are lost)."""
    assert ctx.stage is not None
    recorder = ctx.recorder
    seconds = control.probe_seconds(ctx.cfg.duration_s)
    if recorder.record.control is None:
        recorder.set(control=rec.ControlRecord(
            probe=control.DESCRIPTION, seconds=seconds, repetitions=[]))  # fmt: skip
    ctx.progress.phase(f"control probe for repetition {rep}: {seconds:g} s")
    template_url = ctx.template_url
    result, error = None, None
    try:
        cpus = ctx.plan.server if ctx.plan.pinned else None
        result = control.measure(template_url, seconds=seconds, cpus=cpus)
    except control.ControlError as exc:
        error = str(exc)
        recorder.warn(
            f"control probe of repetition {rep} failed ({exc}); normalised figures are not "
            "available for it"
        )
    finally:
        # The probe's statements are the template's, never a variant's; forget them anyway.
        with contextlib.suppress(ChatbenchError):
            sqlwork.reset(template_url)
    recorder.control(rep, result, error)


def _measure_target(ctx: PhaseContext) -> None:
    """Only what can be observed from here is recorded; the integrity check needs the
    service's own database (--database-url) and is otherwise reported as skipped."""
    cfg, recorder = ctx.cfg, ctx.recorder
    stage = target.TargetStage(cfg, ctx.plan, recorder.run_dir, ctx.stop, ctx.progress, ctx.hooks)
    targets = stage.targets
    url = redact(cfg.database_url) if cfg.database_url else None
    recorder.set(
        postgres=rec.PostgresRecord(mode="external-target", url=url),
        variants={label: rec.VariantRecord(
            framework="external", server="external",
            description=f"an already running service at {target_url}",
            target_url=target_url, axes={"server": "external"},
        ) for label, target_url in targets.items()},
    )  # fmt: skip
    names = ", ".join(targets)
    recorder.warn(
        f"{names} {'is an external target' if len(targets) == 1 else 'are external targets'}: "
        "the service's CPU, workers, connections and data were not observed; those fairness "
        "rules are reported as not checked"
    )
    for rep, (label,) in schedule(cfg):  # A B, B A, … as for started variants
        ctx.check_stop()
        seen, checks = target.one(stage, rep, label)
        if label not in recorder.record.verify:
            recorder.set(verify={**recorder.record.verify, label: checks})
        ctx.record(seen, recorder)
        recorder.save()
