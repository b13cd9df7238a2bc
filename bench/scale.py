"""Retrieval at scale: a collection grown to 100k chunks, queried at a fixed rate while
ingestion runs, side by side with the bare path (embed + one ChromaDB query).

    .venv/bin/python bench/scale.py --chunks 100000 --rate 5 --duration 60

It starts Redis, ChromaDB, the backend (``--workers``) and a ``ragstack-worker``, then:

1. bulk: grows collection ``bench`` to ``--checkpoint`` chunks, then to ``--chunks``, with
   generated runbooks through the service's own state machine and pipeline (admit, process,
   activate; the worker's indexer follows the change feed into the lexical index), run in this
   process with one difference: the bulk chunks get random unit vectors instead of model
   embeddings (embedding 100k chunks takes hours on 2 cores; ChromaDB's index cost depends on
   the number and size of vectors, not their meaning). Chunks uploaded during the measurement
   go through the API and the worker with the real model.
2. at each size: RSS of every backend worker process; queries at ``--rate``/s through the API
   (hybrid, distinct texts, no cache) alternating with the bare path at the same rate, while a
   background task uploads documents through the API continuously; P50/P95/P99/max of both, and
   the latency of the first query after each completed upload against the others.
3. the lexical index rebuilt from ChromaDB (worker restarted with its index removed): time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path, PurePosixPath

import httpx
import numpy as np
from loadgen import RateResult, document, percentiles, queries, summary

from bench import load_bare, load_ours

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import Server, start_stack

COLLECTION = "bench"


class RandomVectors:
    """Bulk-load stand-in for the embedding model (see the module docstring)."""

    model_id = "all-MiniLM-L6-v2-onnx-int8"  # the collection's model: queries use the real one
    dimension = 384

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        vectors = self._rng.standard_normal((len(texts), self.dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors.tolist()


async def bulk_load(env: dict[str, str], target_chunks: int, first_number: int) -> int:
    """Ingest generated documents through the pipeline until the collection holds
    ``target_chunks``; returns the next document number."""
    from ragstack.catalog import Catalog, Document, DocumentStatus, utcnow
    from ragstack.config import Settings
    from ragstack.ingest.originals import Originals
    from ragstack.ingest.pipeline import DocumentPipeline
    from ragstack.ingest.queue import IngestQueue
    from ragstack.ingest.safety import MARKDOWN
    from ragstack.ingest.sandbox import ParserSandbox, limits_from
    from ragstack.retrieval.vectorstore import VectorStore
    from redis.asyncio import Redis

    redis = Redis.from_url(env["RAGSTACK_REDIS_URL"], decode_responses=True)
    prefix = env["RAGSTACK_REDIS_PREFIX"]
    catalog = Catalog(redis, prefix)
    store = VectorStore(env["RAGSTACK_CHROMA_URL"], env["RAGSTACK_CHROMA_TOKEN"])
    originals = Originals(Path(env["RAGSTACK_DATA_DIR"]))
    # A queue no worker reads: the bench processes what it admits itself.
    queue = IngestQueue(redis, prefix, "bulk-loader")
    # The service's default parsing limits.
    sandbox = ParserSandbox(limits_from(Settings()), 8)
    pipeline = DocumentPipeline(
        catalog, store, RandomVectors(first_number), originals, sandbox, "bulk-loader"
    )
    rng = random.Random(first_number)
    number = first_number
    semaphore = asyncio.Semaphore(8)

    async def one(name: str, text: str) -> None:
        data = text.encode()
        document = Document(
            id=uuid.uuid4().hex,
            collection=COLLECTION,
            filename=name,
            title=PurePosixPath(name).stem,
            content_type=MARKDOWN.content_type,
            sha256=uuid.uuid4().hex,
            size_bytes=len(data),
            status=DocumentStatus.queued,
            created_at=utcnow(),
        )
        async with semaphore:
            path = originals.path(COLLECTION, document.id, MARKDOWN.suffix)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            admitted = await catalog.admit(document, queue.node, queue.stream, 10**9)
            assert admitted.outcome == "created", admitted
            await pipeline.process(COLLECTION, document.id)

    try:
        while (await catalog.get_collection(COLLECTION)).chunk_count < target_chunks:
            numbers = range(number, number + 200)
            number += len(numbers)
            batch = [document(rng, n) for n in numbers]
            await asyncio.gather(*(one(f"bulk-{name}", text) for name, text in batch))
        await redis.delete(queue.stream)
    finally:
        sandbox.close()
        await redis.aclose()
    return number


def wait_indexed(env: dict[str, str]) -> float:
    """Seconds until the host's lexical index has caught up with the collection's version."""
    import redis
    from ragstack.retrieval.lexical import LexicalIndex

    started = time.perf_counter()
    client = redis.Redis.from_url(env["RAGSTACK_REDIS_URL"], decode_responses=True)
    key = f"{env['RAGSTACK_REDIS_PREFIX']}:coll:{COLLECTION}"
    index = LexicalIndex(Path(env["RAGSTACK_DATA_DIR"]) / "lexical")
    while index.version(COLLECTION) < int(client.hget(key, "version") or 0):
        time.sleep(0.2)
    return time.perf_counter() - started


def backend_rss_mb(backend: Server) -> list[float]:
    """RSS of each uvicorn worker process (the children of the master)."""
    children = Path(f"/proc/{backend.process.pid}/task/{backend.process.pid}/children")
    pids = children.read_text().split() or [str(backend.process.pid)]
    sizes = []
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


async def keep_uploading(
    url: str, headers: dict[str, str], stop: asyncio.Event, uploaded_at: list[float]
) -> int:
    """Upload documents one after another through the API (real embeddings) until ``stop``;
    records when each became ready."""
    base = time.time_ns() // 1_000_000  # distinct documents in every run
    rng = random.Random(base)
    count = 0
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300) as client:
        while not stop.is_set():
            name, text = document(rng, base + count)
            r = await client.post(
                f"/v1/collections/{COLLECTION}/documents",
                files={"file": (f"live-{name}", text.encode(), "text/markdown")},
                params={"wait": 60},
            )
            assert r.status_code == 201, r.text
            uploaded_at.append(time.perf_counter())
            count += 1
    return count


def first_after_write(results: list[RateResult], writes: list[float]) -> str:
    """Latency of the first query due after each completed write, against the others."""
    firsts, others = [], []
    pending = sorted(writes)
    requests = sorted(
        (due, latency)
        for r in results
        for due, latency in zip(r.scheduled, r.latencies, strict=True)
    )
    for due, latency in requests:
        if pending and due >= pending[0]:
            while pending and due >= pending[0]:
                pending.pop(0)
            firsts.append(latency)
        else:
            others.append(latency)
    first, rest = percentiles(firsts), percentiles(others)
    return (
        f"first query after each of {len(firsts)} writes: P50 {first['p50'] * 1000:.0f} / "
        f"P95 {first['p95'] * 1000:.0f} ms; the other {len(others)}: "
        f"P50 {rest['p50'] * 1000:.0f} / P95 {rest['p95'] * 1000:.0f} ms"
    )


async def measure(args: argparse.Namespace, backend: Server, chroma: Server, key: str) -> None:
    headers = {"X-API-Key": key}
    print(f"  backend worker RSS: {[round(x) for x in backend_rss_mb(backend)]} MB")
    stop = asyncio.Event()
    writes: list[float] = []
    uploader = asyncio.create_task(keep_uploading(backend.url, headers, stop, writes))
    ours: list[RateResult] = []
    bare: list[RateResult] = []
    rounds = 3
    count = int(args.rate * args.duration / rounds)
    rng = random.Random(int(time.time()))
    await load_ours(backend.url, headers, queries(rng, 10), args.rate)  # warm-up
    for _ in range(rounds):
        ours.append(await load_ours(backend.url, headers, queries(rng, count), args.rate))
        bare.append(await load_bare(chroma.url, chroma.secret, queries(rng, count), args.rate, 1))
    stop.set()
    uploaded = await uploader
    o, b = summary(ours), summary(bare)
    print(f"  uploads during the run: {uploaded}")
    for label, s in (("ours (hybrid, API)", o), ("bare (embed + ChromaDB)", b)):
        print(
            f"  {label}: P50 {s['p50'] * 1000:.0f} / P95 {s['p95'] * 1000:.0f} / "
            f"P99 {s['p99'] * 1000:.0f} / max {s['max'] * 1000:.0f} ms, "
            f"{s['ok']}/{s['sent']} ok"
        )
    print(f"  P95 ratio ours/bare: {o['p95'] / b['p95']:.2f}")
    print(f"  {first_after_write(ours, writes)}")
    print(f"  backend worker RSS after: {[round(x) for x in backend_rss_mb(backend)]} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--checkpoint", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=5.0, help="queries per second")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ragstack-scale-"))
    stack = start_stack(
        work, {"RAGSTACK_LLM_PROVIDER": "none", "RAGSTACK_CACHE_TTL_SECONDS": "0"}, args.workers
    )
    backend, chroma, key, env = stack.backend, stack.chroma, stack.key, stack.env
    try:
        httpx.post(
            f"{backend.url}/v1/collections",
            json={"name": COLLECTION},
            headers={"X-API-Key": key},
        ).raise_for_status()
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}")
        number = 0
        for size in (args.checkpoint, args.chunks):
            started = time.perf_counter()
            number = asyncio.run(bulk_load(env, size, number))
            loaded = time.perf_counter() - started
            caught_up = wait_indexed(env)
            info = httpx.get(
                f"{backend.url}/v1/collections/{COLLECTION}", headers={"X-API-Key": key}
            ).json()
            print(
                f"\n{info['chunk_count']} chunks ({info['document_count']} documents), "
                f"bulk load {loaded:.0f} s, lexical index caught up {caught_up:.0f} s later, "
                f"load average {os.getloadavg()}"
            )
            asyncio.run(measure(args, backend, chroma, key))
        stack.worker.stop()
        shutil.rmtree(work / "backend" / "data" / "lexical")
        started = time.perf_counter()
        log = stack.restart_worker().log_path
        while "lexical index rebuilt" not in log.read_text():
            time.sleep(0.5)
        rebuilt = [line for line in log.read_text().splitlines() if "rebuilt" in line][-1]
        print(f"\nlexical index rebuild: {rebuilt[-80:]} (worker start to done "
              f"{time.perf_counter() - started:.0f} s)")  # fmt: skip
        print(f"load average after: {os.getloadavg()}")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
