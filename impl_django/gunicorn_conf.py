"""gunicorn settings for the Django service, from the environment (docs/interfaces.md).

    python -m gunicorn --config python:impl_django.gunicorn_conf impl_django.project.wsgi:application

CHATBENCH_SERVER picks the worker model: `gthread` (default; CHATBENCH_THREADS
threads per worker) or `sync`. The ASGI model is served by uvicorn instead:
`python -m impl_django.serve_asgi`.
"""

import os

from impl_django import env

_server = env.server_model()
if _server in ("asgi", "granian"):
    raise SystemExit(
        f"CHATBENCH_SERVER={_server} is served by `python -m impl_django.serve_{_server}`"
    )

env.refuse_bad_launch()

bind = f"{env.host()}:{env.port()}"
# gunicorn's documented starting point, 2*cpus+1, counting only the CPUs we may run on.
workers = env.workers()
worker_class = _server
threads = env.threads() if _server == "gthread" else 1
# Settings size the per-worker connection pool from the worker count; make sure
# they see the number gunicorn actually uses.
os.environ["CHATBENCH_WORKERS"] = str(workers)

keepalive = 5
# Each worker gets its own listening socket (SO_REUSEPORT) and the kernel spreads new
# connections over them by a hash of the client's address. With one shared socket the worker
# that happens to be awake accepts a burst of connections alone: wrk (all connections at once)
# put all 20 on one of three workers, Locust (users started over a second) spread them, and
# Django's throughput on one core differed by 20-40 % between those two layouts, so the two
# tools disagreed about the same service. Measured with `chatbench crosscheck`, before with
# `--service-env django:CHATBENCH_REUSE_PORT=0` (the shared socket), after without it.
reuse_port = env.reuse_port()
timeout = 30
graceful_timeout = 5

# Over-long requests are the service's to answer (impl_django/chat/limits.py: a JSON 414 for a
# request target over 8 KiB, a JSON 431 for a header field over 8 KiB), as on the FastAPI service,
# whose server (uvicorn with httptools) has no header limits and answers a target past its URL
# parser's 65535 bytes with the same JSON 414 (impl_fastapi/limits.py, UvicornProtocol). gunicorn's defaults (a
# 4094-byte request line, 8190-byte fields, 100 fields) would answer first, in HTML. So: no limit
# on the request line (0; its only other setting is at most 8190 bytes), fields up to 1 MiB (0
# would mean 8190 here), and its maximum of 32768 fields. Past those, gunicorn still answers
# 431 itself (the same status, HTML instead of JSON).
limit_request_line = 0
limit_request_field_size = 1_048_576
limit_request_fields = 32768
preload_app = False

accesslog = None
errorlog = "-"
loglevel = "warning"

# gunicorn >= 25.1 opens a control socket at a fixed path under $HOME by default:
# two services on one machine (or a read-only home in a container) would collide.
control_socket_disable = True
