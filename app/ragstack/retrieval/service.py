"""Retrieval: dense (embeddings in ChromaDB), lexical (the host's Tantivy index) or both fused.

Only chunks of the collection's live (ready) documents are returned, whichever index a hit comes
from: hits are checked against the live set in one Redis call, which also reads the collection's
version; when a document was activated or deleted while the candidates were gathered, the search
runs again at the new version (a replacement is never seen as neither). A lexical query first waits
(up to ``RAGSTACK_LEXICAL_WAIT_SECONDS``) for the host's index to reach the collection's
version, so a client sees its own writes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import anyio

from ragstack.cache import EmbeddingCache, ResultCache, in_background, normalize_query
from ragstack.catalog import Catalog, CollectionRecord
from ragstack.errors import ConflictError
from ragstack.observability.metrics import LEXICAL_WAIT
from ragstack.retrieval.embedding import Embedder
from ragstack.retrieval.fusion import (
    Candidate,
    FusionMethod,
    best_per_document,
    chunk_key,
    document_key,
    fuse,
)
from ragstack.retrieval.lexical import LexicalIndex
from ragstack.retrieval.vectorstore import USER_META_PREFIX, VectorStore

LEXICAL_POLL_SECONDS = 0.01
# Searches at most this many times while documents change under it (optimistic reads: see search).
SNAPSHOT_ATTEMPTS = 3


class Mode(StrEnum):
    hybrid = "hybrid"
    dense = "dense"
    lexical = "lexical"


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    document_id: str
    filename: str
    title: str
    page: int | None
    section: str | None
    text: str
    score: float
    # Screened at ingestion as holding instruction-like text (ragstack.ingest.injection).
    flagged: bool = False

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class FusionSettings:
    method: FusionMethod
    dense_weight: float
    rrf_k: int
    candidates: int


def _hit(candidate: Candidate, score: float) -> Hit:
    metadata = candidate.metadata
    page = metadata.get("page")
    section = metadata.get("section")
    return Hit(
        chunk_id=candidate.chunk_id,
        document_id=str(metadata.get("document_id", "")),
        filename=str(metadata.get("filename", "")),
        title=str(metadata.get("title", "")),
        page=int(page) if isinstance(page, int | float) else None,
        section=str(section) if section else None,
        text=candidate.text,
        score=round(score, 6),
        flagged=metadata.get("injection_suspect") is True,
    )


class RetrievalService:
    def __init__(
        self,
        catalog: Catalog,
        store: VectorStore,
        lexical: LexicalIndex,
        embedder: Embedder,
        embedding_cache: EmbeddingCache,
        result_cache: ResultCache,
        fusion: FusionSettings,
        lexical_wait_seconds: float,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._lexical = lexical
        self._embedder = embedder
        self._embedding_cache = embedding_cache
        self._cache = result_cache
        self._fusion = fusion
        self._lexical_wait = lexical_wait_seconds

    async def embed_query(self, text: str, cached: str | None = None) -> list[float]:
        """The query's vector: from the embedding cache entry ``cached`` if there is one."""
        vector = self._embedding_cache.decode(cached)
        if vector is None:
            (vector,) = await self._embedder.embed([text])
            in_background(self._embedding_cache.put(text, vector))
        return vector

    @property
    def embedding_model(self) -> str:
        return self._embedder.model_id

    def check_model(self, record: CollectionRecord) -> None:
        if record.embedding_model and record.embedding_model != self._embedder.model_id:
            raise ConflictError(
                f"collection {record.name!r} was indexed with {record.embedding_model}, "
                f"but this service embeds with {self._embedder.model_id}; re-ingest it"
            )

    async def search(
        self,
        collection: str,
        query: str,
        top_k: int,
        filters: Mapping[str, Any] | None = None,
        mode: Mode = Mode.hybrid,
        by_document: bool = False,
    ) -> list[Hit]:
        filters = dict(filters or {})
        key = self._cache.key(
            "query",
            collection,
            q=normalize_query(query),
            k=top_k,
            f=filters,
            m=mode.value,
            d=by_document,
        )
        # One Redis round trip: the collection, a cached result, a cached query vector.
        record, (cached, cached_vector) = await self._catalog.get_collection_with(
            collection, [key, self._embedding_cache.key(query)]
        )
        self.check_model(record)
        result = self._cache.decode("query", cached, record.store_name, record.version)
        if result is not None:
            return [Hit(**h) for h in result]
        # Embedded once, before the attempts: a search run again at a new version reuses it.
        vector = None if mode == Mode.lexical else await self.embed_query(query, cached_vector)
        for _attempt in range(SNAPSHOT_ATTEMPTS):
            hits, version = await self._search_uncached(
                record, query, vector, top_k, filters, mode, by_document
            )
            if version == record.version:
                in_background(
                    self._cache.put(key, record.store_name, version, [h.as_dict() for h in hits])
                )
                return hits
            # A document was activated or deleted while the candidates were gathered: the live
            # check may have dropped what they found (a replacement's old chunks) without its
            # successor among them. Search again at the new version.
            record = await self._catalog.get_collection(collection)
        return hits  # the collection kept changing: this answer, not cached

    async def _search_uncached(
        self,
        record: CollectionRecord,
        query: str,
        vector: list[float] | None,
        top_k: int,
        filters: dict[str, Any],
        mode: Mode,
        by_document: bool,
    ) -> tuple[list[Hit], int]:
        """The hits at the collection's live set, and the version that live set was read at.
        ``vector`` is the query's embedding (None in lexical mode, which needs none)."""
        depth = max(self._fusion.candidates, top_k)
        dense_task: asyncio.Task[list[Candidate]] | None = None
        if vector is not None:
            dense_task = asyncio.create_task(self._dense(record, vector, depth, filters))
        try:
            lexical = []
            if mode != Mode.dense:
                lexical = await self._lexical_candidates(record, query, depth, filters)
            dense = await dense_task if dense_task is not None else []
        except BaseException:
            if dense_task is not None:
                dense_task.cancel()
            raise
        version, live = await self._catalog.live_among(
            record.name, {str(c.metadata.get("document_id", "")) for c in [*dense, *lexical]}
        )
        dense = [c for c in dense if c.metadata.get("document_id") in live]
        lexical = [c for c in lexical if c.metadata.get("document_id") in live]
        if by_document:  # fuse documents, each represented by its best chunk
            dense, lexical = best_per_document(dense), best_per_document(lexical)
        fused = fuse(
            dense,
            lexical,
            self._fusion.method,
            self._fusion.dense_weight,
            self._fusion.rrf_k,
            key=document_key if by_document else chunk_key,
        )
        return [_hit(candidate, score) for candidate, score in fused[:top_k]], version

    async def _dense(
        self, record: CollectionRecord, vector: list[float], depth: int, filters: dict[str, Any]
    ) -> list[Candidate]:
        found = await self._store.query(record.store_name, vector, depth, filters)
        return [
            Candidate(h.chunk.chunk_id, h.similarity, h.chunk.text, h.chunk.metadata) for h in found
        ]

    async def _lexical_candidates(
        self, record: CollectionRecord, query: str, depth: int, filters: dict[str, Any]
    ) -> list[Candidate]:
        await self._wait_for_index(record)
        prefixed = {f"{USER_META_PREFIX}{k}": v for k, v in filters.items()}
        found = await anyio.to_thread.run_sync(
            self._lexical.search, record.name, query, depth, prefixed
        )
        return [Candidate(h.chunk_id, h.score, h.text, h.metadata) for h in found]

    async def _wait_for_index(self, record: CollectionRecord) -> None:
        if self._lexical.version(record.name) >= record.version:
            return
        deadline = time.monotonic() + self._lexical_wait
        while time.monotonic() < deadline:
            await asyncio.sleep(LEXICAL_POLL_SECONDS)
            if self._lexical.version(record.name) >= record.version:
                LEXICAL_WAIT.labels("caught_up").inc()
                return
        LEXICAL_WAIT.labels("timed_out").inc()


def elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
