"""Chat: retrieve, ask the LLM with numbered passages, cite them; extractive when it cannot."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ragstack.cache import ResultCache, normalize_query
from ragstack.catalog import Catalog
from ragstack.conversations import Conversation, ConversationStore
from ragstack.errors import LlmUnavailableError
from ragstack.llm.base import Message
from ragstack.llm.extractive import extractive_answer
from ragstack.llm.resilience import ResilientLlm
from ragstack.observability.metrics import CHAT_ANSWERS
from ragstack.retrieval.service import Hit, RetrievalService

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You answer questions using only the numbered context passages provided. "
    "Cite the passages you use with their number in square brackets, like [1] or [2][3]. "
    "If the passages do not contain the answer, say that you do not know. Be concise."
)
NO_CONTEXT_ANSWER = "I found nothing in this collection that answers the question."
SNIPPET_CHARS = 240


@dataclass
class ChatAnswer:
    answer: str
    citations: list[dict[str, Any]]
    conversation_id: str
    mode: str
    degraded: bool

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def citations_for(hits: list[Hit]) -> list[dict[str, Any]]:
    return [
        {
            "index": number,
            "chunk_id": hit.chunk_id,
            "document_id": hit.document_id,
            "filename": hit.filename,
            "title": hit.title,
            "page": hit.page,
            "section": hit.section,
            "snippet": hit.text[:SNIPPET_CHARS],
        }
        for number, hit in enumerate(hits, start=1)
    ]


def build_messages(question: str, hits: list[Hit], history: list[dict[str, Any]]) -> list[Message]:
    context = "\n\n".join(
        f"[{n}] {h.title}{f' - {h.section}' if h.section else ''}"
        f"{f' (page {h.page})' if h.page else ''}\n{h.text}"
        for n, h in enumerate(hits, start=1)
    )
    messages = [Message("system", SYSTEM_PROMPT)]
    messages += [Message(m["role"], m["content"]) for m in history]
    messages.append(Message("user", f"Context passages:\n\n{context}\n\nQuestion: {question}"))
    return messages


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class ChatService:
    def __init__(
        self,
        retrieval: RetrievalService,
        catalog: Catalog,
        conversations: ConversationStore,
        cache: ResultCache,
        llm: ResilientLlm | None,
        max_turns: int,
    ) -> None:
        self._retrieval = retrieval
        self._catalog = catalog
        self._conversations = conversations
        self._cache = cache
        self._llm = llm
        self._max_turns = max_turns

    async def _prepare(
        self, collection: str, message: str, top_k: int, conversation: Conversation
    ) -> tuple[list[Hit], list[dict[str, Any]]]:
        hits = await self._retrieval.search(collection, message, top_k)
        history = await self._conversations.history(*conversation, 2 * self._max_turns)
        history = [{"role": m["role"], "content": m["content"]} for m in history]
        return hits, history

    async def _remember(
        self, conversation: Conversation, message: str, answer: str, citations: list[dict[str, Any]]
    ) -> None:
        await self._conversations.append(
            *conversation,
            {"role": "user", "content": message},
            {"role": "assistant", "content": answer, "citations": citations},
        )

    def _fallback(self, message: str, hits: list[Hit], llm_failed: bool) -> tuple[str, bool]:
        answer = extractive_answer(message, [h.text for h in hits]) if hits else ""
        return answer or NO_CONTEXT_ANSWER, llm_failed

    async def answer(
        self, collection: str, message: str, top_k: int, conversation_id: str | None, owner: str
    ) -> ChatAnswer:
        conversation = Conversation(owner, conversation_id or uuid.uuid4().hex)
        hits, history = await self._prepare(collection, message, top_k, conversation)
        citations = citations_for(hits)
        cache_key = self._cache.key("answer", collection, q=normalize_query(message), k=top_k)
        record, (cached,) = await self._catalog.get_collection_with(collection, [cache_key])
        at = (record.store_name, record.version)
        text: str | None = None
        mode, degraded = "extractive", self._llm is None
        if hits and self._llm is not None:
            if not history:
                text = self._cache.decode("answer", cached, *at)
            if text is None:
                try:
                    text = await self._llm.complete(build_messages(message, hits, history))
                    if not history:
                        await self._cache.put(cache_key, *at, text)
                except LlmUnavailableError as error:
                    log.warning("answering extractively: %s", error)
                    degraded = True
            if text is not None:
                mode, degraded = "llm", False
        if text is None:
            text, degraded = self._fallback(message, hits, degraded)
        await self._remember(conversation, message, text, citations)
        CHAT_ANSWERS.labels(mode, str(degraded).lower()).inc()
        return ChatAnswer(text, citations, conversation.id, mode, degraded)

    async def stream(
        self, collection: str, message: str, top_k: int, conversation_id: str | None, owner: str
    ) -> AsyncIterator[str]:
        """Server-Sent Events: citations, token*, done (or error after a partial answer)."""
        conversation = Conversation(owner, conversation_id or uuid.uuid4().hex)
        hits, history = await self._prepare(collection, message, top_k, conversation)
        citations = citations_for(hits)
        return self._events(conversation, message, hits, history, citations)

    async def _events(
        self,
        conversation: Conversation,
        message: str,
        hits: list[Hit],
        history: list[dict[str, Any]],
        citations: list[dict[str, Any]],
    ) -> AsyncIterator[str]:
        yield sse("citations", {"citations": citations, "conversation_id": conversation.id})
        parts: list[str] = []
        mode, degraded = "extractive", self._llm is None
        if hits and self._llm is not None:
            try:
                async for token in self._llm.stream(build_messages(message, hits, history)):
                    parts.append(token)
                    yield sse("token", {"text": token})
                mode, degraded = "llm", False
            except LlmUnavailableError as error:
                if parts:
                    log.warning("LLM stream broke after %d tokens: %s", len(parts), error)
                    yield sse("error", {"detail": f"the answer was interrupted: {error}"})
                    await self._remember(conversation, message, "".join(parts), citations)
                    return
                log.warning("answering extractively: %s", error)
                degraded = True
        if mode == "extractive":
            text, degraded = self._fallback(message, hits, degraded)
            for word in text.split(" "):
                token = word if not parts else f" {word}"
                parts.append(token)
                yield sse("token", {"text": token})
        await self._remember(conversation, message, "".join(parts), citations)
        CHAT_ANSWERS.labels(mode, str(degraded).lower()).inc()
        yield sse("done", {"mode": mode, "degraded": degraded, "conversation_id": conversation.id})
