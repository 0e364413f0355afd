"""wrk, the independent load generator of ``chatbench crosscheck``: its Lua scripts and runs.

wrk runs a Lua script per scenario (:func:`wrk_script`) that sends the same request mix as the
built-in workload file: ``chat`` cycles POST user message → POST assistant reply → GET history page
(limit 50) over as many sessions as connections; ``read`` pages seeded sessions; ``write``
alternates the two POSTs; ``detail`` reads seeded rows by id. wrk reports only totals, so the
comparison is of all requests per second.
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from chatbench.configuration.endpoints import COLLECTION
from chatbench.errors import ChatbenchError, ToolMissing, UsageError
from chatbench.provisioning import cpuplan
from loadtests import corpus

WRK_TIMEOUT_GRACE_S = 30.0
HISTORY_LIMIT = 50  # the history page size of the chat and read scenarios, as Locust reads it

# The request mix of each scenario, as its workload file (loadtests/workloads/) sends
# it. Placeholders: %(prefix)s unique per measurement, %(users)d sessions, %(seed_sessions)d,
# %(seed_rows)d, and the contents: drawn by the locustfile's own generator
# (loadtests/corpus.py), JSON-escaped as Locust escapes them.
CONTENTS_PER_ROLE = 256
_LUA_COMMON = """
math.randomseed(%(random_seed)d)
local contents = {user = {%(user_contents)s}, assistant = {%(assistant_contents)s}}
local headers = {["Content-Type"] = "application/json", ["Accept"] = "application/json"}
-- The body as Locust's json.dumps writes it: ", " and ": " separators, non-ASCII escaped.
local function post(role, session)
  local pool = contents[role]
  local body = '{"role": "' .. role .. '", "content": "' .. pool[math.random(#pool)] ..
    '", "session_id": "' .. session .. '"}'
  return wrk.format("POST", "%(collection)s", headers, body)
end
local n = 0
"""

_LUA_REQUEST = {
    "chat": """
request = function()
  local step = n %% 3
  local session = "%(prefix)s-" .. (math.floor(n / 3) %% %(users)d)
  n = n + 1
  if step == 0 then return post("user", session) end
  if step == 1 then return post("assistant", session) end
  return wrk.format("GET", "%(collection)s?session_id=" .. session .. "&limit=%(limit)d")
end
""",
    "read": """
request = function()
  local session = string.format("seed-%%05d", math.random(0, %(seed_sessions)d - 1))
  return wrk.format("GET", "%(collection)s?session_id=" .. session .. "&limit=%(limit)d")
end
""",
    "write": """
request = function()
  local session = "%(prefix)s-" .. (math.floor(n / 2) %% %(users)d)
  n = n + 1
  if n %% 2 == 1 then return post("user", session) end
  return post("assistant", session)
end
""",
    "detail": """
request = function()
  return wrk.format("GET", "%(collection)s/" .. math.random(1, %(seed_rows)d))
end
""",
}

# One JSON line at the end, so the figures are parsed, not scraped from wrk's prose.
_LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nCHATBENCH {"requests":%d,"duration_us":%d,"status_errors":%d,"timeouts":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d}\\n',
    summary.requests, summary.duration, e.status, e.timeout, e.connect, e.read, e.write))
end
"""


def wrk_script(
    scenario: str,
    *,
    prefix: str,
    users: int,
    seed_sessions: int,
    seed_messages: int,
    random_seed: int = 1,
) -> str:
    """The Lua script that makes wrk send ``scenario``'s request mix."""
    if scenario not in _LUA_REQUEST:
        raise UsageError(f"Unknown scenario {scenario!r}; choose one of {', '.join(_LUA_REQUEST)}.")
    rng = random.Random(random_seed)

    def pool(chars: tuple[int, int]) -> str:
        # json.dumps escapes exactly as Locust's request body does; Lua reads the same
        # backslash escapes in a double-quoted string, so write them twice.
        texts = (
            json.dumps(corpus.make_content(rng, *chars))[1:-1] for _ in range(CONTENTS_PER_ROLE)
        )
        return ",".join('"' + t.replace("\\", "\\\\") + '"' for t in texts)

    values = {
        "user_contents": pool(corpus.USER_CHARS),
        "assistant_contents": pool(corpus.ASSISTANT_CHARS),
        "prefix": prefix,
        "users": max(1, users),
        "seed_sessions": max(1, seed_sessions),
        "seed_rows": max(1, seed_sessions * seed_messages),
        "limit": HISTORY_LIMIT,
        "collection": COLLECTION,
        "random_seed": random_seed,
    }
    return (_LUA_COMMON + _LUA_REQUEST[scenario]) % values + _LUA_DONE


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    errors: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else math.nan


def parse_wrk_output(text: str) -> WrkResult:
    """The CHATBENCH line our ``done`` hook prints; a clear error when it is missing."""
    match = re.search(r"^CHATBENCH (\{.*\})$", text, flags=re.MULTILINE)
    if not match:
        raise ChatbenchError("wrk printed no summary line; its output:\n" + text[-2000:])
    data = json.loads(match.group(1))
    errors = {k: int(v) for k, v in data.items() if k.endswith("errors") or k == "timeouts"}
    return WrkResult(int(data["requests"]), int(data["duration_us"]) / 1e6, errors)


def run_wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    script: Path,
    cpus: tuple[int, ...] | None,
    yield_cpu: bool = False,
) -> WrkResult:
    """One wrk run: one thread (like one Locust process), pinned and scheduled like the load
    generator (``cpuplan.loadgen_preexec``)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise ToolMissing("wrk is not installed; run `make tools` (Debian: apt-get install wrk).")
    cmd = [
        wrk, "-t", "1", "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
        "--timeout", "10s", "-s", str(script), url,
    ]  # fmt: skip
    try:
        done = subprocess.run(
            cmd,
            preexec_fn=cpuplan.loadgen_preexec(cpus, yield_cpu=yield_cpu),
            capture_output=True,
            text=True,
            timeout=seconds + WRK_TIMEOUT_GRACE_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ChatbenchError(
            f"wrk did not finish within {seconds + WRK_TIMEOUT_GRACE_S:.0f} s."
        ) from exc
    if done.returncode != 0:
        raise ChatbenchError(f"wrk failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return parse_wrk_output(done.stdout)
