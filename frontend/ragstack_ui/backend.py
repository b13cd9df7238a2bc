"""The ragstack backend as the UI sees it: an async client for its public HTTP API.

Nothing here imports Reflex, so the request, error and stream logic is testable on its own.
The UI holds no key of its own: each client acts with one signed-in user's session token, which
stays in this process (the Reflex backend) and is never put into a state var.
"""

from __future__ import annotations

import functools
import json
import os
import ssl
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_BACKEND_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Settings:
    """Where the backend is and how the UI's session cookie is sent; read from the environment."""

    backend_url: str = DEFAULT_BACKEND_URL
    timeout_s: float = 30.0
    # An answer can take minutes on a small CPU model; only the gap between tokens is bounded.
    stream_read_timeout_s: float = 120.0
    # Secure cookies travel over HTTPS only; off for plain-HTTP development on localhost.
    cookie_secure: bool = True
    # The CA an https backend_url is verified against (the fleet's internal CA); empty: the
    # system's CAs.
    backend_ca_file: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            backend_url=env.get("RAGSTACK_UI_BACKEND_URL", DEFAULT_BACKEND_URL).rstrip("/"),
            timeout_s=float(env.get("RAGSTACK_UI_TIMEOUT_S", "30")),
            stream_read_timeout_s=float(env.get("RAGSTACK_UI_STREAM_TIMEOUT_S", "120")),
            cookie_secure=env.get("RAGSTACK_UI_COOKIE_SECURE", "true").lower() != "false",
            backend_ca_file=env.get("RAGSTACK_UI_BACKEND_CA_FILE", ""),
        )


class BackendError(Exception):
    """A failed backend call, with a message meant for the person using the UI."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


UNREACHABLE = (
    "The ragstack backend cannot be reached right now. "
    "Check the status page; the UI will work again as soon as the backend is back."
)
TIMED_OUT = "The ragstack backend took too long to answer. Try again in a moment."


def _seg(value: str) -> str:
    """One URL path segment: an id can never reach another endpoint."""
    return quote(value, safe="")


def detail_text(body: Any) -> str:
    """The human part of an error body: `detail` as text, or 422's list flattened."""
    if isinstance(body, dict):
        body = body.get("detail", body)
    if isinstance(body, list):
        parts = []
        for item in body:
            if isinstance(item, dict):
                loc = [str(p) for p in item.get("loc", []) if p not in ("body", "query", "path")]
                msg = str(item.get("msg", "invalid value"))
                parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if body is None:
        return ""
    return str(body).strip()


def parse_retry_after(value: str | None) -> int | None:
    """Seconds from a Retry-After header (HTTP-dates are rare here and treated as unknown)."""
    if not value:
        return None
    try:
        return max(0, int(float(value)))
    except ValueError:
        return None


def describe_error(status: int, detail: str, retry_after: int | None = None) -> str:
    """Turn a backend error status + reason into one sentence for the UI."""
    reason = f": {detail}" if detail else "."
    if status == 400:
        return f"The backend could not use this{reason}"
    if status == 411:
        return "The upload was refused because its size was not announced (411)."
    if status == 401:
        return f"Your session has ended: sign in again (401){reason}"
    if status == 403:
        return f"Your account is not allowed to do this (403){reason}"
    if status == 404:
        return f"Not found{reason}"
    if status == 409:
        return f"Conflict{reason}"
    if status == 413:
        return f"The file is too large for the backend{reason}"
    if status == 415:
        return f"This file type is not supported{reason}"
    if status == 422:
        return f"The backend rejected the input{reason}"
    if status == 429:
        wait = f" Try again in {retry_after} s." if retry_after is not None else " Try again soon."
        return "Too many requests: the backend is rate limiting." + wait
    if status == 503:
        return f"The backend is temporarily unavailable (503){reason}"
    if status >= 500:
        return f"The backend failed with an internal error ({status}). Try again in a moment."
    return f"The backend answered {status}{reason}"


def error_from_response(response: httpx.Response, body: bytes | None = None) -> BackendError:
    raw = response.content if body is None else body
    try:
        detail = detail_text(json.loads(raw))
    except (ValueError, UnicodeDecodeError):
        detail = raw.decode("utf-8", "replace").strip()[:300]
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    return BackendError(
        describe_error(response.status_code, detail, retry_after),
        status=response.status_code,
        retry_after=retry_after,
    )


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: dict[str, Any] = field(default_factory=dict)


class SseParser:
    """Incremental text/event-stream parser (WHATWG rules that matter here).

    Feed it lines without their line ending; a blank line dispatches the event. `data:` lines
    are joined with newlines and parsed as JSON; comments (`:`), `id:` and `retry:` are ignored.
    """

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SseEvent | None:
        line = line.rstrip("\r")
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def flush(self) -> SseEvent | None:
        """End of stream: a final event without its blank line still counts."""
        return self._dispatch()

    def _dispatch(self) -> SseEvent | None:
        if not self._data and not self._event:
            return None
        name = self._event or "message"
        text = "\n".join(self._data)
        self._event, self._data = "", []
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {"text": text}
        if not isinstance(data, dict):
            data = {"value": data}
        return SseEvent(name, data)


