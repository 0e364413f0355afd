"""Routes of the chat app: /api/chat/messages and /api/chat/messages/{id}."""

from rest_framework.routers import SimpleRouter

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
