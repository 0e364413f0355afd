"""The four scenarios as they were written before workload files (loadtests/locustfile.py at
the commit before issue 32), kept as the reference ``test_workloads.py`` compares the workload
files' request streams with: the same seed must give the same requests.

Run by Locust like the real locustfile (``chatbench.load.locust`` with its ``LOCUSTFILE``
pointed here); it imports the loadtests' recorder and corpus, which it finds through the path
added below. Not used by anything else.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import signal
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import gevent

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "loadtests"))
from arrivals import EvenSchedule
from corpus import ASSISTANT_CHARS, USER_CHARS, make_content
from locust import FastHttpUser, LoadTestShape, events, task
from locust.runners import MasterRunner, WorkerRunner
from recorder import CREATE, INTENDED_KEY, LAG_INTERVAL_S, Recorder, process_tag

HISTORY = "GET /api/chat/messages"
DETAIL = "GET /api/chat/messages/{id}"
SCENARIOS = ("chat", "read", "write", "detail")
MODES = ("closed", "rate", "ramp")
HISTORY_LIMIT = 50

SCENARIO = os.environ.get("CHATBENCH_SCENARIO", "chat")
MODE = os.environ.get("CHATBENCH_MODE", "closed")
if SCENARIO not in SCENARIOS:
    raise SystemExit(f"CHATBENCH_SCENARIO={SCENARIO!r}: expected one of {', '.join(SCENARIOS)}")
if MODE not in MODES:
    raise SystemExit(f"CHATBENCH_MODE={MODE!r}: expected one of {', '.join(MODES)}")

recorder = Recorder()
events.request.add_listener(recorder.on_request)
_user_numbers = itertools.count()
# Rate mode: every user of this process, to count the sends its schedule still owed at the end.
_rate_users: list[_ChatbenchUser] = []


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    group = parser.add_argument_group("chatbench", "chatbench scenario and measurement settings")
    add = group.add_argument
    add("--chatbench-scenario", env_var="CHATBENCH_SCENARIO", default="chat", choices=SCENARIOS)
    add("--chatbench-mode", env_var="CHATBENCH_MODE", default="closed", choices=MODES)
    add(
        "--chatbench-rate",
        env_var="CHATBENCH_RATE",
        type=float,
        default=0.0,
        help="rate mode: total requests per second over all users",
    )
    add(
        "--chatbench-users",
        env_var="CHATBENCH_USERS",
        type=int,
        default=0,
        help="rate mode: total users the rate is split over (default: -u)",
    )
    add("--chatbench-seed-sessions", env_var="CHATBENCH_SEED_SESSIONS", type=int, default=0)
    add("--chatbench-seed-messages", env_var="CHATBENCH_SEED_MESSAGES", type=int, default=0)
    add(
        "--chatbench-seed",
        env_var="CHATBENCH_RANDOM_SEED",
        type=int,
        default=1,
        help="base of every user's random.Random seed",
    )
    add("--chatbench-warmup-s", env_var="CHATBENCH_WARMUP_S", type=float, default=0.0)
    add("--chatbench-measure-s", env_var="CHATBENCH_MEASURE_S", type=float, default=3600.0)
    add(
        "--chatbench-start-at",
        env_var="CHATBENCH_START_AT",
        type=float,
        default=0.0,
        help="epoch seconds the test's clock starts at (0: when the test starts); two load "
        "generators given the same value measure the same wall-clock window",
    )
    add("--chatbench-ramp-steps", env_var="CHATBENCH_RAMP_STEPS", default="10,20,40,80")
    add("--chatbench-ramp-step-s", env_var="CHATBENCH_RAMP_STEP_S", type=float, default=10.0)


def _recorder_config(options: Any) -> dict[str, Any]:
    return {
        "scenario": options.chatbench_scenario,
        "mode": options.chatbench_mode,
        "target_rate": options.chatbench_rate if options.chatbench_mode == "rate" else None,
        "warmup_s": options.chatbench_warmup_s,
        "measure_s": options.chatbench_measure_s,
        "start_at": options.chatbench_start_at,
    }


def _t0(config: dict[str, Any], now: float) -> float:
    """Where the test's clock starts: a shared ``start_at`` when the harness gave one (a duet:
    two Locusts, one window), else ``now``."""
    return float(config.get("start_at") or 0.0) or now


def _on_start_message(environment: Any, msg: Any, **_: Any) -> None:
    # The worker's own clock at receipt (not the master's timestamp): immune to clock skew
    # between machines, off by the message latency only.
    recorder.start(_t0(msg.data, time.time()), msg.data)
    _spawn_watchers(environment.runner)


def _spawn_watchers(runner: Any) -> None:
    """The per-process greenlets that sample this process while its users run."""
    gevent.spawn(_sample_users, runner)
    gevent.spawn(_watch_loop_lag)


def _sample_users(runner: Any) -> None:
    while True:
        recorder.sample_users(runner.user_count)
        gevent.sleep(0.2)


def _watch_loop_lag() -> None:
    # How late the loop wakes this greenlet is how long every other greenlet of the process
    # (each user's reads and sends) could also have waited. perf_counter: immune to clock steps.
    while True:
        asked = time.perf_counter()
        gevent.sleep(LAG_INTERVAL_S)
        recorder.record_lag(time.perf_counter() - asked - LAG_INTERVAL_S)


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        # A worker runs whichever user class its master dispatches, so it keeps all four.
        environment.runner.register_message("chatbench_start", _on_start_message)
        return
    # The scenario option (env CHATBENCH_SCENARIO, --chatbench-scenario or a locust.conf line
    # `chatbench-scenario = detail`) picks the one user class that runs.
    environment.user_classes = [USER_CLASSES[environment.parsed_options.chatbench_scenario]]


def _end_window_now(runner: Any) -> None:
    """SIGUSR1: the measured window ends now; the test stops as at its planned end (a worker's
    users are stopped by its master, which got the signal too)."""
    recorder.close_window(time.time())
    if not isinstance(runner, WorkerRunner):
        logging.getLogger(__name__).info("chatbench: measured window ended early, stopping")
        runner.quit()


def _stop_at(runner: Any, end: float) -> None:
    # Polls the wall clock: gevent's first timers can fire early (libev caches the loop time
    # while Locust imports and parses), which cuts --run-time short by a few hundred ms.
    while (left := end - time.time()) > 0:
        gevent.sleep(min(left, 0.1))
    logging.getLogger(__name__).info("chatbench: measured window complete, stopping")
    runner.quit()


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    runner = environment.runner
    options = environment.parsed_options
    config = _recorder_config(options)
    gevent.signal_handler(signal.SIGUSR1, _end_window_now, runner)
    if not isinstance(runner, WorkerRunner):
        # The test ends exactly when the measured window does (Locust's --run-time is only a
        # backstop), so the last measured second is as loaded as the others.
        t0 = _t0(config, time.time())
        end = t0 + options.chatbench_warmup_s + options.chatbench_measure_s
        gevent.spawn(_stop_at, runner, end)
    if isinstance(runner, MasterRunner):
        # Sent before any spawn message, so every worker (even one given no users) opens the
        # same window before its first request.
        runner.send_message("chatbench_start", config)
    elif not recorder.started:
        recorder.start(_t0(config, time.time()), config)
        _spawn_watchers(runner)


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    directory = os.environ.get("CHATBENCH_REQUESTS_DIR")
    if isinstance(environment.runner, MasterRunner) or not recorder.started or not directory:
        return
    recorder.count_schedule(
        [EvenSchedule(u.first_send, u.interval) for u in _rate_users if u.interval]
    )
    recorder.write(directory)


class _ChatbenchUser(FastHttpUser):
    """Shared machinery: seeded randomness, the closed/rate schedule, checked requests."""

    abstract = True
    # One user = one connection; keep-alive like a real client.
    concurrency = 1

    def on_start(self) -> None:
        options = self.environment.parsed_options
        runner = self.environment.runner
        self.number = next(_user_numbers)
        worker = max(getattr(runner, "worker_index", 0), 0)
        self.rng = random.Random(f"{options.chatbench_seed}/{worker}/{self.number}")
        self.session_id = f"lg-{process_tag()}-{self.number:05d}"
        self.seed_sessions = options.chatbench_seed_sessions
        self.seed_messages = options.chatbench_seed_messages
        self.interval: float | None = None
        if options.chatbench_mode == "rate":
            users = options.chatbench_users or options.num_users or 1
            if options.chatbench_rate <= 0:
                raise ValueError("rate mode needs CHATBENCH_RATE > 0")
            self.interval = users / options.chatbench_rate
            # Changed since (issue 29): this drew a random phase from self.rng; the arrival
            # schedule no longer draws from the generator of the requests (arrivals.py).
            self.next_send = time.time()
            self.first_send = self.next_send
            _rate_users.append(self)

    def wait_time(self) -> float:
        if self.interval is None:
            return 0.0
        return max(0.0, self.next_send - time.time())

    def _intended(self) -> float | None:
        """Rate mode: claim the next slot of this user's schedule (waiting for it if early)."""
        if self.interval is None:
            return None
        intended = self.next_send
        self.next_send += self.interval
        early = intended - time.time()
        if early > 0:
            gevent.sleep(early)
        return intended

    def call(self, method: str, path: str, label: str, expect: int, json: Any = None) -> Any | None:
        """Send one request; a status other than ``expect`` is a failure. Returns the parsed
        body for a successful POST, else None."""
        intended = self._intended()
        context = {INTENDED_KEY: intended} if intended is not None else {}
        return self._send(method, path, label, expect, json, context)

    def _send(
        self, method: str, path: str, label: str, expect: int, json: Any, context: dict
    ) -> Any | None:
        if method == "POST":
            recorder.create_started()
        with self.client.request(
            method, path, name=label, json=json, catch_response=True, context=context
        ) as resp:
            if resp.status_code != expect:
                resp.failure(f"HTTP {resp.status_code}, expected {expect}")
                return None
            if method != "POST":
                return None
            try:
                return resp.json()
            except ValueError:
                resp.failure("response body is not JSON")
                return None

    def post_message(self, role: str, lo: int, hi: int) -> int | None:
        body = {
            "role": role,
            "content": make_content(self.rng, lo, hi),
            "session_id": self.session_id,
        }
        created = self.call("POST", "/api/chat/messages", CREATE, 201, json=body)
        return created.get("id") if isinstance(created, dict) else None

    def seeded_session(self) -> str:
        return f"seed-{self.rng.randrange(self.seed_sessions):05d}"


