"""WSGI entry point (gunicorn: impl_django.project.wsgi:application)."""

import os

from django.core.wsgi import get_wsgi_application

from impl_django.chat.limits import WSGIRequestHeadLimit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impl_django.project.settings")

# An over-long request target or header is refused before Django builds a request (limits.py).
application = WSGIRequestHeadLimit(get_wsgi_application())
