"""Hybrid retrieval: BM25 and vector search, fused with reciprocal rank fusion."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ragstack.cache import EmbeddingCache, ResultCache, in_background, normalize_query
from ragstack.catalog import Catalog, CollectionRecord
from ragstack.errors import ConflictError
from ragstack.retrieval.bm25 import Bm25Index, IndexedChunk, build_index
from ragstack.retrieval.embedding import Embedder
from ragstack.retrieval.fusion import reciprocal_rank_fusion
from ragstack.retrieval.vectorstore import USER_META_PREFIX, VectorStore


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

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class _WorkerIndex:
    version: int
    bm25: Bm25Index


def _hit(chunk_id: str, text: str, metadata: Mapping[str, Any], score: float) -> Hit:
    page = metadata.get("page")
    section = metadata.get("section")
    return Hit(
        chunk_id=chunk_id,
        document_id=str(metadata.get("document_id", "")),
        filename=str(metadata.get("filename", "")),
        title=str(metadata.get("title", "")),
        page=int(page) if isinstance(page, int | float) else None,
        section=str(section) if section else None,
        text=text,
        score=round(score, 6),
    )


class RetrievalService:
    def __init__(
        self,
        catalog: Catalog,
        store: VectorStore,
        embedder: Embedder,
        embedding_cache: EmbeddingCache,
        result_cache: ResultCache,
        rrf_k: int,
        candidates: int,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._embedder = embedder
        self._embedding_cache = embedding_cache
        self._cache = result_cache
        self._rrf_k = rrf_k
        self._candidates = candidates
        self._indexes: dict[str, _WorkerIndex] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def embed_query(self, text: str, cached: str | None = None) -> list[float]:
        """The query's vector: from the embedding cache entry ``cached`` if there is one."""
        vector = self._embedding_cache.decode(cached)
        if vector is None:
            (vector,) = await self._embedder.embed([text])
            in_background(self._embedding_cache.put(text, vector))
        return vector

    async def _index(self, record: CollectionRecord) -> _WorkerIndex:
        current = self._indexes.get(record.store_name)
        if current is not None and current.version >= record.version:
            return current
        lock = self._locks.setdefault(record.store_name, asyncio.Lock())
        async with lock:
            current = self._indexes.get(record.store_name)
            if current is not None and current.version >= record.version:
                return current
            version, live = await self._catalog.snapshot(record.name)
            chunks = await self._store.all_chunks(record.store_name)
            indexed = [
                IndexedChunk(c.chunk_id, c.text, c.metadata)
                for c in chunks
                if c.metadata.get("document_id") in live
            ]
            bm25 = await asyncio.to_thread(build_index, indexed)
            fresh = _WorkerIndex(version=version, bm25=bm25)
            self._indexes[record.store_name] = fresh
            return fresh

    def forget(self, store_name: str) -> None:
        self._indexes.pop(store_name, None)
        self._locks.pop(store_name, None)

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
        self, collection: str, query: str, top_k: int, filters: Mapping[str, Any] | None = None
    ) -> list[Hit]:
        filters = dict(filters or {})
        key = self._cache.key("query", collection, q=normalize_query(query), k=top_k, f=filters)
        # One Redis round trip: the collection, a cached result, a cached query vector.
        record, (cached, vector) = await self._catalog.get_collection_with(
            collection, [key, self._embedding_cache.key(query)]
        )
        self.check_model(record)
        result = self._cache.decode("query", cached, record.store_name, record.version)
        if result is not None:
            return [Hit(**h) for h in result]
        hits = await self._search_uncached(record, query, vector, top_k, filters)
        in_background(
            self._cache.put(key, record.store_name, record.version, [h.as_dict() for h in hits])
        )
        return hits

    async def _search_uncached(
        self,
        record: CollectionRecord,
        query: str,
        cached_vector: str | None,
        top_k: int,
        filters: dict[str, Any],
    ) -> list[Hit]:
        limit = max(self._candidates, top_k)
        vector = await self.embed_query(query, cached_vector)
        vector_task = asyncio.create_task(
            self._store.nearest_ids(record.store_name, vector, limit, filters)
        )
        try:
            index = await self._index(record)
        except BaseException:
            vector_task.cancel()
            raise
        prefixed = {f"{USER_META_PREFIX}{k}": v for k, v in filters.items()}
        lexical = [chunk.chunk_id for chunk, _ in index.bm25.search(query, limit, prefixed)]
        # Chunks missing from the index belong to documents that are not live in this version.
        semantic = [i for i, _ in await vector_task if i in index.bm25.by_id]
        fused = reciprocal_rank_fusion([semantic, lexical], k=self._rrf_k)
        hits = []
        for chunk_id, score in fused[:top_k]:
            chunk = index.bm25.by_id[chunk_id]
            hits.append(_hit(chunk_id, chunk.text, chunk.metadata, score))
        return hits


def elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