class ChatUser(_ChatbenchUser):
    """A conversation: user message, assistant reply, reload of the latest history page."""

    def on_start(self) -> None:
        super().on_start()
        self.step = 0
        # The newest ids of this user's session; with HISTORY_LIMIT + 1 known, the oldest
        # is the after_id that returns exactly the latest page.
        self.ids: deque[int] = deque(maxlen=HISTORY_LIMIT + 1)

    @task
    def converse(self) -> None:
        # One request per task, so a stop waits for one request, never for a whole exchange.
        step, self.step = self.step, (self.step + 1) % 3
        if step < 2:
            role, (lo, hi) = ("user", USER_CHARS) if step == 0 else ("assistant", ASSISTANT_CHARS)
            new_id = self.post_message(role, lo, hi)
            if isinstance(new_id, int):
                self.ids.append(new_id)
            return
        query = f"session_id={self.session_id}&limit={HISTORY_LIMIT}"
        if len(self.ids) > HISTORY_LIMIT:
            query += f"&after_id={self.ids[0]}"
        self.call("GET", f"/api/chat/messages?{query}", HISTORY, 200)


class ReadUser(_ChatbenchUser):
    """History pages of random seeded sessions."""

    def on_start(self) -> None:
        super().on_start()
        if self.seed_sessions < 1:
            raise ValueError("the read scenario needs CHATBENCH_SEED_SESSIONS >= 1")

    @task
    def read_history(self) -> None:
        query = f"session_id={self.seeded_session()}&limit={HISTORY_LIMIT}"
        self.call("GET", f"/api/chat/messages?{query}", HISTORY, 200)


