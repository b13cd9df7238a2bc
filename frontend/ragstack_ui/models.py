"""What the pages show, as plain dataclasses, and the pure functions that build and update them.

The Reflex states keep lists of these and delegate every transition here, so the behaviour is
unit-tested without a browser or a running app.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .backend import SseEvent

EXTRACTIVE_NOTICE = (
    "The language model is unavailable, so this answer quotes the most relevant passages "
    "of your documents instead of writing a summary."
)
DEGRADED_NOTICE = (
    "The backend answered in degraded mode (one of its services is down); "
    "this answer may be less complete than usual."
)
INTERRUPTED = "The answer was interrupted before it finished."


@dataclass
class Citation:
    index: int = 0
    chunk_id: str = ""
    document_id: str = ""
    filename: str = ""
    title: str = ""
    location: str = ""
    snippet: str = ""


@dataclass
class ChatMessage:
    id: str = ""
    role: str = "user"
    content: str = ""
    # `content` with each cited [n] turned into a link that opens that source (see link_citations).
    markdown: str = ""
    citations: list[Citation] = field(default_factory=list)
    # pending (waiting for the first byte) -> streaming -> done | error
    status: str = "done"
    notice: str = ""
    error: str = ""


def new_id() -> str:
    return uuid.uuid4().hex


CITATION_MARK = re.compile(r"\[(\d{1,3})\](?!\()")
CITATION_HREF = re.compile(r"^#cite-([0-9a-f]+)-(\d{1,3})$")


def link_citations(message: ChatMessage) -> ChatMessage:
    """Each `[n]` of a cited source becomes a link `#cite-<message id>-<n>` the page opens."""
    known = {c.index for c in message.citations}

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n not in known:
            return match.group(0)
        return f"[\\[{n}\\]](#cite-{message.id}-{n})"

    return replace(message, markdown=CITATION_MARK.sub(link, message.content))


def citation_for_href(messages: list[ChatMessage], href: str) -> Citation | None:
    """The citation a `#cite-<message id>-<n>` link points at, if any."""
    match = CITATION_HREF.match(href or "")
    if not match:
        return None
    message_id, index = match.group(1), int(match.group(2))
    for message in messages:
        if message.id == message_id:
            return next((c for c in message.citations if c.index == index), None)
    return None


def citation_from_api(raw: dict[str, Any], position: int = 0) -> Citation:
    title = str(raw.get("title") or raw.get("filename") or "Untitled")
    parts = []
    if raw.get("page") not in (None, ""):
        parts.append(f"page {raw['page']}")
    # A document's first heading is often both its title and the section: say it once.
    if raw.get("section") and str(raw["section"]) != title:
        parts.append(str(raw["section"]))
    return Citation(
        index=int(raw.get("index") or position + 1),
        chunk_id=str(raw.get("chunk_id") or ""),
        document_id=str(raw.get("document_id") or ""),
        filename=str(raw.get("filename") or ""),
        title=title,
        location=" · ".join(parts),
        snippet=str(raw.get("snippet") or raw.get("text") or ""),
    )


def citation_from_view(raw: dict[str, Any]) -> Citation:
    """A Citation sent back by the browser (a clicked source); unknown keys are dropped."""
    known = {f.name for f in fields(Citation)}
    return Citation(**{k: v for k, v in raw.items() if k in known})


def citations_from_api(raw: Any) -> list[Citation]:
    if not isinstance(raw, list):
        return []
    return [citation_from_api(c, i) for i, c in enumerate(raw) if isinstance(c, dict)]


def answer_notice(mode: str | None, degraded: bool) -> str:
    if mode == "extractive":
        return EXTRACTIVE_NOTICE
    if degraded:
        return DEGRADED_NOTICE
    return ""


def apply_stream_event(message: ChatMessage, event: SseEvent) -> tuple[ChatMessage, str | None]:
    """The assistant message after one SSE event, and the conversation id if the event had one."""
    data = event.data
    conversation_id = data.get("conversation_id") or None
    if event.event == "citations":
        cited = replace(message, citations=citations_from_api(data.get("citations")))
        return link_citations(cited), conversation_id
    if event.event == "token":
        text = str(data.get("text", ""))
        grown = replace(message, content=message.content + text, status="streaming")
        return link_citations(grown), None
    if event.event == "retract":  # the model failed mid-answer: a fallback answer follows
        return replace(message, content="", citations=[], status="streaming"), None
    if event.event == "done":
        notice = answer_notice(data.get("mode"), bool(data.get("degraded")))
        return replace(message, status="done", notice=notice), conversation_id
    if event.event == "error":
        detail = str(data.get("detail") or "The backend could not finish the answer.")
        return replace(message, status="error", error=detail), None
    return message, None


def finish_stream(message: ChatMessage) -> ChatMessage:
    """A stream that ended without `done` or `error` still leaves a settled message."""
    if message.status in ("done", "error"):
        return message
    if message.content:
        return replace(message, status="error", error=INTERRUPTED)
    return replace(
        message, status="error", error="The backend closed the connection without an answer."
    )


def fail_message(message: ChatMessage, reason: str) -> ChatMessage:
    if message.content:
        reason = f"{INTERRUPTED} {reason}"
    return replace(message, status="error", error=reason)


def messages_from_history(payload: dict[str, Any]) -> list[ChatMessage]:
    messages = []
    for raw in payload.get("messages") or []:
        if not isinstance(raw, dict):
            continue
        role = "assistant" if raw.get("role") == "assistant" else "user"
        messages.append(
            link_citations(
                ChatMessage(
                    id=new_id(),
                    role=role,
                    content=str(raw.get("content") or ""),
                    citations=citations_from_api(raw.get("citations")),
                )
            )
        )
    return messages


# --- collections -------------------------------------------------------------------------------

COLLECTION_NAME = re.compile(r"^[a-z0-9_-]{3,63}$")


@dataclass
class CollectionRow:
    name: str = ""
    description: str = ""
    document_count: int = 0
    chunk_count: int = 0
    created: str = ""


def collection_from_api(raw: dict[str, Any]) -> CollectionRow:
    return CollectionRow(
        name=str(raw.get("name") or ""),
        description=str(raw.get("description") or ""),
        document_count=int(raw.get("document_count") or 0),
        chunk_count=int(raw.get("chunk_count") or 0),
        created=short_date(raw.get("created_at")),
    )


def validate_collection_name(name: str) -> str:
    """An error sentence, or "" when the backend will accept the name."""
    if not name:
        return "Give the collection a name."
    if not 3 <= len(name) <= 63:
        return "A collection name has 3 to 63 characters."
    if not COLLECTION_NAME.match(name):
        return "Use only lowercase letters, digits, '-' and '_'."
    return ""


# --- documents ---------------------------------------------------------------------------------

STATUS_TONE = {"ready": "green", "queued": "gray", "processing": "amber", "failed": "red"}
ACTIVE_STATUSES = ("queued", "processing")


@dataclass
class DocumentRow:
    id: str = ""
    filename: str = ""
    title: str = ""
    size: str = ""
    chunk_count: int = 0
    status: str = ""
    tone: str = "gray"
    error: str = ""
    created: str = ""


def human_size(size: Any) -> str:
    try:
        value = float(size)
    except (TypeError, ValueError):
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


def short_date(value: Any) -> str:
    """`2026-11-25T08:00:00.123+00:00` -> `2026-11-25 08:00` (UTC, as the backend sends it)."""
    if not value:
        return ""
    text = str(value).replace("T", " ")
    return text[:16]


def document_from_api(raw: dict[str, Any]) -> DocumentRow:
    status = str(raw.get("status") or "ready")
    return DocumentRow(
        id=str(raw.get("id") or ""),
        filename=str(raw.get("filename") or ""),
        title=str(raw.get("title") or raw.get("filename") or ""),
        size=human_size(raw.get("size_bytes")),
        chunk_count=int(raw.get("chunk_count") or 0),
        status=status,
        tone=STATUS_TONE.get(status, "gray"),
        error=str(raw.get("error") or ""),
        created=short_date(raw.get("created_at")),
    )


@dataclass
class UploadRow:
    """One file of an upload batch, from the browser to the backend's ingestion."""

    filename: str = ""
    # sending -> queued | processing | ready | failed
    status: str = "sending"
    tone: str = "gray"
    message: str = ""
    job_id: str = ""
    document_id: str = ""


