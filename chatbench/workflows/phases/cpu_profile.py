"""``--cpu-profile``: where each variant's CPU goes, from py-spy on one more window per variant
(``measuring.profiling``), recorded as each ends. Where py-spy cannot attach, the run says so
once and goes on without profiles."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

from chatbench.configuration.settings import RunConfig
from chatbench.measuring import profiling
from chatbench.measuring.profiling import STACKS
from chatbench.serving import profiler
from chatbench.storing import record as rec
from chatbench.storing.recording import Recorder
from chatbench.workflows.phases import PhaseContext


def wanted(cfg: RunConfig) -> bool:
    return cfg.cpu_profile and not cfg.target_url


def measure(ctx: PhaseContext) -> tuple[Recorder, ...]:
    assert ctx.stage is not None
    recorder = ctx.recorder
    section = rec.CpuProfileRecord(
        tool=f"py-spy {version('py-spy')}",
        command=" ".join(profiler.command("ROOT_PID", Path(profiling.PROFILE_DIR, "VARIANT", STACKS))),
        rate_hz=profiler.RATE_HZ, repetition=profiling.WHICH, variants={},
    )  # fmt: skip
    recorder.set(cpu_profile=section)
    for spec in ctx.specs.values():
        ctx.check_stop()
        live = ctx.live.services.get(spec.name) if ctx.live is not None else None
        try:
            done = profiling.profile_variant(ctx.stage, spec, live=live)
        except profiler.ProfilerUnavailable as exc:
            sentence = f"CPU profiles skipped: {exc}; the run continues without them."
            ctx.progress.phase(sentence)
            recorder.warn(sentence)
            recorder.set(cpu_profile=section.but(unavailable=sentence))
            recorder.save()
            return ()
        p = done.profile
        section = section.but(variants={**section.variants, spec.name: rec.VariantProfile(
            stacks=done.stacks, samples=p.samples, errors=p.errors, seconds=round(p.seconds, 3),
            user_cpu_s=round(p.user_cpu_s, 3), system_cpu_s=round(p.system_cpu_s, 3),
            requests=done.requests,
        )})  # fmt: skip
        recorder.set(cpu_profile=section)
        recorder.save()
    return ()


def version(package: str) -> str:
    try:
        return package_version(package)
    except PackageNotFoundError:
        return "(version unknown)"
