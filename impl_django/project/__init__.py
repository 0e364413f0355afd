"""Django project package: settings, URL root, WSGI and ASGI entry points."""
