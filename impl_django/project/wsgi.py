"""WSGI entry point (gunicorn: impl_django.project.wsgi:application).

Imported once in every worker process, which is where the garbage-collection hook and the
``gc`` axis belong (impl_django/gcpauses.py): installed first, so the start-up is recorded, and
told start-up is over once the application and its URLconf are loaded.
"""

import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from impl_django import env, gcpauses
from impl_django.chat.bodies import WSGIChunkedBody
from impl_django.chat.limits import WSGIRequestHeadLimit

gcpauses.install(env.gc_mode(), env.gc_log_dir())

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impl_django.project.settings")

# An over-long request target or header is refused before Django builds a request (limits.py);
# a chunked body is then read and handed on with its length (bodies.py).
application = WSGIRequestHeadLimit(
    WSGIChunkedBody(get_wsgi_application(), limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
)

# The views, serializers and routers the first request would import, loaded now so that start-up
# (and the `freeze` mode) covers them.
import_module(settings.ROOT_URLCONF)
gcpauses.started()
