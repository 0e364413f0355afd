from __future__ import annotations

from django.urls import path

from notes_django.api import api

urlpatterns = [path("", api.urls)]
