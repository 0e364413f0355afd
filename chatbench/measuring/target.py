"""The ``--target`` mode: load already running services; nothing is provisioned or started.

One service (``--target URL --variant-label NAME``) or several (``--target NAME=URL`` repeated,
measured in the interleaved order of started variants: A B, B A, ...).

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
    def targets(self) -> dict[str, str]:
        """name → URL of every service the run loads, in order."""
        if self.cfg.targets:
            return dict(self.cfg.targets)
        return {self.cfg.variant_label or "target": str(self.cfg.target_url)}


def one(stage: TargetStage, rep: int, label: str) -> tuple[Observation, list[str]]:
    """One repetition against the target ``label``: (what it measured, the smoke check's names)."""
    cfg, url = stage.cfg, stage.targets[label]
    tag = f"{label} (repetition {rep}/{cfg.repeat})"
    rep_dir = stage.run_dir / "raw" / label / f"rep-{rep}"
    rep_dir.mkdir(parents=True, exist_ok=True)
    checks: list[verify.Check] = []
    if cfg.contract == "chat":  # the bundled contract; "openapi" was checked before measuring
        stage.progress.phase(f"{tag}: contract smoke check of {url}")
        checks = verify.require(url, label)
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
    spec = load_spec(cfg, url, stage.plan)
    result = run_load(spec, rep_dir, on_tick, never, stage.stop)
    assert result is not None  # only an abort event returns None, and this one never fires
    if stage.hooks.after_load:
        stage.hooks.after_load(label, rep, db_url)
    rows_after = postgres.row_count(db_url) if db_url else None
    observed = Observation(label, rep, rep_dir, result, rows_before=rows_before,
                           rows_after=rows_after)  # fmt: skip
    return observed, [c.name for c in checks]
