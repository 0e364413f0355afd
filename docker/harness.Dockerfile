# The harness side of a compose deployment: the one-shot `seed` service
# (python -m chatbench.cli.seed) and the Locust master and workers (plain `locust` running
# loadtests/locustfile.py). One image for both because both need the same two folders and
# nothing else: chatbench/ + postgres/ to seed exactly as `chatbench run` does, loadtests/ for
# Locust. The services have their own images (impl_*/Dockerfile) so neither carries the other.
# Build from the repository root:
#   docker build -f docker/harness.Dockerfile -t chatbench-harness .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# The same dependency list and pins as the Makefile's venv, without the dev extra. These
# lines are identical in every chatbench Dockerfile, so Docker builds this layer once.
COPY requirements.lock pyproject.toml docker/runtime_requirements.py /tmp/pins/
RUN python /tmp/pins/runtime_requirements.py /tmp/pins/pyproject.toml > /tmp/pins/runtime.txt \
    && pip install -c /tmp/pins/requirements.lock -r /tmp/pins/runtime.txt \
    && rm -rf /tmp/pins \
    && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home chatbench

WORKDIR /app
COPY chatbench/ chatbench/
COPY postgres/ postgres/
COPY loadtests/ loadtests/
# The compose Locust loop: one master/worker run per service (docker-compose.yml).
COPY docker/locust-compare.sh docker/

# Locust may run under the host user's uid (compose `user:`) to write into ./results:
# give any uid a writable HOME.
ENV HOME=/tmp
USER chatbench
CMD ["locust", "-f", "loadtests/locustfile.py", "--help"]