class WriteUser(_ChatbenchUser):
    """Inserts only, alternating roles, into the user's own session."""

    def on_start(self) -> None:
        super().on_start()
        self.turn = 0

    @task
    def write(self) -> None:
        self.turn ^= 1
        if self.turn:
            self.post_message("user", *USER_CHARS)
        else:
            self.post_message("assistant", *ASSISTANT_CHARS)


class DetailUser(_ChatbenchUser):
    """Single-row reads by primary key over the seeded rows."""

    def on_start(self) -> None:
        super().on_start()
        self.seed_rows = self.seed_sessions * self.seed_messages
        if self.seed_rows < 1:
            raise ValueError("the detail scenario needs CHATBENCH_SEED_SESSIONS/MESSAGES >= 1")

    @task
    def read_one(self) -> None:
        message_id = self.rng.randint(1, self.seed_rows)
        self.call("GET", f"/api/chat/messages/{message_id}", DETAIL, 200)


USER_CLASSES = {"chat": ChatUser, "read": ReadUser, "write": WriteUser, "detail": DetailUser}


def parse_steps(text: str) -> list[int]:
    steps = [int(part) for part in text.replace(" ", "").split(",") if part]
    if not steps or min(steps) < 1:
        raise ValueError(f"ramp steps {text!r}: expected positive user counts like 10,20,40")
    return steps


class RampShape(LoadTestShape):
    """Warm-up at the first step, then each step for CHATBENCH_RAMP_STEP_S, then stop."""

    abstract = MODE != "ramp"
    use_common_options = True  # reads --spawn-rate

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options
        steps = parse_steps(options.chatbench_ramp_steps)
        elapsed = self.get_run_time() - options.chatbench_warmup_s
        index = 0 if elapsed < 0 else int(elapsed // options.chatbench_ramp_step_s)
        if index >= len(steps):
            return None
        return steps[index], float(options.spawn_rate or max(steps))
