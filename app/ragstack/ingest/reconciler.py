"""Brings the stores back in line with the catalog after crashes: run by each worker at start and
every ``RAGSTACK_RECONCILE_INTERVAL_SECONDS``, and by ``ragstack-admin reconcile``.

It finds and fixes:
- ``requeued``: queued/processing documents of this host with no queue entry (re-queued);
- ``lost_host``: documents queued on a host whose workers were last seen longer ago than
  ``RAGSTACK_NODE_LOST_AFTER_SECONDS`` (failed: their originals were on that host);
- ``orphan_chunks``: chunks of documents that are not in the catalog or failed (deleted);
- ``orphan_files``: originals of such documents on this host, and partial uploads (deleted);
- ``count_drift``: collection counters that differ from the live documents (repaired);
and reports, without fixing, ``chunk_mismatch``: live documents whose chunks in the vector store
differ in number from the catalog's count.

Chunks and files of queued/processing documents are never touched, and files younger than the
grace period are left alone (an upload may be between its file and its catalog entry).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from ragstack.catalog import Catalog, CollectionRecord, DocumentStatus
from ragstack.ingest.originals import Originals
from ragstack.ingest.queue import IngestQueue
from ragstack.observability.metrics import RECONCILE_FINDINGS, RECONCILE_RUNS
from ragstack.retrieval.vectorstore import VectorStore

log = logging.getLogger(__name__)
IN_FLIGHT = (DocumentStatus.queued, DocumentStatus.processing)
KINDS = ("requeued", "lost_host", "orphan_chunks", "orphan_files", "count_drift", "chunk_mismatch")


@dataclass
class ReconcileReport:
    found: Counter[str] = field(default_factory=Counter)
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, kind: str, count: int, detail: str) -> None:
        self.found[kind] += count
        self.details.append(detail)

    def as_dict(self) -> dict[str, object]:
        return {
            "found": {k: self.found.get(k, 0) for k in KINDS},
            "details": self.details,
            "seconds": round(self.seconds, 3),
        }


class Reconciler:
    def __init__(
        self,
        catalog: Catalog,
        store: VectorStore,
        queue: IngestQueue,
        originals: Originals,
        grace_seconds: float,
        node_lost_after_seconds: float,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._queue = queue
        self._originals = originals
        self._grace = grace_seconds
        self._lost_after = node_lost_after_seconds

    async def run(self) -> ReconcileReport:
        started = time.perf_counter()
        report = ReconcileReport()
        await self._lost_hosts(report)
        collections = await self._catalog.list_collections()
        await self._requeue(collections, report)
        for record in collections:
            await self._collection(record.name, record.store_name, report)
        await self._files({r.name for r in collections}, report)
        report.seconds = time.perf_counter() - started
        RECONCILE_RUNS.inc()
        for kind in KINDS:
            RECONCILE_FINDINGS.labels(kind).inc(report.found.get(kind, 0))
        if report.details:
            log.warning("reconciler fixed: %s", "; ".join(report.details))
        return report

    async def _lost_hosts(self, report: ReconcileReport) -> None:
        now = time.time()
        for node, seen in (await self._queue.known_nodes()).items():
            if node == self._queue.node or now - seen < self._lost_after:
                continue
            entries = await self._queue.entries(node)
            for entry in entries:
                await self._catalog.fail(
                    entry.document_id,
                    f"the app host {node} that held the uploaded file was lost; upload it again",
                    "HostLost",
                )
            await self._queue.forget_node(node)
            report.add("lost_host", len(entries), f"host {node}: {len(entries)} documents failed")

    async def _requeue(self, collections: list[CollectionRecord], report: ReconcileReport) -> None:
        queued = {e.document_id for e in await self._queue.entries()}
        # A document admitted after the queue was read is in flight with its entry: only
        # documents unchanged for the grace period can have lost theirs.
        settled = datetime.now(UTC) - timedelta(seconds=self._grace)
        for record in collections:
            states = await self._catalog.get_states(await self._catalog.document_ids(record.name))
            for document_id, state in states.items():
                if (
                    state.document.status in IN_FLIGHT
                    and state.node == self._queue.node
                    and document_id not in queued
                    and _changed_at(state.document.updated_at) < settled
                ):
                    await self._queue.requeue(document_id, record.name)
                    report.add("requeued", 1, f"{record.name}/{document_id} re-queued")

    async def _collection(self, name: str, store_name: str, report: ReconcileReport) -> None:
        # Read the store first: a document that turns ready afterwards is then in the catalog.
        stored = await self._store.chunks_per_document(store_name)
        states = await self._catalog.get_states(sorted(i for i in stored if i))
        for document_id, count in stored.items():
            state = states.get(document_id)
            if state is None or state.document.status == DocumentStatus.failed:
                await self._store.delete_document(store_name, document_id)
                report.add("orphan_chunks", count, f"{name}/{document_id}: {count} chunks")
            elif (
                state.document.status == DocumentStatus.ready
                and count != state.document.chunk_count
            ):
                report.add(
                    "chunk_mismatch",
                    1,
                    f"{name}/{document_id}: {count} chunks stored, "
                    f"{state.document.chunk_count} in the catalog",
                )
        counts = await self._catalog.recount(name)
        if counts is not None and counts[:2] != counts[2:]:
            report.add(
                "count_drift",
                1,
                f"{name}: counters {counts[2]} documents/{counts[3]} chunks, "
                f"live {counts[0]}/{counts[1]} (repaired)",
            )

    async def _files(self, collections: set[str], report: ReconcileReport) -> None:
        stored = await anyio.to_thread.run_sync(self._originals.stored, self._grace)
        for collection, documents in stored.items():
            if not documents:
                continue
            states = await self._catalog.get_states(sorted(documents))
            for document_id, directory in documents.items():
                state = states.get(document_id)
                keep = (
                    collection in collections
                    and state is not None
                    and state.document.status != DocumentStatus.failed
                )
                if not keep:
                    await self._originals.remove(collection, document_id)
                    report.add("orphan_files", 1, f"{directory}")
        for path in await anyio.to_thread.run_sync(self._originals.stale_incoming, self._grace):
            await anyio.to_thread.run_sync(lambda p=path: Path(p).unlink(missing_ok=True))
            report.add("orphan_files", 1, f"{path} (partial upload)")


def _changed_at(stamp: str | None) -> datetime:
    if not stamp:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
