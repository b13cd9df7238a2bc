"""The ingestion worker: ``ragstack-worker`` (the ``ragstack-worker`` systemd unit on app hosts).
It also runs the host's lexical indexer (``retrieval/indexer.py``).

It consumes this host's ingestion queue with ``RAGSTACK_WORKER_CONCURRENCY`` documents in
flight, holds a lease on each (renewed every third of ``RAGSTACK_WORKER_LEASE_SECONDS``), retries
a document whose dependencies fail with backoff, and gives up on one after
``RAGSTACK_WORKER_MAX_ATTEMPTS`` tries or ``RAGSTACK_WORKER_MAX_DELIVERIES`` deliveries (a
document that keeps killing its worker): it is then failed and kept in the dead-letter stream.

SIGTERM drains: no new job is taken, jobs in flight get ``RAGSTACK_WORKER_DRAIN_SECONDS`` to
finish; what is left stays in the queue, leased to this worker, and is taken up again at its
next start (or by another worker once the lease runs out).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable

from prometheus_client import start_http_server
from redis.asyncio import Redis

from ragstack.catalog import Catalog
from ragstack.config import Settings, load_settings
from ragstack.ingest.originals import Originals
from ragstack.ingest.pipeline import DocumentPipeline, TransientError
from ragstack.ingest.queue import Entry, IngestQueue
from ragstack.ingest.reconciler import Reconciler
from ragstack.ingest.sandbox import ParserSandbox, limits_from
from ragstack.observability.logging import configure_logging
from ragstack.observability.metrics import WORKER_JOBS, WORKER_JOBS_IN_PROGRESS
from ragstack.retrieval.indexer import Indexer
from ragstack.retrieval.lexical import LexicalIndex
from ragstack.stores import build_embedder, connect_chroma, connect_redis

log = logging.getLogger("ragstack.worker")
READ_BLOCK_MS = 1000


class Worker:
    def __init__(
        self,
        settings: Settings,
        queue: IngestQueue,
        pipeline: DocumentPipeline,
        reconciler: Reconciler,
        indexer: Indexer,
        name: str,
    ) -> None:
        self._settings = settings
        self._queue = queue
        self._pipeline = pipeline
        self._reconciler = reconciler
        self._indexer = indexer
        self.name = name
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        await self._queue.ensure_group()
        await self._queue.heartbeat()
        await self._indexer.start()
        await self._reconcile()
        for entry in await self._queue.claim_own(self.name):
            self._start(entry)
        background = [
            asyncio.create_task(self._every(self._lease_period(), self._renew_leases)),
            asyncio.create_task(self._every(self._lease_period(), self._reclaim)),
            asyncio.create_task(self._every(5.0, self._queue.heartbeat)),
            asyncio.create_task(
                self._every(self._settings.reconcile_interval_seconds, self._reconcile)
            ),
            asyncio.create_task(self._indexer.follow(self._stopping.is_set)),
        ]
        try:
            await self._consume()
        finally:
            await self._drain()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)

    def _lease_period(self) -> float:
        return self._settings.worker_lease_seconds / 3

    async def _consume(self) -> None:
        while not self._stopping.is_set():
            free = self._settings.worker_concurrency - len(self._in_flight)
            if free <= 0:
                await asyncio.wait(
                    list(self._in_flight.values()), return_when=asyncio.FIRST_COMPLETED
                )
                continue
            try:
                entries = await self._queue.read(self.name, free, READ_BLOCK_MS)
            except Exception as error:  # Redis down: wait and try again
                log.warning("cannot read the queue: %s", error)
                await self._pause(2.0)
                continue
            for entry in entries:
                self._start(entry)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _start(self, entry: Entry) -> None:
        if entry.id in self._in_flight:
            return
        task = asyncio.create_task(self._handle(entry))
        self._in_flight[entry.id] = task
        WORKER_JOBS_IN_PROGRESS.inc()

        def done(_: asyncio.Task[None]) -> None:
            self._in_flight.pop(entry.id, None)
            WORKER_JOBS_IN_PROGRESS.dec()

        task.add_done_callback(done)

    async def _handle(self, entry: Entry) -> None:
        if entry.deliveries > self._settings.worker_max_deliveries:
            await self._give_up(entry, f"delivered {entry.deliveries} times without finishing")
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                outcome = await self._pipeline.process(entry.collection, entry.document_id)
                break
            except TransientError as error:
                if attempt >= self._settings.worker_max_attempts:
                    await self._give_up(entry, f"{attempt} attempts failed, last: {error}")
                    return
                WORKER_JOBS.labels("retried").inc()
                delay = self._settings.worker_retry_backoff_seconds * 2 ** (attempt - 1)
                log.warning(
                    "document %s: attempt %d failed (%s), retrying in %.1fs",
                    entry.document_id,
                    attempt,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
            except Exception:
                # Redis unreachable even for the catalog: leave the job leased; it is delivered
                # again when this worker restarts or its lease runs out.
                log.exception("document %s: job left in the queue", entry.document_id)
                return
        await self._queue.ack(entry.id)
        WORKER_JOBS.labels(outcome.value).inc()
        log.info("document %s: %s", entry.document_id, outcome.value, extra={"entry": entry.id})

    async def _give_up(self, entry: Entry, reason: str) -> None:
        log.error("document %s: giving up: %s", entry.document_id, reason)
        await self._pipeline.fail(
            entry.collection,
            entry.document_id,
            f"ingestion gave up: {reason}",
            "DependencyUnavailableError",
        )
        await self._queue.dead_letter(entry, reason)
        WORKER_JOBS.labels("dead_letter").inc()

    async def _renew_leases(self) -> None:
        await self._queue.renew(self.name, list(self._in_flight))

    async def _reclaim(self) -> None:
        free = self._settings.worker_concurrency - len(self._in_flight)
        if free <= 0 or self._stopping.is_set():
            return
        lease_ms = int(self._settings.worker_lease_seconds * 1000)
        for entry in await self._queue.reclaim(self.name, lease_ms, free):
            log.warning(
                "document %s: lease expired, taken over (delivery %d)",
                entry.document_id,
                entry.deliveries,
            )
            self._start(entry)

    async def _reconcile(self) -> None:
        report = await self._reconciler.run()
        log.info("reconciled", extra={"report": report.as_dict()})

    async def _every(self, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        while not self._stopping.is_set():
            await self._pause(seconds)
            if self._stopping.is_set():
                return
            try:
                await job()
            except Exception:
                log.exception("periodic %s failed", getattr(job, "__name__", job))

    async def _drain(self) -> None:
        if not self._in_flight:
            return
        log.info("draining %d jobs", len(self._in_flight))
        pending = list(self._in_flight.values())
        _done, unfinished = await asyncio.wait(pending, timeout=self._settings.worker_drain_seconds)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        if unfinished:
            log.warning("%d jobs left in the queue for the next start", len(unfinished))


def build_worker(settings: Settings, redis: Redis, sandbox: ParserSandbox) -> Worker:
    prefix = settings.redis_prefix
    catalog = Catalog(redis, prefix)
    store = connect_chroma(settings)
    queue = IngestQueue(redis, prefix, settings.node_name)
    originals = Originals(settings.data_dir)
    name = f"{settings.node_name}/worker"
    pipeline = DocumentPipeline(
        catalog,
        store,
        build_embedder(settings),
        originals,
        sandbox,
        name,
    )
    indexer = Indexer(redis, catalog, store, LexicalIndex(settings.data_dir / "lexical"))
    return Worker(settings, queue, pipeline, build_reconciler(settings, redis), indexer, name)


def build_reconciler(settings: Settings, redis: Redis) -> Reconciler:
    return Reconciler(
        Catalog(redis, settings.redis_prefix),
        connect_chroma(settings),
        IngestQueue(redis, settings.redis_prefix, settings.node_name),
        Originals(settings.data_dir),
        settings.reconcile_grace_seconds,
        settings.node_lost_after_seconds,
    )


async def serve(settings: Settings) -> None:
    redis = connect_redis(settings)
    sandbox = ParserSandbox(limits_from(settings), settings.worker_concurrency)
    worker = build_worker(settings, redis, sandbox)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop)
    started = time.perf_counter()
    log.info(
        "worker starting",
        extra={"node": settings.node_name, "concurrency": settings.worker_concurrency},
    )
    try:
        await worker.run()
    finally:
        sandbox.close()
        await redis.aclose()
        log.info("worker stopped after %.0fs", time.perf_counter() - started)


def main() -> None:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, settings.worker_metrics_address)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
