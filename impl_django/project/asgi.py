"""ASGI entry point (uvicorn: impl_django.project.asgi:application).

Imported once in every worker process, which is where the garbage-collection hook and the
``gc`` axis belong (impl_django/gcpauses.py): installed first, so the start-up is recorded, and
told start-up is over once the application and its URLconf are loaded.
"""

import os
from importlib import import_module

from django.conf import settings
from django.core.asgi import get_asgi_application

from impl_django import env, gcpauses

gcpauses.install(env.gc_mode(), env.gc_log_dir())

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impl_django.project.settings")

django_application = get_asgi_application()

from impl_django.chat.bodies import ASGIChunkedBody  # noqa: E402
from impl_django.chat.limits import ASGIRequestHeadLimit  # noqa: E402
from impl_django.chat.middleware import ASGIBodySizeLimit  # noqa: E402 (needs settings)

# Outermost: an over-long request target or header is refused first (limits.py), then a chunked
# body is received whole and handed on with its length (bodies.py), then a body over the limit is
# refused, as in the WSGI application and the FastAPI service.
_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
application = ASGIRequestHeadLimit(
    ASGIChunkedBody(ASGIBodySizeLimit(django_application, limit=_limit), limit=_limit)
)

# The views, serializers and routers the first request would import, loaded now so that start-up
# (and the `freeze` mode) covers them.
import_module(settings.ROOT_URLCONF)
gcpauses.started()
