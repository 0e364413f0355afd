"""python -m notes_django.serve: create the table if it is missing, then serve on gunicorn
(gthread workers) at CHATBENCH_HOST:CHATBENCH_PORT."""

from __future__ import annotations

import os

import django
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def load_config(self) -> None:
        self.cfg.set("bind", f"{os.environ['CHATBENCH_HOST']}:{os.environ['CHATBENCH_PORT']}")
        self.cfg.set("workers", int(os.environ.get("CHATBENCH_WORKERS", "2")))
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", int(os.environ.get("CHATBENCH_THREADS", "2")))
        self.cfg.set("accesslog", None)

    def load(self):
        from notes_django.wsgi import application

        return application


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notes_django.settings")
    django.setup()
    from django.db import connection

    from notes_django.models import Note

    if Note._meta.db_table not in connection.introspection.table_names():
        with connection.schema_editor() as editor:
            editor.create_model(Note)
    connection.close()
    _Gunicorn().run()


if __name__ == "__main__":
    main()
