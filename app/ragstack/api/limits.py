"""Refuse oversized uploads from their Content-Length, before any byte is parsed or spooled."""

from __future__ import annotations

import json
from typing import Any

MULTIPART_OVERHEAD = 64 * 1024


class UploadSizeLimitMiddleware:
    def __init__(self, app: Any, max_upload_bytes: int) -> None:
        self.app = app
        self.limit = max_upload_bytes + MULTIPART_OVERHEAD

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].endswith("/documents")
        ):
            headers = dict(scope.get("headers") or [])
            length = headers.get(b"content-length")
            problem = None
            if length is None:
                problem = (411, "uploads need a Content-Length header")
            elif not length.isdigit():
                problem = (400, "invalid Content-Length header")
            elif int(length) > self.limit:
                problem = (413, f"upload larger than the limit of {self.limit} bytes")
            if problem is not None:
                body = json.dumps({"detail": problem[1]}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": problem[0],
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
