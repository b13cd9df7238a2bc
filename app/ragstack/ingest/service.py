"""The API's side of ingestion: admit an upload (stream it to disk, check it, deduplicate it and
queue it in one atomic step), wait for it if asked, delete documents.

Parsing, embedding and indexing happen in the worker (``ragstack.ingest.worker``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import anyio

from ragstack.catalog import Catalog, Document, DocumentState, DocumentStatus, utcnow
from ragstack.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    QueueFullError,
)
from ragstack.ingest.originals import Originals
from ragstack.ingest.queue import IngestQueue
from ragstack.ingest.safety import check_content, check_filename, format_for, parse_metadata
from ragstack.retrieval.vectorstore import VectorStore

log = logging.getLogger(__name__)
WAIT_POLL_SECONDS = (0.02, 0.05, 0.1, 0.2)


@dataclass(frozen=True)
class UploadLimits:
    max_upload_bytes: int
    max_decompressed_bytes: int
    max_zip_ratio: float
    queue_limit: int
    retry_after_seconds: int


@dataclass(frozen=True)
class UploadOutcome:
    state: DocumentState
    deduplicated: bool = False


class IngestService:
    def __init__(
        self,
        catalog: Catalog,
        store: VectorStore,
        queue: IngestQueue,
        originals: Originals,
        embedding_model: str,
        limits: UploadLimits,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._queue = queue
        self._originals = originals
        self._embedding_model = embedding_model
        self._limits = limits

    async def upload(
        self,
        collection: str,
        filename: str | None,
        declared_type: str | None,
        blocks: AsyncIterator[bytes],
        metadata_json: str | None,
    ) -> UploadOutcome:
        record = await self._catalog.get_collection(collection)
        if record.embedding_model and record.embedding_model != self._embedding_model:
            raise ConflictError(
                f"collection {collection!r} was indexed with {record.embedding_model}, "
                f"but this service embeds with {self._embedding_model}"
            )
        name = check_filename(filename)
        fmt = format_for(name, declared_type)
        metadata = parse_metadata(metadata_json)
        received = await self._originals.receive(blocks, self._limits.max_upload_bytes)
        try:
            if received.size == 0:
                raise InvalidInputError("file is empty")
            await anyio.to_thread.run_sync(
                check_content,
                fmt,
                received.path,
                self._limits.max_decompressed_bytes,
                self._limits.max_zip_ratio,
            )
        except BaseException:
            await self._originals.discard(received.path)
            raise
        document = Document(
            id=uuid.uuid4().hex,
            collection=collection,
            filename=name,
            title=PurePosixPath(name).stem,
            content_type=fmt.content_type,
            sha256=received.sha256,
            size_bytes=received.size,
            status=DocumentStatus.queued,
            metadata=metadata,
            created_at=utcnow(),
        )
        # The original is in place before the document exists: a worker may take the job at once.
        await self._originals.keep(received, collection, document.id, fmt.suffix)
        try:
            admission = await self._catalog.admit(
                document, self._queue.node, self._queue.stream, self._limits.queue_limit
            )
        except BaseException:
            await self._originals.remove(collection, document.id)
            raise
        if admission.outcome != "created":
            await self._originals.remove(collection, document.id)
        if admission.outcome == "nocoll":
            raise NotFoundError(f"collection {collection!r} does not exist")
        if admission.outcome == "busy":
            raise QueueFullError(
                f"the ingestion queue holds {self._limits.queue_limit} documents; retry later",
                self._limits.retry_after_seconds,
            )
        if admission.outcome == "created":
            # As admitted, not as read back: a worker may already have finished it, and an upload
            # without wait answers 202 whatever the worker's pace.
            admitted = DocumentState(document, self._queue.node, error_kind=None, attempts=0)
            return UploadOutcome(admitted)
        state = await self._catalog.get_state(admission.document_id)
        if state is None:  # deleted in the meantime
            raise NotFoundError(f"document {admission.document_id!r} was deleted")
        return UploadOutcome(state, deduplicated=True)

    async def wait(self, document_id: str, seconds: float) -> DocumentState | None:
        """The document once ready or failed, or as it is after ``seconds``; None if deleted."""
        deadline = time.monotonic() + seconds
        polls = 0
        while True:
            state = await self._catalog.get_state(document_id)
            if state is None or state.document.status in (
                DocumentStatus.ready,
                DocumentStatus.failed,
            ):
                return state
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return state
            pause = WAIT_POLL_SECONDS[min(polls, len(WAIT_POLL_SECONDS) - 1)]
            await asyncio.sleep(min(pause, remaining))
            polls += 1

    async def delete_document(self, collection: str, document_id: str) -> None:
        record = await self._catalog.get_collection(collection)
        if not await self._catalog.delete_document(collection, document_id):
            raise NotFoundError(f"document {document_id!r} does not exist in {collection!r}")
        # Gone from the catalog: from here on nothing shows it. A worker still processing it
        # removes what it wrote when it finds it gone; the reconciler catches any leftovers.
        try:
            await self._store.delete_document(record.store_name, document_id)
        except Exception:
            log.exception("could not remove the chunks of deleted document %s", document_id)
        await self._originals.remove(collection, document_id)

    async def delete_collection_files(self, collection: str) -> None:
        await self._originals.remove_collection(collection)
