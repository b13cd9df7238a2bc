"""Ingestion and query-load benchmark of the backend (prints figures; not a test).

    .venv/bin/python bench/bench.py [--docs 200] [--rate 40] [--duration 60] [--workers 2]

It starts its own Redis, ChromaDB (token auth) and backend (``uvicorn --workers N``, no LLM) with
the test-suite starters of tests/servers.py, then:

1. ingest: uploads a generated corpus (>= 1,000 chunks) and reports chunks/s;
2. query load: sends POST /v1/query at a fixed rate (open loop: requests leave on schedule
   whether or not earlier ones finished, and latency counts from the scheduled time, so queueing
   is not hidden) with a distinct query each time (no cache hits), reporting P50/P95/P99 and
   errors;
3. bare client: the same queries at the same rate through the minimum a client needs without us
   (embed the query with the same model + one ChromaDB query with chromadb-client), and prints
   our P95 / bare P95. Backend and bare client alternate in rounds (``--rounds``) so both see the
   same background load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
from collections import deque
from pathlib import Path

import httpx
from loadgen import RateResult, document, fixed_rate, ingest, percentiles, queries, summary

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from servers import start_stack  # noqa: E402


class RawHttpClient:
    """Keep-alive HTTP/1.1 POSTs over asyncio streams: the load generator shares the 2 cores with
    the service, so it must cost far less CPU per request than httpx (~3 ms here)."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        host_port = url.removeprefix("http://")
        self._host, port = host_port.split(":")
        self._port = int(port)
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        # FIFO: rotating over the connections spreads requests over all server workers (a stack
        # would keep reusing the last connection, hence one worker, at low concurrency).
        self._idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()

    async def connect(self, count: int) -> None:
        for _ in range(count):
            self._idle.append(await asyncio.open_connection(self._host, self._port))

    async def post(self, path: str, body: dict) -> tuple[int, bytes]:
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\n{self._headers}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        request = head.encode() + payload
        if self._idle:
            reader, writer = self._idle.popleft()
            try:
                return await self._exchange(reader, writer, request)
            except (ConnectionError, IndexError, asyncio.IncompleteReadError):
                writer.close()  # the server closed this idle connection: use a new one
        reader, writer = await asyncio.open_connection(self._host, self._port)
        return await self._exchange(reader, writer, request)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> tuple[int, bytes]:
        writer.write(request)
        status_line = await reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        data = await reader.readexactly(length)
        self._idle.append((reader, writer))
        return status, data

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()


async def load_ours(url: str, headers: dict, items: list[str], rate: float) -> RateResult:
    client = RawHttpClient(url, headers)
    await client.connect(8)

    async def send(query: str) -> str | None:
        body = {"collection": "bench", "query": query, "top_k": 5}
        status, data = await client.post("/v1/query", body)
        return None if status == 200 and data.count(b'"chunk_id"') == 5 else f"HTTP {status}"

    try:
        return await fixed_rate(send, items, rate)
    finally:
        client.close()


async def load_bare(
    chroma_url: str, token: str, items: list[str], rate: float, threads: int
) -> RateResult:
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from ragstack.retrieval.embedding import OnnxMiniLmEmbedder

    embedder = OnnxMiniLmEmbedder(threads=threads)
    host, port = chroma_url.removeprefix("http://").split(":")
    client = await chromadb.AsyncHttpClient(
        host=host,
        port=int(port),
        headers={"Authorization": f"Bearer {token}"},
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    # The backend names the Chroma collection; find it (the only one).
    (collection,) = await client.list_collections()

    async def send(query: str) -> str | None:
        (vector,) = await embedder.embed([query])
        result = await collection.query(
            query_embeddings=[vector], n_results=5, include=["documents", "metadatas", "distances"]
        )
        return None if len(result["ids"][0]) == 5 else "unexpected response"

    return await fixed_rate(send, items, rate)


def show(title: str, result: dict) -> None:
    print(f"\n{title}")
    for key, value in result.items():
        if isinstance(value, float) and key in {"mean", "p50", "p95", "p99", "max"}:
            print(f"  {key:>16}: {value * 1000:8.1f} ms")
        elif isinstance(value, float):
            print(f"  {key:>16}: {value:10.1f}")
        else:
            print(f"  {key:>16}: {value}")


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(20261125)
    docs = [document(rng, i) for i in range(args.docs)]
    env = {"RAGSTACK_LLM_PROVIDER": "none", "RAGSTACK_EMBEDDING_THREADS": str(args.threads)}
    stack = start_stack(Path(tempfile.mkdtemp(prefix="ragstack-bench-")), env, args.workers)
    backend, chroma = stack.backend, stack.chroma
    headers = {"X-API-Key": stack.key}
    try:
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}")
        print(f"backend: uvicorn --workers {args.workers}, embedding threads {args.threads}")
        async with httpx.AsyncClient(base_url=backend.url, headers=headers, timeout=300) as client:
            ingested = await ingest(client, "bench", docs, args.parallel_uploads)
        ingested["chunks_per_s"] = ingested["chunks"] / ingested["seconds"]
        show("ingest", ingested)
        threads = args.bare_threads
        # Warm-up: the models run their first batches.
        await load_ours(backend.url, headers, queries(random.Random(1), 40), 10)
        await load_bare(chroma.url, chroma.secret, queries(random.Random(1), 40), 10, threads)
        # Alternate short rounds so that both sides see the same background load.
        count = int(args.rate * args.duration / args.rounds)
        rounds: dict[str, list[RateResult]] = {"ours": [], "bare": []}
        for number in range(args.rounds):
            items = queries(random.Random(100 + number), count)
            rounds["ours"].append(await load_ours(backend.url, headers, items, args.rate))
            rounds["bare"].append(
                await load_bare(chroma.url, chroma.secret, items, args.rate, threads)
            )
        for number, (mine, theirs) in enumerate(zip(rounds["ours"], rounds["bare"], strict=True)):
            p95_ours = percentiles(mine.latencies)["p95"] * 1000
            p95_bare = percentiles(theirs.latencies)["p95"] * 1000
            print(f"round {number + 1}: P95 ours {p95_ours:.1f} ms, bare {p95_bare:.1f} ms")
        ours, bare = summary(rounds["ours"]), summary(rounds["bare"])
        show(f"query load through the backend: {args.rate}/s for {args.duration}s", ours)
        show("bare client (embed + one ChromaDB query), same queries and rate", bare)
        print(f"\nP95 ratio ours/bare: {ours['p95'] / bare['p95']:.2f}")
        print(f"load average after: {os.getloadavg()}")
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--rate", type=float, default=40.0, help="queries per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of query load")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="ONNX threads per worker")
    parser.add_argument(
        "--bare-threads",
        type=int,
        default=1,
        help="ONNX threads of the bare client (1 was fastest)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating ours/bare rounds")
    parser.add_argument("--parallel-uploads", type=int, default=4)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
