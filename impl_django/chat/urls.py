"""Routes of the chat app: /api/chat/messages and /api/chat/messages/{id}.

The viewset is the sync one (views.py) or, with CHATBENCH_DJANGO_VIEWS=async, the async one
(async_views.py); both have the actions create, list, retrieve and destroy.
"""

from django.conf import settings
from rest_framework.routers import SimpleRouter

if settings.CHATBENCH_ASYNC_VIEWS:
    from .async_views import AsyncChatMessageViewSet as ChatMessageViewSet
else:
    from .views import ChatMessageViewSet


class OptionalSlashRouter(SimpleRouter):
    """Canonical paths have no trailing slash; the slashed form is routed identically
    (no redirect), matching the FastAPI service."""

    def __init__(self) -> None:
        super().__init__(trailing_slash=False)
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("messages", ChatMessageViewSet, basename="message")

urlpatterns = router.urls
