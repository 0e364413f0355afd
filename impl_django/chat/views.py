"""Views: the ChatMessage viewset and the health check (the sync ones: DRF on Django's ORM).

What both view modes share lives here too: the routes' settings and id rule
(``MessageRoutes``) and the history query, so the async views (async_views.py) answer exactly the
same API; both take their OpenAPI annotations from schema.py.
"""

from __future__ import annotations

from django.db import DatabaseError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import cache
from .exceptions import RequestValidationError, unprocessable
from .models import ChatMessage
from .negotiation import JSONOnlyNegotiation
from .queries import select_one
from .schema import HEALTH_SCHEMA, message_schema
from .serializers import BIGINT_MAX, ChatMessageSerializer, HistoryQuerySerializer

NO_BODY = [{"type": "missing", "loc": ["body"], "msg": "Field required"}]
HEALTH_OK = {"status": "ok"}


def health_unavailable() -> Response:
    return Response({"status": "unavailable"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)


class MessageRoutes:
    """What the sync and async message viewsets share: settings, the id rule, the history query."""

    queryset = ChatMessage.objects.all()
    serializer_class = ChatMessageSerializer
    content_negotiation_class = JSONOnlyNegotiation
    # Any path segment routes here, as it does to the FastAPI route, so a wrong method on
    # /messages/abc is 405 on both; message_id() makes a non-integer id a 404.
    lookup_value_regex = r"[^/]+"
    # No update, and HEAD/OPTIONS get 405 as they do on the FastAPI side.
    http_method_names = ["get", "post", "delete"]

    def message_id(self) -> int:
        """The id from the path, under the FastAPI service's rule: 1 to 19 ASCII digits, a
        positive bigint. Anything else (signs, other digits, past bigint) can name no row: 404."""
        text = self.kwargs[self.lookup_field]
        if text.isascii() and text.isdigit() and len(text) <= len(str(BIGINT_MAX)):
            value = int(text)
            if 0 < value <= BIGINT_MAX:
                return value
        raise NotFound

    @staticmethod
    def history_query(request: Request) -> tuple[str, int, int]:
        """(session_id, after_id, limit) from the query string, or a 422 naming the parameter."""
        # A plain dict (last value wins), not the QueryDict: DRF gives QueryDicts
        # HTML-form semantics, where `limit=` would silently mean the default.
        query = HistoryQuerySerializer(data=request.query_params.dict())
        if not query.is_valid():
            raise RequestValidationError(query.errors, location="query")
        params = query.validated_data
        return params["session_id"], params["after_id"], params["limit"]

    def history_page(self, session_id: str, after_id: int, limit: int) -> QuerySet[ChatMessage]:
        """One page of a session's history: one SELECT ... ORDER BY id LIMIT, not yet run."""
        page = self.get_queryset().filter(session_id=session_id, id__gt=after_id)
        return page.order_by("id")[:limit]

    def session_lookup(self, message_id: int) -> QuerySet:
        """The message's session_id, for cache invalidation (Django's delete() cannot return
        the deleted row: no DELETE ... RETURNING), so with the cache on this costs a SELECT."""
        return self.get_queryset().filter(pk=message_id).values_list("session_id", flat=True)


@message_schema
class ChatMessageViewSet(
    MessageRoutes,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Create, list (one session's history), retrieve and delete; messages are never updated."""

    def get_object(self) -> ChatMessage:
        return get_object_or_404(self.get_queryset(), pk=self.message_id())

    def create(self, request, *args, **kwargs):
        # No body at all is one error for the whole body, as in FastAPI, not three missing fields.
        if request.stream is None:
            return unprocessable(NO_BODY)
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer) -> None:
        message = serializer.save()
        cache.history_changed(message.session_id)

    def retrieve(self, request, *args, **kwargs):
        message_id = self.message_id()
        data = cache.get_message(message_id)
        if data is None:
            data = self.get_serializer(self.get_object()).data
            cache.put_message(message_id, data)
        return Response(data)

    def list(self, request, *args, **kwargs):
        session_id, after_id, limit = self.history_query(request)
        page_key = cache.history_key(session_id, after_id, limit)
        data = cache.get_page(page_key)
        if data is None:
            page = self.history_page(session_id, after_id, limit)
            data = self.get_serializer(page, many=True).data
            cache.put_page(page_key, data)
        return Response(data)

    def destroy(self, request, *args, **kwargs):
        # One DELETE whose row count tells whether the message existed, instead of
        # DRF's default SELECT (get_object) followed by a DELETE.
        message_id = self.message_id()
        session_id = self.session_of(message_id) if cache.ENABLED else None
        deleted, _ = self.get_queryset().filter(pk=message_id).delete()
        if not deleted:
            raise NotFound
        if session_id is not None:
            cache.message_deleted(message_id, session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def session_of(self, message_id: int) -> str:
        """The message's session (cache hit, or one SELECT); 404 when there is no message."""
        cached = cache.get_message(message_id)
        if cached is not None:
            return cached["session_id"]
        session_id = self.session_lookup(message_id).first()
        if session_id is None:
            raise NotFound
        return session_id


class HealthView(APIView):
    """Readiness: 200 once the database answers `SELECT 1`, 503 while it does not."""

    content_negotiation_class = JSONOnlyNegotiation
    http_method_names = ["get"]

    @extend_schema(**HEALTH_SCHEMA)
    def get(self, request):
        try:
            select_one()
        except DatabaseError:
            return health_unavailable()
        return Response(HEALTH_OK)
