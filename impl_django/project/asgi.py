"""ASGI entry point (uvicorn: impl_django.project.asgi:application)."""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impl_django.project.settings")

django_application = get_asgi_application()

from impl_django.chat.limits import ASGIRequestHeadLimit  # noqa: E402
from impl_django.chat.middleware import ASGIBodySizeLimit  # noqa: E402 (needs settings)

# Outermost: an over-long request target or header is refused first (limits.py), then a body
# over the limit, as in the WSGI application and the FastAPI service.
application = ASGIRequestHeadLimit(
    ASGIBodySizeLimit(django_application, limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
)
