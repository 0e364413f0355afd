"""The ``--target`` mode: load an already running service; nothing is provisioned or started.

Only what can be observed from here is measured: the load, the load generator's health, and,
with ``--database-url`` (the service's own database), the rows before and after for the
integrity check. The service's CPU, workers, connections and data are not observed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from chatbench.configuration.settings import RunConfig
from chatbench.load import locust
from chatbench.measuring.repetition import Observation, load_spec, run_load
from chatbench.measuring.watch import Progress, RunHooks
from chatbench.provisioning import postgres
from chatbench.provisioning.cpuplan import CpuPlan
from chatbench.serving import verify


@dataclass(frozen=True)
class TargetStage:
    """What every repetition of a ``--target`` run shares."""

    cfg: RunConfig
    plan: CpuPlan
    run_dir: Path
    stop: threading.Event
    progress: Progress
    hooks: RunHooks

    @property
    def label(self) -> str:
        return self.cfg.variant_label or "target"


def one(stage: TargetStage, rep: int) -> tuple[Observation, list[str]]:
    """One repetition against the target: (what it measured, the smoke check's names)."""
    cfg, label = stage.cfg, stage.label
    tag = f"{label} (repetition {rep}/{cfg.repeat})"
    rep_dir = stage.run_dir / "raw" / label / f"rep-{rep}"
    rep_dir.mkdir(parents=True, exist_ok=True)
    stage.progress.phase(f"{tag}: contract smoke check of {cfg.target_url}")
    checks = verify.require(str(cfg.target_url), label)
    db_url = cfg.database_url
    rows_before = postgres.row_count(db_url) if db_url else None
    stage.progress.phase(f"{tag}: warm-up {cfg.warmup_s:g} s, then measuring {cfg.duration_s:g} s")
    last = [time.monotonic()]

    def on_tick(tick: locust.LoadTick) -> None:
        now = time.monotonic()
        stage.progress.advance(now - last[0])
        last[0] = now
        if stage.hooks.during_load:
            stage.hooks.during_load(label, rep, None, tick.elapsed_s)

    never = threading.Event()
    spec = load_spec(cfg, str(cfg.target_url), stage.plan)
    result = run_load(spec, rep_dir, on_tick, never, stage.stop)
    assert result is not None  # only an abort event returns None, and this one never fires
    if stage.hooks.after_load:
        stage.hooks.after_load(label, rep, db_url)
    rows_after = postgres.row_count(db_url) if db_url else None
    observed = Observation(label, rep, rep_dir, result, rows_before=rows_before,
                           rows_after=rows_after)  # fmt: skip
    return observed, [c.name for c in checks]
