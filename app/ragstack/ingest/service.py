"""Upload handling: checks, original on disk, parse, chunk, embed, index, atomic activation."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ragstack.catalog import Catalog, Document, DocumentStatus, Job, JobStatus, utcnow
from ragstack.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    RagstackError,
)
from ragstack.ingest.chunking import chunk_sections
from ragstack.ingest.parsers import Limits, parse
from ragstack.ingest.safety import (
    Format,
    check_content,
    check_filename,
    format_for,
    parse_metadata,
)
from ragstack.observability.metrics import (
    INDEX_CHUNKS,
    INDEX_DOCUMENTS,
    INGEST_DURATION,
    INGESTED_CHUNKS,
    INGESTED_DOCUMENTS,
)
from ragstack.retrieval.embedding import Embedder
from ragstack.retrieval.vectorstore import USER_META_PREFIX, VectorStore

log = logging.getLogger(__name__)
EMBED_BATCH = 64


@dataclass(frozen=True)
class IngestLimits:
    max_upload_bytes: int
    inline_max_bytes: int
    max_extracted_chars: int
    max_decompressed_bytes: int
    max_zip_ratio: float
    max_pdf_pages: int
    chunk_size: int
    chunk_overlap: int


@dataclass(frozen=True)
class UploadOutcome:
    document: Document
    job: Job | None = None
    deduplicated: bool = False


class IngestService:
    def __init__(
        self,
        catalog: Catalog,
        store: VectorStore,
        embedder: Embedder,
        data_dir: Path,
        limits: IngestLimits,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._embedder = embedder
        self._originals = data_dir / "originals"
        self._limits = limits
        self._tasks: set[asyncio.Task[None]] = set()

    def original_dir(self, collection: str, document_id: str) -> Path:
        return self._originals / collection / document_id

    async def upload(
        self,
        collection: str,
        filename: str | None,
        declared_type: str | None,
        data: bytes,
        metadata_json: str | None,
    ) -> UploadOutcome:
        record = await self._catalog.get_collection(collection)
        if record.embedding_model and record.embedding_model != self._embedder.model_id:
            raise ConflictError(
                f"collection {collection!r} was indexed with {record.embedding_model}, "
                f"but this service embeds with {self._embedder.model_id}"
            )
        name = check_filename(filename)
        fmt = format_for(name, declared_type)
        metadata = parse_metadata(metadata_json)
        if not data:
            raise InvalidInputError("file is empty")
        if len(data) > self._limits.max_upload_bytes:
            raise PayloadTooLargeError(
                f"file is larger than the limit of {self._limits.max_upload_bytes} bytes"
            )
        check_content(fmt, data, self._limits.max_decompressed_bytes, self._limits.max_zip_ratio)
        sha256 = hashlib.sha256(data).hexdigest()
        existing = await self._catalog.find_by_sha256(collection, sha256)
        if existing is not None and existing.status != DocumentStatus.failed:
            return UploadOutcome(existing, deduplicated=True)

        document = Document(
            id=uuid.uuid4().hex,
            collection=collection,
            filename=name,
            title=PurePosixPath(name).stem,
            content_type=fmt.content_type,
            sha256=sha256,
            size_bytes=len(data),
            status=DocumentStatus.processing,
            metadata=metadata,
            created_at=utcnow(),
        )
        await asyncio.to_thread(self._save_original, document, data)
        if len(data) <= self._limits.inline_max_bytes:
            try:
                ready = await self._process(record.store_name, fmt, document, data)
            except BaseException:
                await self._discard(record.store_name, document)
                raise
            return UploadOutcome(ready)

        document = document.model_copy(update={"status": DocumentStatus.queued})
        await self._catalog.put_document(document)
        job = await self._catalog.new_job(collection, document.id)
        task = asyncio.create_task(self._run_job(record.store_name, fmt, document, data, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return UploadOutcome(document, job=job)

    def _save_original(self, document: Document, data: bytes) -> None:
        directory = self.original_dir(document.collection, document.id)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / document.filename).write_bytes(data)

    async def _discard(self, store_name: str, document: Document) -> None:
        try:
            await self._store.delete_document(store_name, document.id)
        except Exception:
            log.exception("could not remove chunks of failed document %s", document.id)
        await asyncio.to_thread(
            shutil.rmtree, self.original_dir(document.collection, document.id), True
        )

    async def _run_job(
        self, store_name: str, fmt: Format, document: Document, data: bytes, job: Job
    ) -> None:
        await self._catalog.put_job(
            job.model_copy(update={"status": JobStatus.running, "updated_at": utcnow()})
        )
        try:
            await self._catalog.put_document(
                document.model_copy(update={"status": DocumentStatus.processing})
            )
            await self._process(store_name, fmt, document, data)
        except Exception as error:
            reason = str(error) if isinstance(error, RagstackError) else "internal error"
            if not isinstance(error, RagstackError):
                log.exception("ingestion job %s failed", job.id)
            await self._discard(store_name, document)
            failed = document.model_copy(update={"status": DocumentStatus.failed, "error": reason})
            try:
                await self._catalog.get_document(document.collection, document.id)
                await self._catalog.put_document(failed)
            except NotFoundError:
                pass  # deleted while it was being processed
            await self._catalog.put_job(
                job.model_copy(
                    update={"status": JobStatus.failed, "error": reason, "updated_at": utcnow()}
                )
            )
            return
        await self._catalog.put_job(
            job.model_copy(update={"status": JobStatus.succeeded, "updated_at": utcnow()})
        )

    async def _process(
        self, store_name: str, fmt: Format, document: Document, data: bytes
    ) -> Document:
        started = time.perf_counter()
        try:
            ready = await self._index(store_name, fmt, document, data)
        except Exception:
            INGESTED_DOCUMENTS.labels(fmt.name, "failed").inc()
            raise
        INGESTED_DOCUMENTS.labels(fmt.name, "succeeded").inc()
        INGEST_DURATION.labels(fmt.name).observe(time.perf_counter() - started)
        return ready

    async def _index(
        self, store_name: str, fmt: Format, document: Document, data: bytes
    ) -> Document:
        limits = Limits(self._limits.max_extracted_chars, self._limits.max_pdf_pages)
        parsed = await asyncio.to_thread(parse, fmt, data, limits)
        chunks = chunk_sections(
            parsed.sections, self._limits.chunk_size, self._limits.chunk_overlap
        )
        if not chunks:
            raise InvalidInputError("no text could be extracted from the file")
        title = parsed.title or document.title
        base: dict[str, Any] = {
            "document_id": document.id,
            "filename": document.filename,
            "title": title,
        }
        base.update({f"{USER_META_PREFIX}{k}": v for k, v in document.metadata.items()})
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
            await self._store.add(
                store_name,
                [f"{document.id}:{c.index:05d}" for c in batch],
                vectors,
                [c.text for c in batch],
                metadatas,
            )
        INGESTED_CHUNKS.inc(len(chunks))
        ready = document.model_copy(
            update={"status": DocumentStatus.ready, "chunk_count": len(chunks), "title": title}
        )
        replaced_id = await self._catalog.live_id_for_name(document.collection, document.filename)
        old = await self._catalog.activate_document(ready, replaced_id)
        # The new version is live from here on: a failure below must not undo it.
        try:
            if old is not None:
                await self._store.delete_document(store_name, old.id)
                await asyncio.to_thread(
                    shutil.rmtree, self.original_dir(old.collection, old.id), True
                )
            await self.refresh_gauges(document.collection)
        except Exception:
            log.exception("cleanup after activating document %s failed", ready.id)
        return ready

    async def delete_document(self, collection: str, document_id: str) -> None:
        record = await self._catalog.get_collection(collection)
        document = await self._catalog.get_document(collection, document_id)
        await self._catalog.remove_document(document)
        await self._discard(record.store_name, document)
        await self.refresh_gauges(collection)

    async def refresh_gauges(self, collection: str) -> None:
        try:
            record = await self._catalog.get_collection(collection)
        except NotFoundError:
            return
        INDEX_CHUNKS.labels(collection).set(record.chunk_count)
        INDEX_DOCUMENTS.labels(collection).set(record.document_count)

    async def delete_collection_files(self, collection: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self._originals / collection, True)
