"""``--open-crosscheck``: the open-model answers measured again by a generator that is not Locust.

An instrument is trusted once an independent one agrees with it, and a disagreement changes
the answer. After the equal-load and SLO phases, on the same long-lived services, every
**target** is measured in ``PAIRS`` pairs of windows: one by Locust's rate mode and one by the
open-model generator (``load.openmodel``: Node.js on undici, one global schedule of uniform
arrivals, latency from the intended send time), back to back, the generator that goes first
alternating from pair to pair and the variants alternating A B, B A. The targets: every
equal-load rate, and each variant's found SLO rate and the rate 10–15 % above it
(``analysing.slo``). Both generators get the same rate, warm-up and window length (the median
length of that variant's adaptive windows at that rate, as they were measured, else
``window_max``), pinned where Locust runs.

Locust's windows form a sub-run per target (``crosscheck/<slug>/``, repetition = pair: judged
and checked like any run); the independent generator's windows go into the run record
(``open_crosscheck``), each with its percentiles, its pauses and rows against creates.
``analysing.toolagreement`` judges them.
"""

from __future__ import annotations

import math
import re
import statistics

from chatbench.analysing import slo as slo_answer
from chatbench.analysing import tails
from chatbench.configuration.settings import RunConfig
from chatbench.errors import IntegrityError
from chatbench.load import latency
from chatbench.measuring.repetition import Stage
from chatbench.storing import record as rec
from chatbench.storing.recording import Recorder, pause_record
from chatbench.workflows.phases import PhaseContext
from chatbench.workflows.phases import slo as slo_phase
from chatbench.workflows.phases.equal_load import phase_config, sub_run
from loadtests.arrivals import words as arrival_words

PAIRS = 3
DIRECTORY = "crosscheck"
PERCENTILES = (50.0, 95.0, 99.0, 99.9)


def wanted(cfg: RunConfig) -> bool:
    return cfg.open_crosscheck


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _lengths(record: rec.RunRecord, variant: str) -> list[float]:
    return [
        w.measure_end - w.measure_start
        for key, w in record.evidence.windows.items()
        if key.rsplit("#", 1)[0] == variant and w.measure_end > w.measure_start
    ]


def targets(ctx: PhaseContext) -> list[rec.CrossCheckTarget]:
    """The rates to measure with both generators (module docstring)."""
    record = ctx.recorder.record
    cfg = ctx.cfg
    out = []
    for phase in record.equal_load.phases if record.equal_load is not None else []:
        sub = rec.load(ctx.run_dir / phase.directory)
        seen = [x for v in ctx.specs for x in _lengths(sub, v)]
        label = f"equal load {100 * float(phase.fraction):g} %"
        out.append(rec.CrossCheckTarget(
            label=label, rate=phase.rate, variants=list(ctx.specs),
            directory=f"{DIRECTORY}/{_slug(label)}",
            window_s=round(statistics.median(seen), 1) if seen else cfg.window_max_s,
        ))  # fmt: skip
    answer = slo_answer.slo_answer(ctx.run_dir, record)
    for v in answer.variants if answer is not None else ():
        b = v.bracket
        if not b.stable or b.low is None:
            continue
        rates = [("found rate", b.low)]
        if not v.at_ceiling:
            rates.append(("above the found rate", slo_answer.above_rate(b.low, b.high)))
        lengths = [
            x
            for where in (slo_phase.SEARCH_DIR, slo_phase.CONFIRM_DIR)
            if (ctx.run_dir / where / "meta.json").is_file()
            for x in _lengths(rec.load(ctx.run_dir / where), v.variant)
        ]
        for label, rate in rates:
            out.append(rec.CrossCheckTarget(
                label=label, rate=rate, variants=[v.variant],
                directory=f"{DIRECTORY}/{_slug(f'{v.variant} {label}')}",
                window_s=round(statistics.median(lengths), 1) if lengths else cfg.window_max_s,
            ))  # fmt: skip
    return out


