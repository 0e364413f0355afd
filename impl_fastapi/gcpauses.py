"""This process's garbage-collection pauses, written down for the harness; and the ``gc`` axis.

The Django service has the same module (impl_django/gcpauses.py): the services share no code,
so the two are kept alike line for line. Formats and variables: docs/interfaces.md.

Pause log (``CHATBENCH_GC_LOG=<directory>``; unset: no callback, no file). Every process that
serves requests appends JSON lines to ``<directory>/gc-<pid>.jsonl``, each written and flushed
whole:

- ``{"kind": "start", "pid", "ppid", "t", "gc", "threshold", "frozen"}`` when installed, before
  the application is built; ``"kind": "runtime"`` (same keys) once start-up is done, after the
  ``gc`` mode below took effect;
- ``{"kind": "full", "pid", "t", "ms", "collected"}`` for every generation-2 (full) collection:
  ``t`` the epoch second it started, ``ms`` how long it paused the process (perf_counter);
- ``{"kind": "young", "pid", "t", "count": [c0, c1], "ms_total": [t0, t1], "ms_max": [m0, m1]}``:
  generation 0 and 1 collections are too frequent for a line each, so they are added up and
  written when a young collection ends at least 0.5 s after the previous young line (or the
  start line), and at a normal exit; a line covers the collections in (previous ``t``, ``t``].
  A process killed by a signal loses the young collections since its last young line.

A child forked after install (nothing here forks a serving process) drops the hook, so a file
only ever holds its own pid's lines.

The ``gc`` runtime axis (``CHATBENCH_GC``; both services, same values and meaning):

- ``default``: nothing changed;
- ``threshold``: ``gc.set_threshold(12_000, 20, 25)`` when installed, i.e. before the application
  is built: the thresholds Odoo's server sets in every process (odoo/odoo ``odoo/init.py``,
  commit 76ef665), its reason being that handling a request can allocate over 5,000 objects, so
  collections should not start before that. A full collection is then considered after
  20 × 25 = 500 young collections of 12,000 net allocations each, instead of 10 × 10 of 700;
- ``freeze``: once start-up is done, before the first request (``started``: FastAPI in its
  lifespan, after the engine and cache client are opened; Django at the end of wsgi.py or
  asgi.py, after the application and its URLconf are loaded), ``gc.collect()`` then
  ``gc.freeze()``: everything alive then moves to the permanent generation, which no later
  collection scans, so full collections walk only what the worker allocated since. Odoo proposed
  it for its server for that reason (odoo/odoo#213527: full collections of 100-200 ms over its
  150k-350k loaded objects). Collecting first keeps start-up garbage from being frozen forever.

Overhead, measured with ``.venv/bin/python scripts/gc_hook_overhead.py --pairs 3 --seconds 3``
(2026-12-07, 2-core machine busy with other work, load average 2.5-4.2): the callback itself
costs 0.5-0.9 µs per young collection; end to end, a young collection costs 1.7-2.9 µs more
with the hook than without (five runs, each the median of 100-200 interleaved pairs of
segments; the garbage-making loop costs ~90 µs per collection). Both services run 0.26-0.28
young collections per chat request (read from their own logs, two runs), so the hook costs
about 0.7 µs per request, against the milliseconds of CPU one takes (a service core serves a
few hundred a second here): under 0.1 %. The same script's closed-loop pairs with and without
the log (wrk) ranged from 0.56 to 1.23 on that machine: its noise, far above the hook's cost.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import time
from time import perf_counter
from typing import Any, TextIO

MODES = ("default", "freeze", "threshold")
TUNED_THRESHOLD = (12_000, 20, 25)
YOUNG_EVERY_S = 0.5

_mode = "default"
_installed = False
_started = False
_out: TextIO | None = None
_pid = 0
_began = 0.0  # perf_counter when the running collection started
_full_t = 0.0  # epoch second when the running full collection started
_young_since = 0.0  # perf_counter of the last young (or start) line
# Since the last young line: collections, total ms and longest ms, of generations 0 and 1.
_count = [0, 0]
_total = [0.0, 0.0]
_longest = [0.0, 0.0]


def install(mode: str, directory: str) -> None:
    """In a process about to serve requests, before the application is built: apply the
    ``threshold`` mode and, when ``directory`` is set, start the pause log. Only the first call
    in a process counts."""
    global _mode, _installed, _out, _pid, _young_since
    if mode not in MODES:
        raise ValueError(f"gc mode must be one of {', '.join(MODES)}, not {mode!r}")
    if _installed:
        return
    _installed, _mode = True, mode
    if mode == "threshold":
        gc.set_threshold(*TUNED_THRESHOLD)
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    _pid = os.getpid()
    _out = open(  # noqa: SIM115 (open for the life of the process)
        os.path.join(directory, f"gc-{_pid}.jsonl"), "a", buffering=1, encoding="utf-8"
    )
    _write(_state("start"))
    _young_since = perf_counter()
    gc.callbacks.append(_on_collection)
    atexit.register(_write_young)
    os.register_at_fork(after_in_child=_drop_in_child)


def started() -> None:
    """Once start-up is done, before the first request: apply the ``freeze`` mode and write
    the runtime line. Only the first call in a process counts."""
    global _started
    if _started:
        return
    _started = True
    if _mode == "freeze":
        gc.collect()
        gc.freeze()
    if _out is not None:
        _write(_state("runtime"))


def _state(kind: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "pid": _pid,
        "ppid": os.getppid(),
        "t": round(time.time(), 6),
        "gc": _mode,
        "threshold": list(gc.get_threshold()),
        "frozen": gc.get_freeze_count(),
    }


def _write(line: dict[str, Any]) -> None:
    if _out is not None:
        _out.write(json.dumps(line, separators=(",", ":")) + "\n")  # one write, then flushed


def _on_collection(phase: str, info: dict[str, int]) -> None:
    """``gc.callbacks`` entry: runs before and after every collection, so it stays short for
    generation 0 (a counter, a sum, a max, one comparison)."""
    global _began, _full_t, _young_since
    generation = info["generation"]
    if phase == "start":
        if generation == 2:
            _full_t = time.time()
        _began = perf_counter()
        return
    now = perf_counter()
    ms = (now - _began) * 1000.0
    if generation == 2:
        _write(
            {
                "kind": "full",
                "pid": _pid,
                "t": round(_full_t, 6),
                "ms": round(ms, 3),
                "collected": info["collected"],
            }
        )
        return
    _count[generation] += 1
    _total[generation] += ms
    if ms > _longest[generation]:
        _longest[generation] = ms
    if now - _young_since >= YOUNG_EVERY_S:
        _young_since = now
        _write_young()


def _write_young() -> None:
    """The young collections since the last young line, then start counting afresh."""
    if _count == [0, 0]:
        return
    _write(
        {
            "kind": "young",
            "pid": _pid,
            "t": round(time.time(), 6),
            "count": _count[:],
            "ms_total": [round(v, 3) for v in _total],
            "ms_max": [round(v, 3) for v in _longest],
        }
    )
    _count[:] = [0, 0]
    _total[:] = [0.0, 0.0]
    _longest[:] = [0.0, 0.0]


def _drop_in_child() -> None:
    """A forked child is another process: it must not write under its parent's pid."""
    global _out
    if _on_collection in gc.callbacks:
        gc.callbacks.remove(_on_collection)
    _out = None