def upload_row_from_result(filename: str, result: dict[str, Any]) -> UploadRow:
    document = result.get("document") or {}
    status = str(document.get("status") or ("queued" if result.get("job_id") else "ready"))
    message = upload_message(status, str(document.get("error") or ""))
    if result.get("duplicate"):
        message = "Already in the collection (same content); nothing was added."
    return UploadRow(
        filename=filename,
        status=status,
        tone=STATUS_TONE.get(status, "gray"),
        message=message,
        job_id=str(result.get("job_id") or ""),
        document_id=str(document.get("id") or ""),
    )


def upload_message(status: str, error: str = "") -> str:
    return {
        "sending": "Sending to the backend…",
        "queued": "Waiting for ingestion…",
        "processing": "Ingesting…",
        "ready": "Ready to be asked about.",
        "failed": f"Ingestion failed: {error}" if error else "Ingestion failed.",
    }.get(status, status)


def upload_row_from_job(row: UploadRow, job: dict[str, Any]) -> UploadRow:
    status = {"running": "processing", "succeeded": "ready"}.get(
        str(job.get("status")), str(job.get("status") or row.status)
    )
    error = str(job.get("error") or "")
    return replace(
        row,
        status=status,
        tone=STATUS_TONE.get(status, "gray"),
        message=upload_message(status, error),
        document_id=str(job.get("document_id") or row.document_id),
    )


