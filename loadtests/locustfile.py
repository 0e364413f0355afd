"""chatbench load: one locustfile, one user class that runs a workload file, three modes.

Workloads (``--chatbench-workload FILE`` / env ``CHATBENCH_WORKLOAD``, a TOML workload file,
docs/workloads.md and workload.py; without one, ``--chatbench-scenario`` / env
``CHATBENCH_SCENARIO`` names a built-in one in workloads/):
  chat    (default) per user: POST a user message to its own session, POST an assistant reply,
          GET the session's latest history page; repeat
  read    GET history of random seeded sessions ``seed-00000`` .. (needs CHATBENCH_SEED_SESSIONS)
  write   POST only, into the user's own session
  detail  GET /api/chat/messages/{id}, id uniform in 1 .. sessions * messages of the seed
The scenario is also the label the recorder writes (a workload file's: its name).

Modes (env ``CHATBENCH_MODE``):
  closed  N users, each sends its next request as soon as the last one is answered
  rate    open loop at a fixed TOTAL rate (CHATBENCH_RATE req/s over CHATBENCH_USERS users):
          each user sends on its own schedule, the users' schedules together evenly spaced or
          Poisson (CHATBENCH_ARRIVALS, arrivals.py); a late send goes out at once (no skipping)
          and its latency counts from the intended send time (coordinated-omission correction);
          the sends due in the measured window that had not gone out when it closed are
          counted as ``dropped`` (k6's dropped_iterations)
  ramp    LoadTestShape: CHATBENCH_RAMP_STEPS users ("10,20,40"), CHATBENCH_RAMP_STEP_S each,
          after CHATBENCH_WARMUP_S at the first step

Timing (env, seconds): CHATBENCH_WARMUP_S, CHATBENCH_MEASURE_S. Requests completing during
warm-up are counted but not measured (see recorder.py). SIGUSR1 ends the measured window at
once and stops the test as its planned end would (the harness ends an open-model window as soon
as it can hold its tail: chatbench/measuring/live.py). Each process that runs users writes
its data to ``$CHATBENCH_REQUESTS_DIR/requests-<host>-<pid>.json`` when it quits, with how late
its event loop woke a 10 ms sleeper during the measured window (``loop_lag``).

Every CHATBENCH_* setting is also a Locust option (``--chatbench-mode`` ...; see ``--help``), so
a master hands them to its workers (and a locust.conf may set them: ``chatbench-scenario =
detail``). Ramp mode is the exception: the shape is chosen at import, so it needs the env
CHATBENCH_MODE=ramp on the master. Run by hand:
  CHATBENCH_REQUESTS_DIR=/tmp/r locust -f loadtests/locustfile.py --headless -H http://127.0.0.1:8000 -u 10 -t 20s
Distributed, as docker-compose does (workers take scenario and timing from the master):
  locust -f loadtests/locustfile.py --master --headless --expect-workers 2 -H URL -u 20 -t 60s
  locust -f loadtests/locustfile.py --worker --master-host MASTER      (or chatbench loadgen-worker)
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import signal
import time
from typing import Any

import arrivals
import gevent
import workload as workloads
from locust import FastHttpUser, LoadTestShape, events, task
from locust.runners import MasterRunner, WorkerRunner
from recorder import CREATE, INTENDED_KEY, LAG_INTERVAL_S, Recorder, process_tag

SCENARIOS = ("chat", "read", "write", "detail")
MODES = ("closed", "rate", "ramp")

SCENARIO = os.environ.get("CHATBENCH_SCENARIO", "chat")
MODE = os.environ.get("CHATBENCH_MODE", "closed")
if SCENARIO not in SCENARIOS and not os.environ.get("CHATBENCH_WORKLOAD"):
    raise SystemExit(f"CHATBENCH_SCENARIO={SCENARIO!r}: expected one of {', '.join(SCENARIOS)}")
if MODE not in MODES:
    raise SystemExit(f"CHATBENCH_MODE={MODE!r}: expected one of {', '.join(MODES)}")

recorder = Recorder()
events.request.add_listener(recorder.on_request)
_user_numbers = itertools.count()
# Rate mode: every user of this process, to count the sends its schedule still owed at the end.
_rate_users: list[WorkloadUser] = []
# The workload of this process, loaded when its first user starts (its options come from the
# master in a distributed run).
_workloads: dict[str, workloads.Workload] = {}


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    group = parser.add_argument_group("chatbench", "chatbench scenario and measurement settings")
    add = group.add_argument
    add(
        "--chatbench-scenario",
        env_var="CHATBENCH_SCENARIO",
        default="chat",
        help=f"a built-in workload ({', '.join(SCENARIOS)}), or the label of --chatbench-workload",
    )
    add(
        "--chatbench-workload",
        env_var="CHATBENCH_WORKLOAD",
        default="",
        help="a TOML workload file to run instead of the scenario's (docs/workloads.md)",
    )
    add("--chatbench-mode", env_var="CHATBENCH_MODE", default="closed", choices=MODES)
    add("--chatbench-rate", env_var="CHATBENCH_RATE", type=float, default=0.0,
        help="rate mode: total requests per second over all users")  # fmt: skip
    add("--chatbench-users", env_var="CHATBENCH_USERS", type=int, default=0,
        help="rate mode: total users the rate is split over (default: -u)")  # fmt: skip
    add("--chatbench-arrivals", env_var="CHATBENCH_ARRIVALS", default=arrivals.DEFAULT_ARRIVALS,
        choices=arrivals.ARRIVALS, help="rate mode: the users' sends together evenly spaced, "
        "or a Poisson process (arrivals.py)")  # fmt: skip
    add("--chatbench-user-processes", env_var="CHATBENCH_USER_PROCESSES", type=int, default=1,
        help="rate mode: Locust processes running users, so even arrivals interleave them")  # fmt: skip
    add("--chatbench-seed-sessions", env_var="CHATBENCH_SEED_SESSIONS", type=int, default=0)
    add("--chatbench-seed-messages", env_var="CHATBENCH_SEED_MESSAGES", type=int, default=0)
    add("--chatbench-seed", env_var="CHATBENCH_RANDOM_SEED", type=int, default=1,
        help="base of every user's random.Random seed")  # fmt: skip
    add("--chatbench-warmup-s", env_var="CHATBENCH_WARMUP_S", type=float, default=0.0)
    add("--chatbench-measure-s", env_var="CHATBENCH_MEASURE_S", type=float, default=3600.0)
    add("--chatbench-start-at", env_var="CHATBENCH_START_AT", type=float, default=0.0,
        help="epoch seconds the test's clock starts at (0: when the test starts); two load "
        "generators given the same value measure the same wall-clock window")  # fmt: skip
    add("--chatbench-ramp-steps", env_var="CHATBENCH_RAMP_STEPS", default="10,20,40,80")
    add("--chatbench-ramp-step-s", env_var="CHATBENCH_RAMP_STEP_S", type=float, default=10.0)


def _recorder_config(options: Any) -> dict[str, Any]:
    return {
        "scenario": options.chatbench_scenario,
        "mode": options.chatbench_mode,
        "target_rate": options.chatbench_rate if options.chatbench_mode == "rate" else None,
        "arrivals": options.chatbench_arrivals if options.chatbench_mode == "rate" else None,
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
        environment.runner.register_message("chatbench_start", _on_start_message)
    # One user class runs every workload (the scenario option, env CHATBENCH_SCENARIO,
    # --chatbench-scenario or a locust.conf line `chatbench-scenario = detail`, or a workload
    # file picks which).
    environment.user_classes = [WorkloadUser]


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
    recorder.count_schedule([u.schedule for u in _rate_users if u.schedule is not None])
    recorder.write(directory)


def _workload(options: Any) -> workloads.Workload:
    """The workload file the options name (a file, or the scenario's built-in one), loaded once
    per process; a bad file stops the user with the file's one-sentence reason."""
    path = options.chatbench_workload or str(workloads.path_of(options.chatbench_scenario))
    if path not in _workloads:
        _workloads[path] = workloads.load(path)
    return _workloads[path]


class WorkloadUser(FastHttpUser):
    """Runs a workload file: seeded randomness, the closed/rate schedule, checked requests."""

    # One user = one connection; keep-alive like a real client.
    concurrency = 1

    def on_start(self) -> None:
        options = self.environment.parsed_options
        runner = self.environment.runner
        self.number = next(_user_numbers)
        worker = max(getattr(runner, "worker_index", 0), 0)
        self.rng = random.Random(f"{options.chatbench_seed}/{worker}/{self.number}")
        self.schedule: arrivals.Schedule | None = None
        if options.chatbench_mode == "rate":
            users = options.chatbench_users or options.num_users or 1
            if options.chatbench_rate <= 0:
                raise ValueError("rate mode needs CHATBENCH_RATE > 0")
            # Locust hands a distributed run's users to its processes in turn, so user n of
            # process w is about the (n * processes + w)-th of the run: even arrivals
            # interleave the processes' users on one grid.
            processes = max(1, options.chatbench_user_processes)
            self.schedule = arrivals.schedule(
                options.chatbench_arrivals, rate=options.chatbench_rate, users=users,
                index=self.number * processes + worker, now=time.time(),
                rng=random.Random(f"{options.chatbench_seed}/{worker}/{self.number}/arrivals"),
            )  # fmt: skip
            _rate_users.append(self)
        self.workload = _workload(options)
        sessions, messages = options.chatbench_seed_sessions, options.chatbench_seed_messages
        builtins = {
            "seed_sessions": sessions,
            "seed_messages": messages,
            "seed_rows": sessions * messages,
            "user": self.number,
            "worker": worker,
            "process": process_tag(),
        }
        self.state = self.workload.start(self.rng, builtins)

    def wait_time(self) -> float:
        if self.schedule is None:
            return 0.0
        return max(0.0, self.schedule.peek() - time.time())

    def _intended(self) -> float | None:
        """Rate mode: claim the next slot of this user's schedule (waiting for it if early)."""
        if self.schedule is None:
            return None
        intended = self.schedule.claim()
        early = intended - time.time()
        if early > 0:
            gevent.sleep(early)
        return intended

    @task
    def send_next(self) -> None:
        # One request per task, so a stop waits for one request, never for a whole sequence.
        request = self.workload.next_request(self.state, self.rng)
        intended = self._intended()
        context = {INTENDED_KEY: intended} if intended is not None else {}
        answer = self._send(request, context)
        if answer is not None:
            self.workload.captured(self.state, request, answer)

    def _send(self, request: workloads.Request, context: dict) -> Any | None:
        """Send one request; a status it does not expect is a failure. Returns the parsed body
        when the request captures something from it, else None."""
        if request.label == CREATE:
            recorder.create_started()
        with self.client.request(
            request.method,
            request.path,
            name=request.label,
            json=request.json,
            data=request.body,
            headers=request.headers or None,
            catch_response=True,
            context=context,
        ) as resp:
            status = resp.status_code
            expect = request.expect
            if (status not in expect) if expect else not 200 <= status < 300:
                wanted = "a 2xx status" if not expect else "/".join(str(s) for s in expect)
                resp.failure(f"HTTP {status}, expected {wanted}")
                return None
            if not request.capture:
                return None
            try:
                return resp.json()
            except ValueError:
                resp.failure("response body is not JSON")
                return None


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
