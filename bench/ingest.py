"""Ingestion throughput of the whole pipeline against the bare embedding model, in one run.

Starts its own Redis, ChromaDB (token auth), the backend (uvicorn) and one ``ragstack-worker``,
generates a corpus of Markdown runbooks, then measures on the same text:

- bare: the chunks the pipeline would make, embedded by the same ONNX model with the same
  threads and batch size in this process (nothing else: no parsing, no I/O, no ChromaDB);
- pipeline: every document uploaded at once through the API (202), until the last is ready:
  streaming to disk, checks, admission, queue, parsing, chunking, embedding, ChromaDB upserts,
  activation.

    .venv/bin/python bench/ingest.py --docs 300 --threads 2 --concurrency 2

The bare phase runs before and after the pipeline and their mean is used, so both see the
machine's load alike. Prints chunks/s of each and the ratio; figures go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx
from loadgen import document

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import start_stack


def bare_chunks_per_second(texts: list[str], threads: int, batch: int) -> tuple[int, float]:
    from ragstack.ingest.chunking import chunk_sections
    from ragstack.ingest.parsers import split_markdown
    from ragstack.ingest.pipeline import EMBED_BATCH
    from ragstack.retrieval.embedding import OnnxMiniLmEmbedder

    embedder = OnnxMiniLmEmbedder(threads=threads, batch_size=batch)
    inputs = []
    for text in texts:
        for chunk in chunk_sections(split_markdown(text).sections, 800, 120):
            inputs.append(f"{chunk.heading}\n{chunk.text}" if chunk.heading else chunk.text)
    embedder.embed_sync(inputs[:64])  # warm-up
    started = time.perf_counter()
    for start in range(0, len(inputs), EMBED_BATCH):  # the pipeline's per-call batches
        embedder.embed_sync(inputs[start : start + EMBED_BATCH])
    return len(inputs), len(inputs) / (time.perf_counter() - started)


async def pipeline_chunks_per_second(
    url: str, headers: dict[str, str], docs: list[tuple[str, str]]
) -> tuple[int, float]:
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300) as client:
        assert (await client.post("/v1/collections", json={"name": "bench"})).status_code == 201
        semaphore = asyncio.Semaphore(16)

        async def upload(name: str, text: str) -> None:
            async with semaphore:
                r = await client.post(
                    "/v1/collections/bench/documents",
                    files={"file": (name, text.encode(), "text/markdown")},
                )
                assert r.status_code == 202, r.text

        started = time.perf_counter()
        await asyncio.gather(*(upload(n, t) for n, t in docs))
        while True:
            info = (await client.get("/v1/collections/bench")).json()
            if info["document_count"] == len(docs):
                break
            await asyncio.sleep(0.1)
        elapsed = time.perf_counter() - started
        listed = (await client.get("/v1/collections/bench/documents?limit=100")).json()
        assert all(d["status"] == "ready" for d in listed["items"]), listed
        return info["chunk_count"], info["chunk_count"] / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2, help="ONNX threads (both sides)")
    parser.add_argument("--batch", type=int, default=32, help="ONNX batch size (both sides)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker concurrency")
    args = parser.parse_args()

    rng = random.Random(20261204)
    docs = [document(rng, i) for i in range(args.docs)]
    work = Path(tempfile.mkdtemp(prefix="ragstack-bench-ingest-"))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}")
    _, bare_before = bare_chunks_per_second([t for _, t in docs], args.threads, args.batch)
    stack = start_stack(
        work,
        {
            "RAGSTACK_LLM_PROVIDER": "none",
            "RAGSTACK_EMBEDDING_THREADS": str(args.threads),
            "RAGSTACK_EMBEDDING_BATCH_SIZE": str(args.batch),
            "RAGSTACK_WORKER_CONCURRENCY": str(args.concurrency),
        },
    )
    try:
        chunks, pipeline = asyncio.run(
            pipeline_chunks_per_second(stack.backend.url, {"X-API-Key": stack.key}, docs)
        )
    finally:
        stack.stop()
    bare_chunks, bare_after = bare_chunks_per_second([t for _, t in docs], args.threads, args.batch)
    assert bare_chunks == chunks, (bare_chunks, chunks)
    bare = (bare_before + bare_after) / 2
    print(f"corpus: {len(docs)} documents, {chunks} chunks")
    print(f"bare embedder: {bare_before:.1f} before, {bare_after:.1f} after -> {bare:.1f} chunks/s")
    print(f"pipeline (upload -> ready): {pipeline:.1f} chunks/s")
    print(f"ratio pipeline/bare: {pipeline / bare:.2f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
