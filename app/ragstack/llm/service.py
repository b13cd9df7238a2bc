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
from ragstack.llm.admission import GenerationLimiter, Slot
from ragstack.llm.base import Message
from ragstack.llm.citations import CitationRewriter, rewrite
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
# Closes every question: small models follow the citation format from a worked example and a
# last-line reminder far more reliably than from the system prompt alone (SmolLM2-135M, greedy, 5
# lab questions: 3 answers cited with both, 1 without them).
ANSWER_INSTRUCTION = "Answer in one sentence and cite the passage number, like [1]."
EXAMPLE = (
    Message(
        "user",
        "Context passages:\n\n[1] Office\nThe office opens at 08:00 on weekdays.\n\n"
        "[2] Parking\nVisitors park in lot C.\n\nQuestion: Where do visitors park?\n"
        f"{ANSWER_INSTRUCTION}",
    ),
    Message("assistant", "Visitors park in lot C [2]."),
)
NO_CONTEXT_ANSWER = "I found nothing in this collection that answers the question."


@dataclass
class ChatAnswer:
    answer: str
    citations: list[dict[str, Any]]
    conversation_id: str
    mode: str
    degraded: bool

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def build_messages(question: str, hits: list[Hit], history: list[dict[str, Any]]) -> list[Message]:
    context = "\n\n".join(
        f"[{n}] {h.title}{f' - {h.section}' if h.section else ''}"
        f"{f' (page {h.page})' if h.page else ''}\n{h.text}"
        for n, h in enumerate(hits, start=1)
    )
    messages = [Message("system", SYSTEM_PROMPT), *EXAMPLE]
    messages += [Message(m["role"], m["content"]) for m in history]
    messages.append(
        Message(
            "user",
            f"Context passages:\n\n{context}\n\nQuestion: {question}\n{ANSWER_INSTRUCTION}",
        )
    )
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
        limiter: GenerationLimiter,
        max_turns: int,
    ) -> None:
        self._retrieval = retrieval
        self._catalog = catalog
        self._conversations = conversations
        self._cache = cache
        self._llm = llm
        self._limiter = limiter
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

    def _fallback(self, message: str, hits: list[Hit]) -> str:
        return (extractive_answer(message, [h.text for h in hits]) if hits else "") or (
            NO_CONTEXT_ANSWER
        )

    async def _generate(self, messages: list[Message]) -> str:
        assert self._llm is not None
        slot = await self._limiter.acquire()
        try:
            return await self._llm.complete(messages)
        finally:
            slot.release()

    async def answer(
        self, collection: str, message: str, top_k: int, conversation_id: str | None, owner: str
    ) -> ChatAnswer:
        conversation = Conversation(owner, conversation_id or uuid.uuid4().hex)
        hits, history = await self._prepare(collection, message, top_k, conversation)
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
                    text = await self._generate(build_messages(message, hits, history))
                    if not history:
                        await self._cache.put(cache_key, *at, text)
                except LlmUnavailableError as error:
                    log.warning("answering extractively: %s", error)
                    degraded = True
            if text is not None:
                mode, degraded = "llm", False
        # The cache keeps the model's own text: the same passages give the same rewriting.
        text, citations = rewrite(text or self._fallback(message, hits), hits)
        await self._remember(conversation, message, text, citations)
        CHAT_ANSWERS.labels(mode, str(degraded).lower()).inc()
        return ChatAnswer(text, citations, conversation.id, mode, degraded)

    async def stream(
        self, collection: str, message: str, top_k: int, conversation_id: str | None, owner: str
    ) -> AsyncIterator[str]:
        """Server-Sent Events: citations, then token* with a citations event before the token
        that first cites a passage (each holds the whole list so far), then done. If the model
        fails after some tokens, a retract event says to drop them and the extractive answer
        follows. A busy host refuses here, before the response starts (503)."""
        conversation = Conversation(owner, conversation_id or uuid.uuid4().hex)
        hits, history = await self._prepare(collection, message, top_k, conversation)
        slot = await self._limiter.acquire() if hits and self._llm is not None else None
        return self._events(conversation, message, hits, history, slot)

    async def _events(
        self,
        conversation: Conversation,
        message: str,
        hits: list[Hit],
        history: list[dict[str, Any]],
        slot: Slot | None,
    ) -> AsyncIterator[str]:
        rewriter = CitationRewriter(hits)
        parts: list[str] = []

        def emit(piece: str) -> list[str]:
            cited = len(rewriter.citations)
            text = rewriter.feed(piece)
            events = []
            if len(rewriter.citations) > cited:
                events.append(sse("citations", {"citations": rewriter.citations}))
            if text:
                parts.append(text)
                events.append(sse("token", {"text": text}))
            return events

        yield sse("citations", {"citations": [], "conversation_id": conversation.id})
        mode, degraded = "extractive", self._llm is None
        try:
            if slot is not None and self._llm is not None:
                try:
                    async for token in self._llm.stream(build_messages(message, hits, history)):
                        for event in emit(token):
                            yield event
                    mode, degraded = "llm", False
                except LlmUnavailableError as error:
                    log.warning("answering extractively: %s", error)
                    degraded = True
                    if parts:
                        # Half an answer is not an answer: the client drops what it showed.
                        yield sse("retract", {"reason": "the language model stopped mid-answer"})
                        rewriter, parts = CitationRewriter(hits), []
        finally:
            if slot is not None:
                slot.release()
        if mode == "extractive":
            for position, word in enumerate(self._fallback(message, hits).split(" ")):
                for event in emit(word if position == 0 else f" {word}"):
                    yield event
        if rest := rewriter.finish():
            parts.append(rest)
            yield sse("token", {"text": rest})
        await self._remember(conversation, message, "".join(parts), rewriter.citations)
        CHAT_ANSWERS.labels(mode, str(degraded).lower()).inc()
        yield sse("done", {"mode": mode, "degraded": degraded, "conversation_id": conversation.id})
