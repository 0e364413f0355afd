"""``provision``: a Postgres server with the seeded template, for every command that needs one.

``chatbench run``, ``serve``, ``verify``, ``crosscheck`` and the compose ``seed`` service all
stand on the same thing: the embedded cluster from the wheel (or the server in
``CHATBENCH_DATABASE_URL``), the template database seeded from ``postgres/schema.sql`` and a
``SeedSpec``, and one ``CREATE DATABASE … TEMPLATE`` clone per service, named by
:func:`database_name`. Everything started here is stopped here, on success, failure and
Ctrl-C alike.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from chatbench.provisioning import cpuplan, postgres
from chatbench.provisioning.processes import process_tree
from chatbench.provisioning.seed import SeedSpec

EXTERNAL_WAIT_S = 15.0
# Postgres folds unquoted names to lower case and keeps 63 bytes of any identifier.
_UNSAFE = re.compile(r"[^a-z0-9_]")


def database_name(variant: str, purpose: str = "") -> str:
    """The database a variant's clone lives in: ``cb_[purpose_]<variant>`` with every
    character but lower-case letters, digits and ``_`` turned into ``_``."""
    prefix = f"cb_{purpose}_" if purpose else "cb_"
    return prefix + _UNSAFE.sub("_", variant.lower())


@dataclass
class Provisioned:
    """A ready server: its admin URL, the template's URL, and the embedded cluster (None when
    the server is the user's)."""

    server_url: str
    template_url: str
    cluster: postgres.EmbeddedCluster | None
    clones: list[str] = field(default_factory=list)

    @property
    def external(self) -> bool:
        return self.cluster is None

    def clone(self, name: str) -> str:
        """A fresh clone of the template called ``name``; returns its URL."""
        url = postgres.clone_database(self.server_url, name)
        if name not in self.clones:
            self.clones.append(name)
        return url


@contextlib.contextmanager
def provision(
    seed: SeedSpec,
    *,
    database_url: str | None = None,
    postgres_cpus: tuple[int, ...] | None = None,
    wait_s: float = EXTERNAL_WAIT_S,
    drop_clones: bool = False,
    on_phase: Callable[[str], None] | None = None,
    on_cleanup_error: Callable[[str], None] | None = None,
) -> Iterator[Provisioned]:
    """Postgres (embedded unless ``database_url``) with the seeded template.

    ``postgres_cpus`` pins the embedded postmaster and its existing children (backends fork
    from it and inherit the mask). ``drop_clones``: on the user's server, drop every clone made
    through :meth:`Provisioned.clone` and the template on the way out (the embedded cluster is
    removed whole); a failed drop is reported to ``on_cleanup_error``, never raised over the
    caller's own outcome."""
    say = on_phase or (lambda _text: None)
    with contextlib.ExitStack() as stack:
        cluster = None
        if database_url:
            say(
                f"using your PostgreSQL server at {postgres.server_place(database_url)}: "
                f"chatbench creates {postgres.TEMPLATE_DB} and cb_* databases there and drops "
                "only those"
            )
            postgres.wait_ready(database_url, timeout_s=wait_s)
            server_url = database_url
        else:
            say("starting embedded PostgreSQL")
            cluster = stack.enter_context(postgres.EmbeddedCluster.start())
            server_url = cluster.url
            if postgres_cpus and cluster.postmaster_pid:
                # The auxiliary processes (checkpointer, walwriter, …) already exist: pin them too.
                for proc in process_tree(cluster.postmaster_pid):
                    with contextlib.suppress(OSError):
                        cpuplan.pin(proc.pid, postgres_cpus)
        say(f"seeding the template: {seed.sessions} sessions × {seed.messages} messages")
        template_url = postgres.create_template(server_url, seed)
        ready = Provisioned(server_url, template_url, cluster)
        if drop_clones and database_url:
            stack.callback(_drop_all, ready, on_cleanup_error)
        yield ready


def _drop_all(ready: Provisioned, on_error: Callable[[str], None] | None) -> None:
    for name in [*ready.clones, postgres.TEMPLATE_DB]:
        try:
            postgres.drop_database(ready.server_url, name)
        except Exception as exc:  # cleanup must not hide the run's own outcome
            if on_error is not None:
                on_error(f"could not drop database {name}: {exc}")
