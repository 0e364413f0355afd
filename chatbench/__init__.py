"""chatbench: a benchmark harness comparing equivalent Django REST Framework and FastAPI services.

The package is the harness only; the services under test live in ``impl_django`` and
``impl_fastapi`` and are started exclusively through their command lines.
"""

__version__ = "0.1.0"
