"""A stand-in for the ragstack backend that follows docs/api-contract.md, for the UI's tests.

It answers from what was uploaded (the first passage of the newest document), streams tokens
slowly enough to watch, and has switches for the failures the UI must explain:
`POST /_fake/mode {"llm_down": bool, "rate_limit": bool, "fail_stream": bool, "ready": str}`.
Run standalone: `granian --interface asgi --port 8000 fake_backend:app` (from tests/frontend).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

API_KEY = os.environ.get("FAKE_BACKEND_API_KEY", "test-key")
# Its one user; the session token it hands out is the API key.
USER = os.environ.get("FAKE_BACKEND_USER", "alice")
PASSWORD = os.environ.get("FAKE_BACKEND_PASSWORD", "wonderland-password")
# Files larger than this are "ingested in the background" (202 + job), like the real backend.
INLINE_LIMIT = 2000
TOKEN_DELAY_S = float(os.environ.get("FAKE_BACKEND_TOKEN_DELAY_S", "0.03"))


class Store:
    def __init__(self) -> None:
        self.collections: dict[str, dict[str, Any]] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        self.texts: dict[str, str] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, list[dict[str, Any]]] = {}
        self.mode: dict[str, Any] = {
            "llm_down": False,
            "rate_limit": False,
            "fail_stream": False,
            "ready": "",
        }


def now() -> str:
    return datetime.now(UTC).isoformat()


def error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def authorized(request: Request) -> bool:
    key = request.headers.get("x-api-key") or request.headers.get("authorization", "")
    return key.removeprefix("Bearer ") == API_KEY


def create_app() -> Starlette:
    store = Store()

    def guarded(handler):
        async def wrapper(request: Request) -> Response:
            if not authorized(request):
                return error(401, "missing or invalid API key")
            if store.mode["rate_limit"]:
                return error(429, "rate limit exceeded", {"Retry-After": "7"})
            return await handler(request)

        return wrapper

    async def ready(request: Request) -> Response:
        status = store.mode["ready"] or ("degraded" if store.mode["llm_down"] else "ready")
        chroma_ok = status != "unready"
        checks = {
            "chromadb": {"ok": chroma_ok, "detail": "heartbeat ok" if chroma_ok else "timed out"},
            "redis": {"ok": True, "detail": "PONG"},
            "llm": {"ok": status == "ready", "detail": "model loaded"},
        }
        if status != "ready":
            checks["llm"]["detail"] = "connection refused"
        return JSONResponse(
            {"status": status, "checks": checks}, status_code=503 if status == "unready" else 200
        )

    async def set_mode(request: Request) -> Response:
        store.mode.update(await request.json())
        return JSONResponse(store.mode)

    def collection_view(name: str) -> dict[str, Any]:
        c = store.collections[name]
        docs = [d for d in store.documents.values() if d["collection"] == name]
        return {
            **c,
            "document_count": len(docs),
            "chunk_count": sum(d["chunk_count"] for d in docs),
        }

    async def collections(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"items": [collection_view(n) for n in sorted(store.collections)]})
        body = await request.json()
        name = body.get("name", "")
        if name in store.collections:
            return error(409, f"collection '{name}' already exists")
        if not (3 <= len(name) <= 63):
            return error(
                422, [{"loc": ["body", "name"], "msg": "String should have at least 3 characters"}]
            )
        store.collections[name] = {
            "name": name,
            "description": body.get("description") or "",
            "created_at": now(),
        }
        return JSONResponse(collection_view(name), status_code=201)

    async def documents(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in store.collections:
            return error(404, f"collection '{name}' not found")
        if request.method == "GET":
            docs = [d for d in store.documents.values() if d["collection"] == name]
            limit = int(request.query_params.get("limit", 20))
            offset = int(request.query_params.get("offset", 0))
            return JSONResponse(
                {
                    "items": docs[offset : offset + limit],
                    "total": len(docs),
                    "limit": limit,
                    "offset": offset,
                }
            )
        form = await request.form()
        upload = form["file"]
        content = await upload.read()
        if upload.filename.endswith(".exe"):
            return error(415, "unsupported content type application/x-msdownload")
        digest = hashlib.sha256(content).hexdigest()
        for existing in store.documents.values():
            if existing["collection"] == name and existing["sha256"] == digest:
                return JSONResponse(existing, status_code=200)
        doc_id = uuid.uuid4().hex
        text = content.decode("utf-8", "replace")
        background = len(content) > INLINE_LIMIT
        doc = {
            "id": doc_id,
            "collection": name,
            "filename": upload.filename,
            "title": upload.filename.rsplit(".", 1)[0].replace("_", " ").title(),
            "content_type": upload.content_type,
            "sha256": digest,
            "size_bytes": len(content),
            "chunk_count": 0 if background else max(1, len(text) // 500),
            "status": "queued" if background else "ready",
            "error": None,
            "metadata": {},
            "created_at": now(),
        }
        store.documents[doc_id] = doc
        store.texts[doc_id] = text
        if not background:
            return JSONResponse(doc, status_code=201)
        job_id = uuid.uuid4().hex
        store.jobs[job_id] = {"id": job_id, "polls": 0, "document_id": doc_id}
        return JSONResponse({"job_id": job_id, "document": doc}, status_code=202)

    async def document(request: Request) -> Response:
        doc = store.documents.get(request.path_params["doc"])
        if doc is None or doc["collection"] != request.path_params["name"]:
            return error(404, "document not found")
        if request.method == "DELETE":
            del store.documents[doc["id"]]
            return Response(status_code=204)
        return JSONResponse(doc)

    async def job(request: Request) -> Response:
        job = store.jobs.get(request.path_params["job"])
        if job is None:
            return error(404, "job not found")
        job["polls"] += 1
        doc = store.documents[job["document_id"]]
        status = "running" if job["polls"] < 2 else "succeeded"
        doc["status"] = "processing" if status == "running" else "ready"
        if status == "succeeded":
            doc["chunk_count"] = max(1, doc["size_bytes"] // 500)
        return JSONResponse(
            {"id": job["id"], "status": status, "document_id": doc["id"], "error": None}
        )

    async def chat(request: Request) -> Response:
        body = await request.json()
        name = body.get("collection", "")
        if name not in store.collections:
            return error(404, f"collection '{name}' not found")
        conversation_id = body.get("conversation_id") or uuid.uuid4().hex
        docs = [d for d in store.documents.values() if d["collection"] == name]
        citations = []
        if docs:
            doc = docs[-1]
            citations.append(
                {
                    "index": 1,
                    "chunk_id": f"{doc['id']}:0",
                    "document_id": doc["id"],
                    "filename": doc["filename"],
                    "title": doc["title"],
                    "page": 1,
                    "section": None,
                    "snippet": store.texts[doc["id"]][:300],
                }
            )
            answer = f"According to {doc['title']}, {store.texts[doc['id']][:120].strip()} [1]"
        else:
            answer = "The collection has no documents that answer this."
        mode = "extractive" if store.mode["llm_down"] else "llm"
        history = store.conversations.setdefault(conversation_id, [])
        history.append({"role": "user", "content": body.get("message", "")})
        history.append({"role": "assistant", "content": answer, "citations": citations})
        if not body.get("stream"):
            return JSONResponse(
                {
                    "answer": answer,
                    "citations": citations,
                    "conversation_id": conversation_id,
                    "mode": mode,
                    "degraded": mode == "extractive",
                }
            )

        def sse(event: str, data: dict[str, Any]) -> str:
            return f"event: {event}\ndata: {json.dumps(data)}\n\n"

        async def events():
            yield sse("citations", {"citations": citations, "conversation_id": conversation_id})
            words = answer.split(" ")
            for i, word in enumerate(words):
                if store.mode["fail_stream"] and i == len(words) // 2:
                    yield sse("error", {"detail": "the language model stopped responding"})
                    return
                await asyncio.sleep(TOKEN_DELAY_S)
                yield sse("token", {"text": word if i == 0 else " " + word})
            yield sse(
                "done",
                {
                    "mode": mode,
                    "degraded": mode == "extractive",
                    "conversation_id": conversation_id,
                },
            )

        return StreamingResponse(events(), media_type="text/event-stream")

    async def conversation(request: Request) -> Response:
        conversation_id = request.path_params["cid"]
        if conversation_id not in store.conversations:
            return error(404, "conversation not found")
        return JSONResponse(
            {"id": conversation_id, "messages": store.conversations[conversation_id]}
        )

    def session() -> JSONResponse:
        user = {"name": USER, "role": "writer", "collections": None, "disabled": False}
        return JSONResponse(
            {"access_token": API_KEY, "token_type": "bearer", "expires_in": 900, "user": user}
        )

    async def sign_in(request: Request) -> Response:
        body = await request.json()
        if (body.get("username"), body.get("password")) != (USER, PASSWORD):
            return error(401, "wrong user name or password")
        return session()

    async def refresh(request: Request) -> Response:
        return session() if authorized(request) else error(401, "invalid session token")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/ready", ready),
            Route("/_fake/mode", set_mode, methods=["POST"]),
            Route("/v1/auth/sign-in", sign_in, methods=["POST"]),
            Route("/v1/auth/refresh", refresh, methods=["POST"]),
            Route("/v1/collections", guarded(collections), methods=["GET", "POST"]),
            Route("/v1/collections/{name}/documents", guarded(documents), methods=["GET", "POST"]),
            Route(
                "/v1/collections/{name}/documents/{doc}",
                guarded(document),
                methods=["GET", "DELETE"],
            ),
            Route("/v1/jobs/{job}", guarded(job)),
            Route("/v1/chat", guarded(chat), methods=["POST"]),
            Route("/v1/conversations/{cid}", guarded(conversation)),
        ]
    )


app = create_app()
