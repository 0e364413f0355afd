"""The seed data: deterministic chat rows every template database holds.

Fully determined by ``SeedSpec``: the same spec gives byte-identical rows, so every variant's
clone, the load generator's seeded sessions (``seed-00000`` …) and the tests agree on them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class SeedSpec:
    """What the template holds: ``sessions`` × ``messages`` rows, fully determined by ``seed``."""

    sessions: int = 1000
    messages: int = 20
    seed: int = 42

    @property
    def rows(self) -> int:
        return self.sessions * self.messages


# The vocabulary of the seeded messages, drawn with the seeded RNG: the text is fixed by it.
_WORDS = [
    "the",
    "a",
    "to",
    "and",
    "of",
    "in",
    "is",
    "you",
    "that",
    "it",
    "for",
    "on",
    "with",
    "as",
    "this",
    "be",
    "are",
    "have",
    "not",
    "can",
    "your",
    "what",
    "message",
    "reply",
    "session",
    "model",
    "token",
    "prompt",
    "answer",
    "question",
    "context",
    "database",
    "query",
    "index",
    "latency",
    "throughput",
    "request",
    "response",
    "python",
    "django",
    "fastapi",
    "postgres",
    "cache",
    "pool",
    "worker",
    "thread",
    "async",
    "await",
    "server",
    "client",
    "stream",
    "chunk",
    "json",
    "schema",
    "value",
    "error",
    "retry",
    "timeout",
    "benchmark",
    "measure",
    "result",
    "chart",
    "percentile",
    "median",
    "user",
    "assistant",
    "system",
    "hello",
    "thanks",
    "please",
    "explain",
    "example",
    "code",
    "function",
    "class",
    "return",
    "import",
    "data",
    "table",
    "row",
    "column",
]


def seed_rows(seed: SeedSpec) -> Iterator[tuple[str, str, str, datetime]]:
    """Deterministic rows in session order, so ids come out as 1..sessions*messages.

    A conversation opens with a system prompt, then alternates user/assistant turns; content
    lengths are log-normal (short questions, longer answers), capped at the contract's 32,768.
    """
    rng = random.Random(seed.seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for s in range(seed.sessions):
        session_id = f"seed-{s:05d}"
        for m in range(seed.messages):
            role = "system" if m == 0 else ("user" if m % 2 == 1 else "assistant")
            mean = {"system": 4.5, "user": 4.2, "assistant": 5.8}[role]
            length = max(1, min(32768, int(rng.lognormvariate(mean, 0.6))))
            content = _text(rng, length)
            created = start + timedelta(
                seconds=s * seed.messages + m, microseconds=rng.randrange(10**6)
            )
            yield role, content, session_id, created


def _text(rng: random.Random, length: int) -> str:
    out: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(_WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:length].strip() or "x"
