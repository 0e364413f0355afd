"""The services' garbage-collection pauses, read from the files their own hook writes.

With ``CHATBENCH_GC_LOG=<directory>`` every serving process of a service appends JSON lines to
``<directory>/gc-<pid>.jsonl`` (impl_django/gcpauses.py and impl_fastapi/gcpauses.py, the same
format; docs/interfaces.md): a ``start`` line when the hook is installed, a ``runtime`` line
once start-up is done, one ``full`` line per generation-2 collection (when it started, how long
it paused the process) and, at most every 0.5 s, a ``young`` line adding up the generation 0
and 1 collections since the previous one.

Everything here is a pure function of those files: ``read_pause_log`` parses a directory (a
line that does not parse, such as the half-written last line of a process killed mid-write, is
skipped and counted), ``summarise`` answers what a wall-clock window held, ``startup_passed``
whether every serving process is past its start-up collections, and ``describe`` says it in
words for a report.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

FILE_GLOB = "gc-*.jsonl"
LOG_ENV = "CHATBENCH_GC_LOG"  # the variable that switches a service's hook on (a directory)


class _Line(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    pid: int
    t: float  # epoch seconds


class ProcessState(_Line):
    """A ``start`` line (the hook installed, before the application is built) or a ``runtime``
    line (start-up over, the ``gc`` mode applied): the collector's settings at that moment."""

    kind: Literal["start", "runtime"]
    ppid: int
    gc: str  # the gc axis value: default, freeze or threshold
    threshold: tuple[int, int, int]
    frozen: int  # gc.get_freeze_count()


class FullCollection(_Line):
    """One generation-2 collection: ``t`` when it started, ``ms`` how long it paused."""

    kind: Literal["full"]
    ms: float
    collected: int


class YoungCollections(_Line):
    """The generation 0 and 1 collections of one process in (its previous young line, ``t``]."""

    kind: Literal["young"]
    count: tuple[int, int]
    ms_total: tuple[float, float]
    ms_max: tuple[float, float]


_ANY_LINE: TypeAdapter[ProcessState | FullCollection | YoungCollections] = TypeAdapter(
    Annotated[ProcessState | FullCollection | YoungCollections, Field(discriminator="kind")]
)


class ProcessPauses(BaseModel):
    """Everything one process wrote."""

    model_config = ConfigDict(frozen=True)

    pid: int
    start: ProcessState | None = None
    runtime: ProcessState | None = None
    full: tuple[FullCollection, ...] = ()  # by time
    young: tuple[YoungCollections, ...] = ()  # by time

    @property
    def first_t(self) -> float:
        """When the process is first seen: its start line, else its earliest line."""
        if self.start is not None:
            return self.start.t
        times = [s.t for s in (self.runtime,) if s is not None]
        times += [c.t for c in self.full] + [y.t for y in self.young]
        return min(times)

    @property
    def serving_since(self) -> float:
        """When start-up ended: the runtime line, else the start line, else the first line."""
        return self.runtime.t if self.runtime is not None else self.first_t


class PauseLog(BaseModel):
    """Every process's pause lines from one directory."""

    model_config = ConfigDict(frozen=True)

    processes: Mapping[int, ProcessPauses]  # by pid, ascending
    full: tuple[FullCollection, ...]  # every process's full collections on one time line
    skipped_lines: int = 0  # lines that did not parse (a truncated last line, say)

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(self.processes)


