"""The search's optimistic read made to lose its race, the same way on every run: a replacement
goes live between the search gathering its candidates and checking them against the live set.

Real Redis, ChromaDB, backend and worker; the search runs in this process (built by the backend's
own ragstack.main.build_retrieval, with the backend's settings) with one seam: its vector store
uploads the replacement, and waits for the worker to make it live, right after the first read.
test_backend_ingest's concurrent-query test hits the same window only by chance."""

from __future__ import annotations

from typing import Any

import anyio
from async_run import run
from backend_helpers import upload
from ragstack.cache import ResultCache
from ragstack.catalog import Catalog
from ragstack.main import build_retrieval
from ragstack.retrieval.service import Hit, Mode
from ragstack.retrieval.vectorstore import VectorHit, VectorStore
from ragstack.stores import build_embedder, connect_redis, secret

OLD = b"Lighthouse lamp care, first edition: wipe the lens weekly."
NEW = b"Lighthouse lamp care, second edition: wipe the lens daily."


def test_a_replacement_made_live_mid_search_is_found_not_dropped(
    backend_settings, client, new_collection
):
    name = new_collection()
    old = upload(client, name, "lamp.txt", OLD).json()
    replacement: dict[str, Any] = {}
    reads: list[list[str]] = []

    class ReplacedAfterFirstRead(VectorStore):
        async def query(self, *args: Any, **kwargs: Any) -> list[VectorHit]:
            hits = await super().query(*args, **kwargs)
            reads.append([str(h.chunk.metadata["document_id"]) for h in hits])
            if len(reads) == 1:
                response = await anyio.to_thread.run_sync(upload, client, name, "lamp.txt", NEW)
                assert response.status_code == 201, response.text
                replacement.update(response.json())
            return hits

    settings = backend_settings

    async def search() -> list[Hit]:
        redis = connect_redis(settings)
        service = build_retrieval(
            settings,
            redis,
            Catalog(redis, settings.redis_prefix),
            ReplacedAfterFirstRead(
                settings.chroma_url, secret(settings.chroma_token), settings.chroma_ca_file
            ),
            build_embedder(settings),
            ResultCache(redis, settings.redis_prefix, settings.cache_ttl_seconds),
        )
        try:
            return await service.search(name, "how often is the lens wiped", 5, mode=Mode.dense)
        finally:
            await redis.aclose()

    hits = run(search())
    # The first read found only the old edition; the live check then saw a new version without
    # it, and the search read again instead of answering with nothing.
    assert reads[0] == [old["id"]], reads
    assert replacement and replacement["id"] != old["id"]
    # Read again once (the old edition's chunks may linger in ChromaDB until the worker's cleanup;
    # the live check drops them).
    assert len(reads) == 2 and replacement["id"] in reads[1], reads
    assert [h.document_id for h in hits] == [replacement["id"]]
    assert "daily" in hits[0].text
