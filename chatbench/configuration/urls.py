"""URLs the user gives: printed without their password, and load targets kept on loopback."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit


def redact(url: str) -> str:
    """A URL safe to print or store: the password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def target_problem(url: str, *, allow_remote: bool = False) -> str | None:
    """Why ``url`` may not receive load (None: it may): an http(s) URL whose host resolves to
    loopback only, unless ``allow_remote``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"target {url!r} is not an http(s) URL with a host"
    if allow_remote:
        return None
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 80, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        return f"cannot resolve target host {parts.hostname!r}: {exc}"
    addresses = {info[4][0] for info in infos}
    remote = sorted(a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_loopback)
    if remote:
        return (
            f"target {url} resolves to non-loopback {', '.join(remote)}; "
            "load is only sent to services on this machine"
        )
    return None