def upload_failed(filename: str, reason: str) -> UploadRow:
    return UploadRow(filename=filename, status="failed", tone="red", message=reason)


# --- status ------------------------------------------------------------------------------------

READY_TONE = {"ready": "green", "degraded": "amber", "unready": "red"}
READY_SUMMARY = {
    "ready": "All systems are working.",
    "degraded": "The backend works with reduced function: answers may be extractive.",
    "unready": "The backend cannot serve requests right now.",
}


BACKEND_LABEL = {
    "ok": "Backend connected",
    "unreachable": "Backend unreachable",
    "error": "Backend refused a request",
}
BACKEND_TONE = {"ok": "green", "unreachable": "red", "error": "amber"}


@dataclass
class CheckRow:
    name: str = ""
    ok: bool = False
    detail: str = ""


def checks_from_ready(payload: dict[str, Any]) -> list[CheckRow]:
    checks = payload.get("checks") or {}
    rows = []
    for name, check in sorted(checks.items()):
        check = check if isinstance(check, dict) else {"ok": bool(check)}
        rows.append(
            CheckRow(name=name, ok=bool(check.get("ok")), detail=str(check.get("detail") or ""))
        )
    return rows


def sign_in_message(query: Mapping[str, str]) -> tuple[str, str]:
    """The sign-in page's line (and its color) for the query the sign-in route sent back."""
    error = query.get("error", "")
    if error == "invalid":
        return "Wrong user name or password.", "red"
    if error == "limited":
        wait = query.get("wait", "")
        later = f"in {wait} s" if wait.isdigit() else "later"
        return f"Too many failed attempts for this user: try again {later}.", "red"
    if error == "missing":
        return "Enter your user name and password.", "red"
    if error == "unavailable":
        return "Signing in is not possible right now: the backend is unavailable.", "red"
    if query.get("signed_out"):
        return "You are signed out.", "green"
    return "", "gray"
