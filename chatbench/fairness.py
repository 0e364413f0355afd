"""Fairness rules, each judged from evidence read back from the OS and Postgres.

A framework comparison is only worth reading if it was fair. Every run collects evidence (CPU
masks actually in force, worker processes observed, peak database connections, data
checksums, Postgres settings before and after, load generator CPU, SQL per request) and this
module turns it into rules with a verdict: ``held`` or ``violated``. A violated rule makes the
run "not comparable" unless the user explicitly allowed it (``--allow-unfair``), in which case
every chart says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from chatbench.errors import ChatbenchError

LOADGEN_SATURATION_PCT = 90.0


class NotComparable(ChatbenchError):
    """The run finished but a fairness rule was violated."""

    exit_code = 3


@dataclass(frozen=True)
class Rule:
    name: str
    rule: str
    evidence: str
    held: bool

    @property
    def verdict(self) -> str:
        return "held" if self.held else "violated"

    def as_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict}


def judge(meta: dict) -> list[Rule]:
    """All rules for a run's metadata (as written by the runner)."""
    rules: list[Rule] = []
    plan = meta.get("cpu_plan", {})
    variants = meta.get("variants", {})
    pg = meta.get("postgres", {})
    evidence = meta.get("evidence", {})

    # 1. CPU placement: the service's observed mask shares no CPU with Locust's or Postgres's.
    if plan.get("pinned"):
        lg = set(evidence.get("loadgen_affinity") or plan.get("loadgen", []))
        pgc = set(pg.get("affinity") or [])
        clashes = []
        parts = []
        for name, v in variants.items():
            svc = set(v.get("affinity_observed") or [])
            parts.append(f"{name} on {sorted(svc)}")
            if svc & lg or svc & pgc:
                clashes.append(name)
        parts.append(f"Locust on {sorted(lg)}")
        if pgc:
            parts.append(f"Postgres on {sorted(pgc)}")
        rules.append(
            Rule(
                "cpu_separation",
                "the service runs on CPUs no load generator or Postgres uses",
                "; ".join(parts) + (f" — overlap: {', '.join(clashes)}" if clashes else ""),
                not clashes,
            )
        )
    else:
        rules.append(
            Rule(
                "cpu_separation",
                "the service runs on CPUs no load generator or Postgres uses",
                f"pinning unavailable: {plan.get('note', '')}",
                False,
            )
        )

    # 2. Worker processes observed match each variant's recipe.
    parts, bad = [], []
    for name, v in variants.items():
        expected = v.get("workers", 1) + (
            1 if v.get("server") in ("gthread", "sync") or v.get("workers", 1) > 1 else 0
        )
        observed = v.get("processes_observed")
        parts.append(
            f"{name}: {observed} processes ({v.get('workers')} workers × {v.get('threads')} threads, expected {expected})"
        )
        if observed is not None and observed < expected:
            bad.append(name)
    rules.append(
        Rule(
            "workers_as_recorded",
            "each service runs the worker processes its recipe states",
            "; ".join(parts),
            not bad,
        )
    )

    # 3. Database connections never exceed the shared cap.
    parts, bad = [], []
    for name, v in variants.items():
        peak = evidence.get("peak_connections", {}).get(name)
        cap = v.get("db_max_connections")
        parts.append(f"{name}: peak {peak} of {cap}")
        if peak is not None and cap is not None and peak > cap:
            bad.append(name)
    caps = {v.get("db_max_connections") for v in variants.values()}
    rules.append(
        Rule(
            "connection_cap",
            "every service holds at most the same number of DB connections",
            "; ".join(parts) + ("" if len(caps) <= 1 else f" — caps differ: {sorted(caps)}"),
            not bad and len(caps) <= 1,
        )
    )

    # 4. Identical data: every clone's checksum equals the template's, before load.
    template = pg.get("template_checksum")
    reps = meta.get("repetitions", [])
    mismatched = [
        f"{r['variant']}#{r['repetition']}" for r in reps if r.get("data_checksum") != template
    ]
    rules.append(
        Rule(
            "identical_data",
            "every variant starts from byte-identical data",
            f"{len(reps)} clones checked against template md5 {str(template)[:12]}…"
            + (f" — differ: {', '.join(mismatched)}" if mismatched else ""),
            bool(reps) and not mismatched,
        )
    )

    # 5. Postgres settings identical across the run.
    before, after = evidence.get("pg_settings_hash_start"), evidence.get("pg_settings_hash_end")
    rules.append(
        Rule(
            "postgres_settings",
            "one Postgres configuration for the whole run",
            f"SHOW ALL hash {str(before)[:12]} at start, {str(after)[:12]} at end",
            before is not None and before == after,
        )
    )

    # 6. The load generator never saturated.
    peaks = evidence.get("loadgen_peak_cpu", {})
    budget = evidence.get("loadgen_cpu_budget_pct", 100.0)
    worst = max(peaks.values(), default=0.0)
    rules.append(
        Rule(
            "loadgen_headroom",
            f"Locust stays below {LOADGEN_SATURATION_PCT:.0f} % of its CPU budget",
            "; ".join(f"{k}: peak {v:.0f}% of {budget:.0f}%" for k, v in peaks.items())
            or "no samples",
            bool(peaks) and worst <= LOADGEN_SATURATION_PCT * budget / 100.0,
        )
    )
    return rules


def summarise(rules: list[Rule], *, allowed: bool) -> dict:
    violated = [r.name for r in rules if not r.held]
    return {
        "rules": [r.as_dict() for r in rules],
        "violated": violated,
        "comparable": not violated,
        "overridden": bool(violated) and allowed,
    }
