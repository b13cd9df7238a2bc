"""ChromaDB in server mode, reached with chromadb-client's async HTTP client (token auth)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import chromadb
from chromadb.api import AsyncClientAPI
from chromadb.api.models.AsyncCollection import AsyncCollection
from chromadb.config import Settings as ChromaSettings

from ragstack.errors import DependencyUnavailableError

# User metadata is stored next to ours under this prefix so a user key can never shadow ours.
USER_META_PREFIX = "meta_"
PAGE_SIZE = 2000


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: str
    text: str
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class VectorHit:
    chunk: StoredChunk
    similarity: float


def user_filter(filters: Mapping[str, Any]) -> dict[str, Any] | None:
    clauses = [{f"{USER_META_PREFIX}{k}": v} for k, v in filters.items()]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class VectorStore:
    def __init__(self, url: str, token: str | None, ca_file: Path | None = None) -> None:
        """An https server's certificate is always verified, host name included: against
        ``ca_file`` (the internal CA), else the system's CAs."""
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = parts.scheme == "https"
        # chromadb's client turns verification off unless told (verify=None or False).
        self._verify: bool | str = str(ca_file) if ca_file else self._ssl
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client: AsyncClientAPI | None = None
        self._collections: dict[str, AsyncCollection] = {}
        self._lock = asyncio.Lock()

    async def _connect(self) -> AsyncClientAPI:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        self._client = await chromadb.AsyncHttpClient(
                            host=self._host,
                            port=self._port,
                            ssl=self._ssl,
                            headers=self._headers,
                            settings=ChromaSettings(
                                anonymized_telemetry=False,
                                chroma_server_ssl_verify=self._verify,
                            ),
                        )
                    except Exception as error:
                        raise DependencyUnavailableError(
                            f"ChromaDB unreachable: {error}"
                        ) from error
        return self._client

    async def heartbeat(self) -> None:
        client = await self._connect()
        # list_collections needs the token, unlike the heartbeat, so it also checks auth.
        await client.list_collections(limit=1)

    async def create(self, store_name: str) -> None:
        client = await self._connect()
        collection = await client.create_collection(
            store_name, configuration={"hnsw": {"space": "cosine"}}
        )
        self._collections[store_name] = collection

    async def drop(self, store_name: str) -> None:
        client = await self._connect()
        self._collections.pop(store_name, None)
        try:
            await client.delete_collection(store_name)
        except Exception as error:  # already gone is fine; anything else is reported
            if "does not exist" not in str(error).lower():
                raise

    async def _collection(self, store_name: str) -> AsyncCollection:
        collection = self._collections.get(store_name)
        if collection is None:
            client = await self._connect()
            collection = await client.get_collection(store_name)
            self._collections[store_name] = collection
        return collection

    async def upsert(
        self,
        store_name: str,
        ids: Sequence[str],
        embeddings: Sequence[Sequence[float]],
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        collection = await self._collection(store_name)
        for start in range(0, len(ids), PAGE_SIZE):
            end = start + PAGE_SIZE
            await collection.upsert(
                ids=list(ids[start:end]),
                embeddings=[list(e) for e in embeddings[start:end]],
                documents=list(texts[start:end]),
                metadatas=[dict(m) for m in metadatas[start:end]],
            )

    async def delete_document(self, store_name: str, document_id: str) -> None:
        collection = await self._collection(store_name)
        await collection.delete(where={"document_id": document_id})

    async def query(
        self,
        store_name: str,
        embedding: Sequence[float],
        limit: int,
        filters: Mapping[str, Any] | None = None,
    ) -> list[VectorHit]:
        collection = await self._collection(store_name)
        result = await collection.query(
            query_embeddings=[list(embedding)],
            n_results=limit,
            where=user_filter(filters or {}),
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for chunk_id, text, metadata, distance in zip(
            result["ids"][0],
            (result["documents"] or [[]])[0],
            (result["metadatas"] or [[]])[0],
            (result["distances"] or [[]])[0],
            strict=True,
        ):
            hits.append(VectorHit(StoredChunk(chunk_id, text or "", metadata or {}), 1 - distance))
        return hits

    async def document_chunks(
        self, store_name: str, document_ids: Sequence[str]
    ) -> list[StoredChunk]:
        """Every chunk of these documents (one request per page of documents)."""
        collection = await self._collection(store_name)
        found: list[StoredChunk] = []
        for start in range(0, len(document_ids), 100):
            page = await collection.get(
                where={"document_id": {"$in": list(document_ids[start : start + 100])}},
                include=["documents", "metadatas"],
            )
            found += [
                StoredChunk(i, t or "", m or {})
                for i, t, m in zip(
                    page["ids"], page["documents"] or [], page["metadatas"] or [], strict=True
                )
            ]
        return found

    async def chunks_per_document(self, store_name: str) -> dict[str, int]:
        """How many chunks each document id has in the store (the reconciler's view)."""
        collection = await self._collection(store_name)
        counts: dict[str, int] = {}
        offset = 0
        while True:
            page = await collection.get(include=["metadatas"], limit=PAGE_SIZE, offset=offset)
            for metadata in page["metadatas"] or []:
                document_id = str((metadata or {}).get("document_id", ""))
                counts[document_id] = counts.get(document_id, 0) + 1
            if len(page["ids"]) < PAGE_SIZE:
                return counts
            offset += PAGE_SIZE

    async def all_chunks(self, store_name: str) -> list[StoredChunk]:
        collection = await self._collection(store_name)
        chunks: list[StoredChunk] = []
        offset = 0
        while True:
            page = await collection.get(
                include=["documents", "metadatas"], limit=PAGE_SIZE, offset=offset
            )
            for chunk_id, text, metadata in zip(
                page["ids"], page["documents"] or [], page["metadatas"] or [], strict=True
            ):
                chunks.append(StoredChunk(chunk_id, text or "", metadata or {}))
            if len(page["ids"]) < PAGE_SIZE:
                return chunks
            offset += PAGE_SIZE
