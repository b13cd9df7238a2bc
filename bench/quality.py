"""Retrieval quality on any BEIR-format dataset, through the API, for every mode.

    .venv/bin/python bench/quality.py ../shared/datasets/scifact-dev
    .venv/bin/python bench/quality.py DATASET --url https://rag.example.com --api-key KEY

Without ``--url`` it starts its own Redis, ChromaDB, backend and worker (the service's defaults,
or ``--env KEY=VALUE`` settings). It uploads every corpus entry as a text file named after its id
(title, blank line, text), waits until all are ready, then asks every query in each mode
(``dense``, ``lexical``, ``hybrid``; ``top_k`` 100, ``group_by_document``: documents, as the
qrels judge them) and scores the runs with ranx: nDCG@10, recall@50, recall@100, MRR@10, with a
paired two-sided t-test between modes (p < 0.05 marked).

``--sweep`` also asks the chunk-level dense and lexical candidates once and fuses them here with
the service's own fusion function for a grid of settings (method, dense weight, depth), so fusion
settings can be compared without restarting anything; the service's hybrid run stays the
reference for what the defaults give.

The dataset is read where it lies; nothing of it is written into the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
from ranx import Qrels, Run, compare
from ranx import evaluate as evaluate_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
METRICS = ["ndcg@10", "recall@50", "recall@100", "mrr@10"]
MODES = ["dense", "lexical", "hybrid"]
COLLECTION = "quality"


def load_dataset(directory: Path, split: str) -> tuple[dict, dict, dict]:
    corpus = {}
    with (directory / "corpus.jsonl").open() as lines:
        for line in lines:
            row = json.loads(line)
            corpus[row["_id"]] = (row.get("title") or "", row["text"])
    queries = {}
    with (directory / "queries.jsonl").open() as lines:
        for line in lines:
            row = json.loads(line)
            queries[row["_id"]] = row["text"]
    qrels: dict[str, dict[str, int]] = {}
    with (directory / "qrels" / f"{split}.tsv").open() as table:
        for row in csv.DictReader(table, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return corpus, {q: t for q, t in queries.items() if q in qrels}, qrels


async def ingest(client: httpx.AsyncClient, corpus: dict[str, tuple[str, str]]) -> float:
    response = await client.post("/v1/collections", json={"name": COLLECTION})
    assert response.status_code in (201, 409), response.text
    semaphore = asyncio.Semaphore(16)
    started = time.perf_counter()

    async def upload(doc_id: str, title: str, text: str) -> None:
        body = f"{title}\n\n{text}" if title else text
        async with semaphore:
            while True:
                r = await client.post(
                    f"/v1/collections/{COLLECTION}/documents",
                    files={"file": (f"{doc_id}.txt", body.encode(), "text/plain")},
                )
                if r.status_code not in (429, 503):
                    break
                await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
            assert r.status_code in (200, 202), r.text

    await asyncio.gather(*(upload(i, t, x) for i, (t, x) in corpus.items()))
    distinct = len({x for _, x in corpus.values()})
    while (await client.get(f"/v1/collections/{COLLECTION}")).json()["document_count"] < distinct:
        await asyncio.sleep(0.5)
    return time.perf_counter() - started


async def ask(
    client: httpx.AsyncClient, queries: dict[str, str], mode: str, grouped: bool
) -> dict[str, list[dict]]:
    semaphore = asyncio.Semaphore(8)
    results: dict[str, list[dict]] = {}

    async def one(qid: str, text: str) -> None:
        body = {
            "collection": COLLECTION,
            "query": text,
            "top_k": 100,
            "mode": mode,
            "group_by_document": grouped,
        }
        async with semaphore:
            response = await client.post("/v1/query", json=body)
        assert response.status_code == 200, response.text
        results[qid] = response.json()["results"]

    await asyncio.gather(*(one(q, t) for q, t in queries.items()))
    return results


def as_run(results: dict[str, list[dict]], name: str) -> Run:
    """Documents (the file name is the corpus id), best chunk first; scores by rank."""
    run: dict[str, dict[str, float]] = {}
    for qid, hits in results.items():
        ranked: dict[str, float] = {}
        for hit in hits:
            doc_id = hit["filename"].removesuffix(".txt")
            ranked.setdefault(doc_id, 1.0 / (len(ranked) + 1))
        run[qid] = ranked or {"-": 0.0}
    return Run(run, name=name)


def sweep(qrels: Qrels, dense: dict, lexical: dict, reference: list[Run]) -> None:
    from ragstack.retrieval.fusion import Candidate, FusionMethod, fuse

    def candidates(hits: list[dict], depth: int) -> list[Candidate]:
        return [
            Candidate(h["chunk_id"], h["score"], "", {"filename": h["filename"]})
            for h in hits[:depth]
        ]

    scored = []
    for depth in (30, 100):
        for method in FusionMethod:
            for weight in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
                fused_results = {}
                for qid in dense:
                    fused = fuse(
                        candidates(dense[qid], depth),
                        candidates(lexical[qid], depth),
                        method,
                        weight,
                        60,
                    )
                    fused_results[qid] = [{"filename": c.metadata["filename"]} for c, _ in fused]
                run = as_run(fused_results, f"{method.value} w={weight} depth={depth}")
                metrics = evaluate_run(qrels, run, ["ndcg@10", "recall@100"])
                scored.append((metrics["ndcg@10"], metrics["recall@100"], run))
    scored.sort(key=lambda row: -row[0])
    print("fusion settings by nDCG@10 (chunk candidates fused here, grouped by document):")
    for ndcg, recall, run in scored:
        print(f"  {run.name:28} nDCG@10 {ndcg:.3f}  recall@100 {recall:.3f}")
    best = scored[0][2]
    print(compare(qrels, [*reference, best], METRICS, max_p=0.05, stat_test="student"))


async def evaluate(url: str, key: str, args: argparse.Namespace) -> None:
    corpus, queries, qrels_dict = load_dataset(Path(args.dataset), args.split)
    if args.limit_queries:
        queries = dict(list(queries.items())[: args.limit_queries])
        qrels_dict = {q: qrels_dict[q] for q in queries}
    print(f"dataset: {args.dataset}: {len(corpus)} documents, {len(queries)} queries")
    verify = not args.insecure
    async with httpx.AsyncClient(
        base_url=url, headers={"X-API-Key": key}, timeout=300, verify=verify
    ) as client:
        if not args.skip_ingest:
            seconds = await ingest(client, corpus)
            info = (await client.get(f"/v1/collections/{COLLECTION}")).json()
            print(f"ingested {info['document_count']} documents, {info['chunk_count']} chunks "
                  f"in {seconds:.0f} s")  # fmt: skip
        results = {mode: await ask(client, queries, mode, grouped=True) for mode in MODES}
        qrels = Qrels(qrels_dict)
        runs = [as_run(results[mode], mode) for mode in MODES]
        report = compare(qrels, runs, METRICS, max_p=0.05, stat_test="student")
        print(report)
        if args.sweep:
            dense = await ask(client, queries, "dense", grouped=False)
            lexical = await ask(client, queries, "lexical", grouped=False)
            sweep(qrels, dense, lexical, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", help="a BEIR-format directory")
    parser.add_argument("--split", default="dev", help="qrels/SPLIT.tsv")
    parser.add_argument("--url", help="a running deployment (else servers are started here)")
    parser.add_argument("--api-key", default=os.environ.get("RAGSTACK_API_KEY", ""))
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS")
    parser.add_argument("--skip-ingest", action="store_true", help="the collection is there")
    parser.add_argument("--limit-queries", type=int, default=0)
    parser.add_argument("--sweep", action="store_true", help="compare fusion settings too")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the backend")
    args = parser.parse_args()
    if args.url:
        asyncio.run(evaluate(args.url, args.api_key, args))
        return
    from servers import start_stack

    overrides = dict(item.split("=", 1) for item in args.env)
    stack = start_stack(
        Path(tempfile.mkdtemp(prefix="ragstack-quality-")),
        {"RAGSTACK_LLM_PROVIDER": "none", "RAGSTACK_CACHE_TTL_SECONDS": "0", **overrides},
        workers=2,
    )
    try:
        asyncio.run(evaluate(stack.backend.url, stack.key, args))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
