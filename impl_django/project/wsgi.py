"""WSGI entry point (gunicorn: impl_django.project.wsgi:application)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impl_django.project.settings")

application = get_wsgi_application()