class WindowPauses(BaseModel):
    """What a wall-clock window [start, end) held, over all the service's processes."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float
    processes: tuple[int, ...]  # pids seen before the window's end
    full_count: int
    full_total_ms: float
    full_longest_ms: float  # 0 when none
    full_by_pid: Mapping[int, int]  # every process seen, 0 included
    young_count: int  # generations 0 and 1, from the young lines whose t is in the window
    young_total_ms: float
    young_longest_ms: float
    # Median gap between consecutive full collections in the window, any process counting;
    # None with fewer than 2.
    full_interval_s: float | None
    # Seconds from the first process's start of serving to the window's end when no process
    # ran any full collection in all that time (a pause cycle of none); None otherwise.
    quiet_s: float | None = None
    # The share of its serving time the service's full collections paused it, over its whole
    # life up to the window's end (pause time / serving time, summed over its processes).
    life_paused_share: float | None = None
    # The longest full collection any process ran while serving, up to the window's end (None:
    # none ran).
    life_longest_ms: float | None = None


def read_pause_log(directory: Path) -> PauseLog:
    """Parse every ``gc-*.jsonl`` in ``directory`` (none, or no directory: an empty log).

    A line that is not a complete, known record is skipped and counted in ``skipped_lines``:
    the last line of a process killed mid-write, or one still being written while the harness
    reads during a run."""
    lines: list[ProcessState | FullCollection | YoungCollections] = []
    skipped = 0
    paths = sorted(directory.glob(FILE_GLOB)) if directory.is_dir() else []
    for path in paths:
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if not raw.strip():
                continue
            try:
                lines.append(_ANY_LINE.validate_python(json.loads(raw)))
            except (ValueError, ValidationError):  # JSONDecodeError is a ValueError
                skipped += 1
    return PauseLog(
        processes={pid: _process(pid, lines) for pid in sorted({line.pid for line in lines})},
        full=tuple(sorted((c for c in lines if isinstance(c, FullCollection)), key=_time)),
        skipped_lines=skipped,
    )


def _time(line: _Line) -> float:
    return line.t


def _process(pid: int, lines: Iterable[_Line]) -> ProcessPauses:
    own = sorted((line for line in lines if line.pid == pid), key=_time)
    states = [s for s in own if isinstance(s, ProcessState)]
    return ProcessPauses(
        pid=pid,
        start=next((s for s in states if s.kind == "start"), None),
        runtime=next((s for s in states if s.kind == "runtime"), None),
        full=tuple(c for c in own if isinstance(c, FullCollection)),
        young=tuple(y for y in own if isinstance(y, YoungCollections)),
    )


def summarise(log: PauseLog, start: float, end: float) -> WindowPauses:
    """The collections of the window [``start``, ``end``) (epoch seconds): a full collection
    counts when it started in it, a young line when its ``t`` is in it."""
    seen = tuple(pid for pid, p in log.processes.items() if p.first_t < end)
    full = [c for c in log.full if start <= c.t < end]
    young = [y for p in log.processes.values() for y in p.young if start <= y.t < end]
    by_pid = {c.pid for c in full}
    gaps = [b.t - a.t for a, b in zip(full, full[1:], strict=False)]
    return WindowPauses(
        start=start,
        end=end,
        processes=seen,
        full_count=len(full),
        full_total_ms=sum(c.ms for c in full),
        full_longest_ms=max((c.ms for c in full), default=0.0),
        full_by_pid={pid: sum(c.pid == pid for c in full) for pid in sorted({*seen, *by_pid})},
        young_count=sum(sum(y.count) for y in young),
        young_total_ms=sum(sum(y.ms_total) for y in young),
        young_longest_ms=max((max(y.ms_max) for y in young), default=0.0),
        full_interval_s=statistics.median(gaps) if gaps else None,
        quiet_s=_quiet(log, end),
        life_paused_share=paused_share(log, end),
        life_longest_ms=longest_serving_pause(log, end),
    )


def paused_share(log: PauseLog, end: float) -> float | None:
    """Full-collection pause time over serving time, every process up to ``end`` (None when
    nothing was serving): the share of requests its pauses can hold up."""
    serving = pause_ms = 0.0
    for process in log.processes.values():
        since = process.serving_since
        if since >= end:
            continue
        serving += end - since
        pause_ms += sum(c.ms for c in process.full if since <= c.t < end)
    return pause_ms / 1000 / serving if serving > 0 else None


def longest_serving_pause(log: PauseLog, end: float) -> float | None:
    """The longest full collection (ms) any process ran while serving, before ``end``."""
    return max(
        (c.ms for p in log.processes.values() for c in p.full if p.serving_since <= c.t < end),
        default=None,
    )


def _quiet(log: PauseLog, end: float) -> float | None:
    """Seconds of serving before ``end`` with no full collection in any process (None when
    one ran, or when nothing was serving)."""
    serving = [p.serving_since for p in log.processes.values() if p.serving_since < end]
    if not serving or any(c.t < end for c in log.full):
        return None
    return end - min(serving)


def serving_full_collections(log: PauseLog) -> dict[int, int]:
    """Per process, the full collections it has completed since its start-up ended (its
    ``runtime`` line): the ones an import or the ``freeze`` mode's own collection ran do not
    count, since a process that has not yet collected while serving still has its first
    (typically longest) one ahead of it."""
    return {pid: sum(c.t >= p.serving_since for c in p.full) for pid, p in log.processes.items()}


def startup_passed(log: PauseLog, *, min_full: int = 2) -> bool:
    """Whether every serving process has run at least ``min_full`` full collections while
    serving (``serving_full_collections``); False while no process has written anything."""
    counts = serving_full_collections(log)
    return bool(counts) and min(counts.values()) >= min_full


def describe(p: WindowPauses) -> str:
    """``5 full collections of up to 240 ms (total 1.0 s)``; ``no full collection``."""
    if p.full_count == 0:
        return "no full collection"
    if p.full_count == 1:
        return f"1 full collection of {_duration(p.full_longest_ms)}"
    return (
        f"{p.full_count} full collections of up to {_duration(p.full_longest_ms)} "
        f"(total {_duration(p.full_total_ms)})"
    )


def _duration(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:.1f} s"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"
