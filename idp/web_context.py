"""What a request tells about its client: the one place that reads the client's address and
user agent (after ProxyFix, configured by PROXY_FIX_HOPS)."""

from __future__ import annotations

from flask import has_request_context, request


def client_ip() -> str:
    """The client address as seen after ProxyFix; "unknown" outside a request."""
    if not has_request_context():
        return "unknown"
    return request.remote_addr or "unknown"


def user_agent() -> str | None:
    return (request.user_agent.string or "")[:300] or None