def measure(ctx: PhaseContext) -> tuple[Recorder, ...]:
    cfg = ctx.cfg
    assert ctx.live is not None and ctx.stage is not None
    chosen = targets(ctx)
    section = rec.OpenCrossCheckRecord(tool="", pairs=PAIRS, agreement=0.15, targets=chosen,
                                       windows=[])  # fmt: skip
    if not chosen:
        ctx.recorder.set(
            open_crosscheck=section.but(skipped="no equal-load rate or found SLO rate to measure")
        )
        return ()
    ctx.recorder.set(open_crosscheck=section)
    ctx.recorder.save()
    subs = []
    percentile = float(ctx.recorder.record.slo.percentile) if ctx.recorder.record.slo else None
    for target in chosen:
        sub_cfg = phase_config(cfg, float(target.rate), (ctx.run_dir / target.directory).parent,
                               duration_s=float(target.window_s), repeat=PAIRS)  # fmt: skip
        sub = sub_run(ctx, target.directory, sub_cfg,
                      question=f"Does Locust measure {target.label} as an independent generator does?")  # fmt: skip
        subs.append(sub)
        stage = ctx.sub_stage(sub_cfg, sub.run_dir)
        for pair in range(1, PAIRS + 1):
            order = target.variants if pair % 2 else list(reversed(target.variants))
            for variant in order:
                generators = ("locust", "independent") if pair % 2 else ("independent", "locust")
                for generator in generators:
                    ctx.check_stop()
                    if generator == "locust":
                        ctx.window(stage, pair, (variant,), sub)
                        sub.save()
                        continue
                    window, tool = _independent(ctx, stage, target, variant, pair, sub, percentile)
                    section = section.but(windows=[*section.windows, window], tool=tool)
                    ctx.recorder.set(open_crosscheck=section)
                    ctx.recorder.save()
    lost = [f"{w.variant} at {float(w.rate):g} req/s, pair {w.pair}" for w in section.windows
            if w.integrity_ok is False]  # fmt: skip
    if lost:
        raise IntegrityError(
            "The independent generator's creates and the rows its windows added differ "
            f"({'; '.join(lost)}): a request was lost or invented."
        )
    return tuple(subs)


def _independent(ctx: PhaseContext, stage: Stage, target: rec.CrossCheckTarget, variant: str, pair: int,
                 sub: Recorder, percentile: float | None) -> tuple[rec.IndependentWindowRecord, str]:  # fmt: skip
    """One window of the independent generator, as the record keeps it, and the generator's
    name and versions."""
    assert ctx.live is not None
    out_dir = sub.run_dir / "independent" / variant / f"pair-{pair}"
    seen = ctx.live.independent_window(
        stage, variant, rate=float(target.rate), warmup_s=ctx.cfg.equal_load_warmup_s,
        duration_s=float(target.window_s), seed=pair, out_dir=out_dir,
    )  # fmt: skip
    result = seen.result
    wanted = [*PERCENTILES, *([percentile] if percentile is not None else [])]
    values = (
        latency.percentiles(result.histogram, wanted) if result.histogram.get_total_count() else {}
    )
    values = {q: v for q, v in values.items() if math.isfinite(v)}
    named = {name: values.get(q) for name, q in tails.NAMED.items()}
    if percentile is not None:
        named["slo"] = values.get(percentile)
    creates = result.successful_creates_total
    added = seen.rows_after - seen.rows_before
    ok = creates <= added <= creates + result.unfinished_creates
    tool = (
        f"open-model generator on Node.js {result.node_version}, undici "
        f"{result.undici_version}, {arrival_words(result.arrivals)}"
    )
    return rec.IndependentWindowRecord(
        variant=variant, target=target.directory, rate=target.rate, pair=pair,
        values_ms={k: (round(v, 3) if v is not None else None) for k, v in named.items()},
        overloaded=result.overloaded, achieved_rate=round(result.achieved_rate, 3),
        dropped=result.dropped, requests=sum(c.count - c.failures for c in result.endpoints.values()),
        failures=result.failures, span_s=round(result.duration_s, 3),
        pauses=pause_record(seen.pauses) if seen.pauses is not None else None,
        creates=creates, unfinished_creates=result.unfinished_creates, rows_added=added,
        integrity_ok=ok, generator_cpu_pct=round(result.cpu_percent, 1),
        loadgen_problems=list(result.health.problems),
    ), tool  # fmt: skip
