"""The wheel's one custom step: the services, load tests and Postgres files ride along.

``impl_django/``, ``impl_fastapi/``, ``loadtests/`` and ``postgres/`` stay top-level folders of
the repository, but a wheel must not install generic top-level packages of those names: the
build copies them under ``chatbench/_bundle/`` instead (``chatbench.configuration.paths`` finds
them there). An editable install (``make venv``) uses the checkout itself and copies nothing.
Everything else is declared in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("impl_django", "impl_fastapi", "loadtests", "postgres")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "Dockerfile", "node_modules")


class BuildWithBundle(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        here = Path(__file__).resolve().parent
        bundle = Path(self.build_lib) / "chatbench" / "_bundle"
        for name in BUNDLED:
            shutil.rmtree(bundle / name, ignore_errors=True)
            shutil.copytree(here / name, bundle / name, ignore=SKIP)


setup(cmdclass={"build_py": BuildWithBundle})
