"""Settings for the chatbench Django service, all taken from the environment.

Only what the API uses is installed: no admin, auth, sessions, messages or CSRF
(the API has no users), no browsable API, no pagination class (it would add a
COUNT(*) to every list; both services must run the same queries).
"""

from __future__ import annotations

import secrets

from django.core.exceptions import ImproperlyConfigured

from impl_django import env
from impl_django.chat.limits import MAX_HEADER_FIELD_BYTES, MAX_TARGET_BYTES

SECRET_KEY = env.env_str("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
# The harness and load generators reach the service as 127.0.0.1, localhost or a
# compose service name; there is no Host-based routing to protect.
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "rest_framework",
    "drf_spectacular",
    "impl_django.chat",
]

MIDDLEWARE = [
    # Django's CommonMiddleware (sets Content-Length, as uvicorn/Starlette do, instead of a
    # chunked response), made to run on the event loop under ASGI instead of in a thread.
    "impl_django.chat.middleware.CommonMiddleware",
    # Before any view, so an oversized body is refused before anything parses it.
    "impl_django.chat.middleware.BodySizeLimitMiddleware",
]
# Test-only regression injectors (see impl_django/chat/injectors.py): absent
# from the stack unless the harness asks for them.
if env.burn_us():
    MIDDLEWARE.append("impl_django.chat.injectors.BurnCPUMiddleware")
if env.extra_queries():
    MIDDLEWARE.append("impl_django.chat.injectors.ExtraQueryMiddleware")

# CHATBENCH_DJANGO_VIEWS=async (the django-async variant): the URLs route to the adrf async
# viewsets (impl_django/chat/async_views.py). Only under ASGI: under WSGI Django would run each
# async view through async_to_sync, an event loop per request.
CHATBENCH_ASYNC_VIEWS = env.views_mode() == "async"
# Django Ninja serves the API instead of DRF (chat/ninja_api.py); its app holds the docs page.
CHATBENCH_NINJA = env.views_mode() == "ninja"
if CHATBENCH_NINJA:
    INSTALLED_APPS.append("ninja")
    MIDDLEWARE.append("impl_django.chat.ninja_api.NinjaMethodNotAllowed")
if CHATBENCH_ASYNC_VIEWS and not env.asgi():
    raise ImproperlyConfigured(
        "CHATBENCH_DJANGO_VIEWS=async needs CHATBENCH_SERVER=asgi or granian."
    )

ROOT_URLCONF = "impl_django.project.urls"
WSGI_APPLICATION = "impl_django.project.wsgi.application"
APPEND_SLASH = False

# The Swagger UI page (drf-spectacular) is the only template.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]

_database = env.database_settings(env.database_url())
_pool_mode = env.pool_mode()
if _pool_mode == "persistent" and env.asgi():
    # Under ASGI every request runs its queries on a fresh thread context, so CONN_MAX_AGE
    # never reuses a connection (measured: one new connection per request, tests/test_axes.py);
    # Django's docs: "When using ASGI, persistent connections should be disabled. Instead, use
    # your database backend's built-in connection pooling". Kept connections = the pool below.
    _pool_mode = "pool"
if _pool_mode == "persistent":
    # One connection per worker thread, kept for the life of the process.
    _database |= {"CONN_MAX_AGE": None, "CONN_HEALTH_CHECKS": False}
elif _pool_mode == "none":
    # A new connection for every request, closed when the request ends.
    _database |= {"CONN_MAX_AGE": 0}
else:
    # psycopg_pool per worker process, holding exactly the worker's share of the cap
    # (min_size = max_size, as the FastAPI QueuePool opened whole at startup); Django opens it
    # at the first query and requires CONN_MAX_AGE=0 with it.
    _size = env.pool_size_per_worker()
    _database |= {"CONN_MAX_AGE": 0}
    _database["OPTIONS"] = _database["OPTIONS"] | {"pool": {"min_size": _size, "max_size": _size}}
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if env.cache_url():
    # The caching axis: see impl_django/chat/cache.py for keys and invalidation.
    CACHES = {
        "default": {
            "BACKEND": "impl_django.chat.cache.ChatRedisCache",
            "LOCATION": env.cache_url(),
            "TIMEOUT": env.cache_ttl(),
            "KEY_FUNCTION": "impl_django.chat.cache.plain_key",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
CHATBENCH_CACHE_ENABLED = bool(env.cache_url())

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False
LANGUAGE_CODE = "en-us"

# Django's own cap, enforced when something reads request.body; the middleware
# also checks Content-Length up front (DRF's JSON parser reads the stream directly).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1_048_576
# No cap on the number of query parameters (Django's 1000 answered 400 where FastAPI has none):
# the request target is at most 8 KiB (chat/limits.py), which bounds the parsing.
DATA_UPLOAD_MAX_NUMBER_FIELDS = None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_THROTTLE_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
    "DEFAULT_PAGINATION_CLASS": None,
    "DEFAULT_RENDERER_CLASSES": ["impl_django.chat.negotiation.ORJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["impl_django.chat.negotiation.JSONParser"],
    # OPTIONS answers 405 like every other unrouted method (no metadata endpoint).
    "DEFAULT_METADATA_CLASS": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "impl_django.chat.exceptions.exception_handler",
    "URL_FORMAT_OVERRIDE": None,
    "STRICT_JSON": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "chatbench ChatMessage API (Django REST Framework)",
    "DESCRIPTION": f"""\
The chatbench ChatMessage API, served by Django + DRF.

Every error is JSON: 422 `{{"detail": [{{"type", "loc", "msg"}}]}}` for an invalid body or
query, `{{"detail": "<HTTP reason phrase>"}}` for the others. Whatever the path:
a request target (path and query) over {MAX_TARGET_BYTES} bytes is 414, a header field (name and
value) over {MAX_HEADER_FIELD_BYTES} bytes is 431, a body over {DATA_UPLOAD_MAX_MEMORY_SIZE} bytes
is 413, and a method a path does not list is 405 with an `Allow` header.""",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["impl_django.chat.schema.canonical_paths_only"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",  # drf-spectacular's default
        "impl_django.chat.schema.operation_links",
    ],
}

# Quiet: warnings and errors to stderr. django.request at ERROR, or every 4xx
# (404s, 422s under load) would be logged as a warning.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {"django.request": {"level": "ERROR"}},
}
