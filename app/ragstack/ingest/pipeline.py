"""One document through the worker: claim, parse, chunk, embed, write, activate.

Idempotent: chunk ids are the document id, the chunk's position and a hash of its text, and
chunks are upserted, so a document processed twice (a worker killed after writing, its job
delivered again) writes the same chunks, never more. Whatever the outcome, a document that is
not ready leaves no chunk and no file behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from enum import StrEnum
from typing import Any

from ragstack.catalog import Catalog, Document
from ragstack.errors import InvalidInputError, NotFoundError, RagstackError
from ragstack.ingest.chunking import Chunk
from ragstack.ingest.originals import Originals
from ragstack.ingest.safety import FORMATS_BY_CONTENT_TYPE
from ragstack.ingest.sandbox import ParserSandbox
from ragstack.observability.metrics import (
    INGEST_DURATION,
    INGESTED_CHUNKS,
    INGESTED_DOCUMENTS,
)
from ragstack.retrieval.embedding import Embedder
from ragstack.retrieval.vectorstore import USER_META_PREFIX, VectorStore

log = logging.getLogger(__name__)
EMBED_BATCH = 64


class Outcome(StrEnum):
    ready = "ready"
    failed = "failed"
    gone = "gone"  # deleted (or its collection) before or while it was processed
    duplicate = "duplicate"  # already finished: a second delivery of the same job


class TransientError(Exception):
    """A dependency failed: the job is retried (the document stays processing)."""


def chunk_id(document_id: str, chunk: Chunk) -> str:
    digest = hashlib.sha256(chunk.text.encode()).hexdigest()[:12]
    return f"{document_id}:{chunk.index:05d}:{digest}"


class DocumentPipeline:
    def __init__(
        self,
        catalog: Catalog,
        store: VectorStore,
        embedder: Embedder,
        originals: Originals,
        sandbox: ParserSandbox,
        worker_name: str,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._embedder = embedder
        self._originals = originals
        self._sandbox = sandbox
        self._worker = worker_name

    async def process(self, collection: str, document_id: str) -> Outcome:
        claimed = await self._catalog.claim(collection, document_id, self._worker)
        if claimed == "gone":
            await self.discard(collection, document_id)
            return Outcome.gone
        if claimed != "processing":
            return Outcome.duplicate
        state = await self._catalog.get_state(document_id)
        if state is None:
            await self.discard(collection, document_id)
            return Outcome.gone
        document = state.document
        fmt = FORMATS_BY_CONTENT_TYPE[document.content_type]
        started = time.perf_counter()
        try:
            record = await self._catalog.get_collection(collection)
            chunks, title = await self._parse(document)
        except NotFoundError:  # deleted, or its collection, while we read it
            await self.discard(collection, document_id)
            return Outcome.gone
        except RagstackError as error:  # what the parsers say is wrong with the file
            return await self.fail(
                collection, document_id, str(error), type(error).__name__, fmt.name
            )
        except Exception:
            log.exception("document %s could not be parsed", document_id)
            return await self.fail(
                collection,
                document_id,
                "the file could not be processed",
                "InternalError",
                fmt.name,
            )
        try:
            await self._write(record.store_name, document, chunks, title)
            activation = await self._catalog.activate(collection, document_id, len(chunks), title)
        except Exception as error:
            if await self._catalog.get_state(document_id) is None:
                await self.discard(collection, document_id)
                return Outcome.gone
            # ChromaDB or Redis down or restarting: the job is retried.
            raise TransientError(f"{type(error).__name__}: {error}") from error
        if activation.outcome == "duplicate":  # another delivery of this job finished first
            return Outcome.duplicate
        if activation.outcome != "ready":
            # Deleted while we worked, or a newer upload of the same name won: undo our writes.
            await self.discard(collection, document_id)
            return Outcome.gone if activation.outcome == "gone" else Outcome.failed
        if activation.retired_id:
            await self.discard(collection, activation.retired_id)
        INGESTED_DOCUMENTS.labels(fmt.name, "succeeded").inc()
        INGESTED_CHUNKS.inc(len(chunks))
        INGEST_DURATION.labels(fmt.name).observe(time.perf_counter() - started)
        return Outcome.ready

    async def _parse(self, document: Document) -> tuple[list[Chunk], str]:
        fmt = FORMATS_BY_CONTENT_TYPE[document.content_type]
        path = self._originals.path(document.collection, document.id, fmt.suffix)
        try:
            chunks, title = await self._sandbox.parse(document.content_type, path)
        except FileNotFoundError:
            if await self._catalog.get_state(document.id) is None:
                raise NotFoundError(f"document {document.id} was deleted") from None
            raise
        if not chunks:
            raise InvalidInputError("no text could be extracted from the file")
        return chunks, title or document.title

    async def _write(
        self, store_name: str, document: Document, chunks: list[Chunk], title: str
    ) -> None:
        base: dict[str, Any] = {
            "document_id": document.id,
            "filename": document.filename,
            "title": title,
        }
        base.update({f"{USER_META_PREFIX}{k}": v for k, v in document.metadata.items()})
        pending: asyncio.Task[None] | None = None
        try:
            for start in range(0, len(chunks), EMBED_BATCH):
                batch = chunks[start : start + EMBED_BATCH]
                # The heading gives short chunks the context a reader would have.
                vectors = await self._embedder.embed(
                    [f"{c.heading}\n{c.text}" if c.heading else c.text for c in batch]
                )
                metadatas = []
                for chunk in batch:
                    metadata = dict(base, chunk_index=chunk.index)
                    if chunk.page is not None:
                        metadata["page"] = chunk.page
                    if chunk.heading:
                        metadata["section"] = chunk.heading
                    metadatas.append(metadata)
                if pending is not None:
                    await pending
                # The write of this batch overlaps the embedding of the next one.
                pending = asyncio.create_task(
                    self._store.upsert(
                        store_name,
                        [chunk_id(document.id, c) for c in batch],
                        vectors,
                        [c.text for c in batch],
                        metadatas,
                    )
                )
            if pending is not None:
                await pending
        except BaseException:
            if pending is not None and not pending.done():
                pending.cancel()
            raise

    async def fail(
        self,
        collection: str,
        document_id: str,
        reason: str,
        kind: str,
        fmt_name: str | None = None,
    ) -> Outcome:
        """``fmt_name`` labels the metric; without it the document's format is looked up."""
        # Clean up first: once the document reads `failed`, nothing of it may be left.
        await self.discard(collection, document_id)
        await self._catalog.fail(document_id, reason, kind)
        if fmt_name is None:
            state = await self._catalog.get_state(document_id)
            fmt_name = "unknown"
            if state is not None:
                fmt_name = FORMATS_BY_CONTENT_TYPE[state.document.content_type].name
        INGESTED_DOCUMENTS.labels(fmt_name, "failed").inc()
        return Outcome.failed

    async def discard(self, collection: str, document_id: str) -> None:
        """Remove a document's chunks and original (a failed document keeps its record)."""
        try:
            record = await self._catalog.get_collection(collection)
        except NotFoundError:
            record = None  # the collection's store was dropped with it
        if record is not None:
            await self._store.delete_document(record.store_name, document_id)
        await self._originals.remove(collection, document_id)
