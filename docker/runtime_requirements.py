"""Print the project's runtime dependencies (``[project] dependencies`` of pyproject.toml).

Every image installs ``pip install -c requirements.lock -r <this output>``: the same
dependency list as the Makefile's venv, at the same pinned versions, minus the ``dev`` extra
(pytest, ruff). Reading pyproject.toml here keeps one list instead of a copy per Dockerfile.

    python docker/runtime_requirements.py pyproject.toml > runtime.txt
"""

import sys
import tomllib

if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"
    with open(path, "rb") as fh:
        print("\n".join(tomllib.load(fh)["project"]["dependencies"]))
