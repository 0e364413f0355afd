"""drf-spectacular hooks for the OpenAPI document."""

from __future__ import annotations


def canonical_paths_only(endpoints, **kwargs):
    """List each route once, under its canonical (unslashed) path.

    The router's optional trailing slash would otherwise show up in the document
    as a literal trailing slash.
    """
    return [
        (path.rstrip("/") or "/", regex, method, view) for path, regex, method, view in endpoints
    ]
