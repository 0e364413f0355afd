"""Message contents: what every scenario posts, for Locust and for the wrk cross-check alike.

Plain words, a little punctuation and non-ASCII (which JSON escapes and both services must
decode and store), cut from one fixed corpus. The locustfile posts ``make_content`` strings;
``chatbench.crosscheck`` hands wrk contents drawn by the same function, so both tools make the
services parse, store and serialise the same kind of text. Standard library only: Locust imports
it by path, the harness as ``loadtests.corpus``.
"""

from __future__ import annotations

import random

WORDS_TEXT = (
    "the a to of and in is it you that for on with as are this be can what how do not your "
    "query index table session message latency request reply model token stream database "
    "connection pool cache worker thread async await python django fastapi postgres json "
    "please thanks explain example error result value field page order time user assistant "
    "café naïve Zürich 東京 déjà-vu, why? yes. no! maybe; (see above) 42 3.14 2025-01-01"
)
WORDS = WORDS_TEXT.split()
_corpus_rng = random.Random(20250101)
CORPUS = " ".join(_corpus_rng.choice(WORDS) for _ in range(8000))
# Content lengths (characters) of the two roles a conversation posts.
USER_CHARS = (20, 400)
ASSISTANT_CHARS = (80, 600)


def make_content(rng: random.Random, lo: int, hi: int) -> str:
    """A message of about lo..hi characters, cut from CORPUS at a word boundary."""
    length = rng.randint(lo, hi)
    start = CORPUS.find(" ", rng.randrange(len(CORPUS) - hi - 64)) + 1
    return CORPUS[start : start + length].strip() or "hello"
