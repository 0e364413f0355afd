"""The async views (CHATBENCH_DJANGO_VIEWS=async, the django-async variant): adrf on the async ORM.

Same routes, answers, SQL and cache keys as views.py; what differs is where the work runs. Under
ASGI every handler here is a coroutine on the event loop, and the request thread-hops only where
Django itself does: its ASGI handler (the request_started signal, closing the response, logging
an error response) and each query, because Django 5.2's async ORM (``aget``, ``acreate``,
``adelete``, async iteration) runs the sync query through ``sync_to_async``. The cache is
``redis.asyncio`` (cache.py's ``a``-functions), no hop. tests/test_django_async.py counts the
hops of every endpoint.

Two places where adrf or Django would add a hop of their own are kept on the loop, by
``EventLoopDispatch``: adrf's ``async_dispatch`` runs ``initial()`` (content negotiation and the
permission and throttle checks: here AllowAny and none, no I/O) through ``sync_to_async``, and
Django's async handler renders any response that has a sync ``render()`` (every DRF
``Response``) through ``sync_to_async``.
"""

from __future__ import annotations

from adrf.views import APIView
from adrf.viewsets import GenericViewSet
from asgiref.sync import iscoroutinefunction, sync_to_async
from django.db import DatabaseError
from django.http import HttpResponse
from django.shortcuts import aget_object_or_404
from django.template.response import SimpleTemplateResponse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SCHEMA_KWARGS, SpectacularJSONAPIView, SpectacularSwaggerView
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from . import cache
from .exceptions import unprocessable
from .negotiation import JSONOnlyNegotiation
from .queries import select_one
from .schema import HEALTH_SCHEMA, message_schema
from .views import HEALTH_OK, NO_BODY, MessageRoutes, health_unavailable


def rendered(response: HttpResponse) -> HttpResponse:
    """The response rendered here, as a plain HttpResponse Django will not render again.

    Rendering a DRF Response is orjson.dumps (or a cached template for the docs page): CPU
    work done on the loop, as FastAPI serialises its responses on the loop.
    """
    if not isinstance(response, SimpleTemplateResponse):
        return response
    response.render()
    plain = HttpResponse(response.content, status=response.status_code)
    plain.headers = response.headers  # every header DRF and the view set, Content-Type included
    return plain


class EventLoopDispatch:
    """adrf's ``async_dispatch``, with ``initial()`` and rendering kept on the event loop."""

    async def async_dispatch(self, request, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.initial(request, *args, **kwargs)
            method = request.method.lower()
            if method in self.http_method_names:
                handler = getattr(self, method, self.http_method_not_allowed)
            else:
                handler = self.http_method_not_allowed
            # A coroutine, or DRF's http_method_not_allowed, which only raises.
            response = handler(request, *args, **kwargs)
            if iscoroutinefunction(handler):
                response = await response
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return rendered(self.response)


@message_schema
class AsyncChatMessageViewSet(EventLoopDispatch, MessageRoutes, GenericViewSet):
    """Create, list, retrieve and delete as coroutines; one async-ORM call per query."""

    async def create(self, request, *args, **kwargs):
        # No body at all is one error for the whole body, as in FastAPI, not three missing fields.
        if request.stream is None:
            return unprocessable(NO_BODY)
        serializer = self.get_serializer(data=request.data)
        # No validator of this serializer queries the database, so this stays on the loop.
        serializer.is_valid(raise_exception=True)
        # What serializer.save() does for this model: one INSERT ... RETURNING.
        message = await self.get_queryset().acreate(**serializer.validated_data)
        await cache.ahistory_changed(message.session_id)
        return Response(self.get_serializer(message).data, status=status.HTTP_201_CREATED)

    async def retrieve(self, request, *args, **kwargs):
        message_id = self.message_id()
        data = await cache.aget_message(message_id)
        if data is None:
            message = await aget_object_or_404(self.get_queryset(), pk=message_id)
            data = self.get_serializer(message).data
            await cache.aput_message(message_id, data)
        return Response(data)

    async def list(self, request, *args, **kwargs):
        session_id, after_id, limit = self.history_query(request)
        page_key = await cache.ahistory_key(session_id, after_id, limit)
        data = await cache.aget_page(page_key)
        if data is None:
            rows = [message async for message in self.history_page(session_id, after_id, limit)]
            data = self.get_serializer(rows, many=True).data
            await cache.aput_page(page_key, data)
        return Response(data)

    async def destroy(self, request, *args, **kwargs):
        # One DELETE whose row count tells whether the message existed, as in views.py.
        message_id = self.message_id()
        session_id = await self.session_of(message_id) if cache.ENABLED else None
        deleted, _ = await self.get_queryset().filter(pk=message_id).adelete()
        if not deleted:
            raise NotFound
        if session_id is not None:
            await cache.amessage_deleted(message_id, session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    async def session_of(self, message_id: int) -> str:
        """The message's session (cache hit, or one SELECT); 404 when there is no message."""
        cached = await cache.aget_message(message_id)
        if cached is not None:
            return cached["session_id"]
        session_id = await self.session_lookup(message_id).afirst()
        if session_id is None:
            raise NotFound
        return session_id


class AsyncHealthView(EventLoopDispatch, APIView):
    """Readiness: 200 once the database answers `SELECT 1`, 503 while it does not."""

    content_negotiation_class = JSONOnlyNegotiation
    http_method_names = ["get"]

    @extend_schema(**HEALTH_SCHEMA)
    async def get(self, request):
        try:
            # A raw query has no async ORM method; this is what they do: one thread hop.
            await sync_to_async(select_one)()
        except DatabaseError:
            return health_unavailable()
        return Response(HEALTH_OK)


class AsyncOpenAPIView(EventLoopDispatch, APIView, SpectacularJSONAPIView):
    """drf-spectacular's document view as a coroutine (building the document does no I/O)."""

    @extend_schema(**SCHEMA_KWARGS)  # as on the view it wraps: left out of the document
    async def get(self, request, *args, **kwargs):
        return SpectacularJSONAPIView.get(self, request, *args, **kwargs)


class AsyncSwaggerView(EventLoopDispatch, APIView, SpectacularSwaggerView):
    """drf-spectacular's docs page as a coroutine (a template render, cached after the first)."""

    @extend_schema(exclude=True)  # as on the view it wraps: left out of the document
    async def get(self, request, *args, **kwargs):
        return SpectacularSwaggerView.get(self, request, *args, **kwargs)
