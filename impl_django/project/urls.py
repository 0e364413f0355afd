"""URL root: the chat API, health, OpenAPI document and docs page; JSON error handlers."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from impl_django.chat.views import HealthView

urlpatterns = [
    re_path(r"^health/?$", HealthView.as_view(), name="health"),
    path("api/chat/", include("impl_django.chat.urls")),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="docs"),
]

# Errors raised outside DRF views (unknown path, Django-level failures) answer JSON too.
handler400 = "impl_django.chat.exceptions.bad_request"
handler404 = "impl_django.chat.exceptions.not_found"
handler500 = "impl_django.chat.exceptions.server_error"
