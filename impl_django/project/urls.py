"""URL root: the chat API, health, OpenAPI document and docs page; JSON error handlers.

The views are the sync ones or, with CHATBENCH_DJANGO_VIEWS=async, their coroutine twins; with
CHATBENCH_DJANGO_VIEWS=ninja, Django Ninja's operations (chat/ninja_api.py) serve every path.
"""

from django.conf import settings
from django.urls import include, path, re_path

if settings.CHATBENCH_ASYNC_VIEWS:  # CHATBENCH_DJANGO_VIEWS=async: every view a coroutine
    from impl_django.chat.async_views import AsyncHealthView as HealthView
    from impl_django.chat.async_views import AsyncOpenAPIView as SpectacularJSONAPIView
    from impl_django.chat.async_views import AsyncSwaggerView as SpectacularSwaggerView
else:
    from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

    from impl_django.chat.views import HealthView

urlpatterns = [
    re_path(r"^health/?$", HealthView.as_view(), name="health"),
    path("api/chat/", include("impl_django.chat.urls")),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="docs"),
]
if settings.CHATBENCH_NINJA:  # CHATBENCH_DJANGO_VIEWS=ninja: the same API on Django Ninja
    from impl_django.chat.ninja_api import api

    urlpatterns = [path("", api.urls)]

# Errors raised outside DRF views (unknown path, Django-level failures) answer JSON too.
handler400 = "impl_django.chat.exceptions.bad_request"
handler404 = "impl_django.chat.exceptions.not_found"
handler500 = "impl_django.chat.exceptions.server_error"