def parse_sse(lines: Iterable[str]) -> Iterator[SseEvent]:
    parser = SseParser()
    for line in lines:
        if (event := parser.feed(line)) is not None:
            yield event
    if (event := parser.flush()) is not None:
        yield event


@functools.cache
def tls_verification(ca_file: str) -> ssl.SSLContext | bool:
    """How https backends are verified: against `ca_file`, else the system's CAs. One context per
    file for the process: a client is made per call, loading a CA file each time would cost."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else True


class BackendClient:
    """One method per backend endpoint the UI uses. Raises BackendError with words for people."""

    def __init__(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        token: str = "",
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._token = token
        self._verify = tls_verification(settings.backend_ca_file)

    def _client(self, read_timeout: float | None = None) -> httpx.AsyncClient:
        timeout = httpx.Timeout(
            self.settings.timeout_s, read=read_timeout or self.settings.timeout_s
        )
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        return httpx.AsyncClient(
            base_url=self.settings.backend_url,
            headers=headers,
            timeout=timeout,
            transport=self._transport,
            verify=self._verify,
        )

    async def _send(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """(status, JSON body or None); any failure is a BackendError in words."""
        try:
            async with self._client() as client:
                response = await client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise BackendError(TIMED_OUT) from exc
        except httpx.HTTPError as exc:
            raise BackendError(UNREACHABLE) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        if response.status_code == 204 or not response.content:
            return response.status_code, None
        try:
            return response.status_code, response.json()
        except ValueError as exc:
            raise BackendError("The backend sent an answer the UI does not understand.") from exc

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._send(method, path, **kwargs))[1]

    async def ready(self) -> dict[str, Any]:
        """`/ready` answers 503 with the same body when unready: that is a result, not an error."""
        try:
            async with self._client() as client:
                response = await client.get("/ready")
        except httpx.TimeoutException as exc:
            raise BackendError(TIMED_OUT) from exc
        except httpx.HTTPError as exc:
            raise BackendError(UNREACHABLE) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "status" in body:
            return body
        raise error_from_response(response)

    async def sign_in(self, username: str, password: str) -> dict[str, Any]:
        """{"access_token", "expires_in", "user": {"name", "role", ...}}; 401 for wrong ones."""
        payload = {"username": username, "password": password}
        return await self._request("POST", "/v1/auth/sign-in", json=payload)

    async def refresh(self) -> dict[str, Any]:
        """A fresh token for this client's (still valid) one; same shape as sign_in."""
        return await self._request("POST", "/v1/auth/refresh")

    async def list_collections(self) -> list[dict[str, Any]]:
        return (await self._request("GET", "/v1/collections")).get("items", [])

    async def create_collection(self, name: str, description: str = "") -> dict[str, Any]:
        payload: dict[str, Any] = {"name": name}
        if description:
            payload["description"] = description
        return await self._request("POST", "/v1/collections", json=payload)

    async def list_documents(
        self, collection: str, limit: int = 20, offset: int = 0
    ) -> dict[str, Any]:
        return await self._request(
            "GET",
            f"/v1/collections/{_seg(collection)}/documents",
            params={"limit": limit, "offset": offset},
        )

    async def upload_document(
        self, collection: str, filename: str, content: bytes, content_type: str | None = None
    ) -> dict[str, Any]:
        """{"document", "job_id" (202: ingesting in the background), "duplicate" (200)}."""
        files = {"file": (filename, content, content_type or "application/octet-stream")}
        status, body = await self._send(
            "POST", f"/v1/collections/{_seg(collection)}/documents", files=files
        )
        if isinstance(body, dict) and "document" in body:
            return {"document": body["document"], "job_id": body.get("job_id"), "duplicate": False}
        # 200: identical content was already in the collection; the existing document is returned.
        return {"document": body, "job_id": None, "duplicate": status == 200}

    async def delete_document(self, collection: str, document_id: str) -> None:
        await self._request(
            "DELETE", f"/v1/collections/{_seg(collection)}/documents/{_seg(document_id)}"
        )

    async def get_job(self, job_id: str) -> dict[str, Any]:
        return await self._request("GET", f"/v1/jobs/{_seg(job_id)}")

    async def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        return await self._request("GET", f"/v1/conversations/{_seg(conversation_id)}")

    async def chat_stream(
        self, collection: str, message: str, conversation_id: str | None = None
    ) -> AsyncIterator[SseEvent]:
        """Yields the SSE events of a streamed answer; a failure before or during it is raised."""
        payload: dict[str, Any] = {"collection": collection, "message": message, "stream": True}
        if conversation_id:
            payload["conversation_id"] = conversation_id
        parser = SseParser()
        try:
            async with (
                self._client(read_timeout=self.settings.stream_read_timeout_s) as client,
                client.stream(
                    "POST", "/v1/chat", json=payload, headers={"Accept": "text/event-stream"}
                ) as response,
            ):
                if response.status_code >= 400:
                    raise error_from_response(response, await response.aread())
                async for line in response.aiter_lines():
                    if (event := parser.feed(line)) is not None:
                        yield event
            if (event := parser.flush()) is not None:
                yield event
        except httpx.TimeoutException as exc:
            raise BackendError(TIMED_OUT) from exc
        except httpx.HTTPError as exc:
            raise BackendError(UNREACHABLE) from exc
