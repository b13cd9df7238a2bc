"""A pass-through proxy in front of the real backend that paces its SSE events.

The backend's test LLM emits a whole answer within milliseconds, faster than a browser paints,
so the UI's token-by-token rendering cannot be seen directly. This proxy forwards every request
unchanged and delays each server-sent event by PACING_DELAY_S, so the end-to-end test can watch
the real backend's stream arrive in the page piece by piece.

    PACING_UPSTREAM=http://127.0.0.1:8000 granian --interface asgi pacing_proxy:app
"""

from __future__ import annotations

import asyncio
import os

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

UPSTREAM = os.environ.get("PACING_UPSTREAM", "http://127.0.0.1:8000")
DELAY_S = float(os.environ.get("PACING_DELAY_S", "0.06"))
HOP_BY_HOP = {"connection", "transfer-encoding", "content-length", "content-encoding", "host"}

client = httpx.AsyncClient(base_url=UPSTREAM, timeout=httpx.Timeout(60.0))


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "upstream": UPSTREAM})


async def forward(request: Request) -> Response:
    upstream = client.build_request(
        request.method,
        request.url.path,
        params=request.query_params,
        headers={k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP},
        content=await request.body(),
    )
    response = await client.send(upstream, stream=True)
    headers = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}
    if not response.headers.get("content-type", "").startswith("text/event-stream"):
        body = await response.aread()
        await response.aclose()
        return Response(body, status_code=response.status_code, headers=headers)

    async def paced():
        buffer = ""
        async for text in response.aiter_text():
            buffer += text
            while "\n\n" in buffer:
                event, buffer = buffer.split("\n\n", 1)
                await asyncio.sleep(DELAY_S)
                yield event + "\n\n"
        if buffer:
            yield buffer

    return StreamingResponse(
        paced(),
        status_code=response.status_code,
        headers=headers,
        background=BackgroundTask(response.aclose),
    )


METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
app = Starlette(
    routes=[
        Route("/_pacing/health", health),
        Route("/{path:path}", forward, methods=METHODS),
    ]
)
