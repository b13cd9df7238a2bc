"""Durable ingestion against real processes: concurrency, deletes racing the worker, kill -9 of
the worker (of the API: test_ingest_api_kill.py), a Redis restart, backpressure. After each
ordeal every document is ready or failed and the stores agree with the catalog
(docs/architecture/ingestion.md).

Rounds of the kill tests: RAGSTACK_CHAOS_ROUNDS (default 20).
"""

from __future__ import annotations

import random
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import chromadb
import redis
from chromadb.config import Settings as ChromaSettings
from deployments import CHAOS_ROUNDS as ROUNDS
from deployments import (
    all_documents,
    assert_consistent,
    chroma_chunks,
    deploy,
    make_collection,
    note,
    post,
    store_name,
    wait_settled,
)
from servers import start_redis, start_worker


def test_fifty_concurrent_identical_uploads_make_one_document(
    deployment, chroma_server, redis_server
):
    make_collection(deployment, "dedup")
    data = b"The same file, uploaded fifty times at once.\n\n" * 40
    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda _: post(deployment, "dedup", "same.txt", data), range(50)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 49 + [202], codes
    ids = {(r.json().get("document") or r.json())["id"] for r in responses}
    assert len(ids) == 1, ids
    documents = assert_consistent(deployment, chroma_server, redis_server, "dedup")
    assert [d["status"] for d in documents] == ["ready"]


def test_delete_while_processing_stays_deleted(deployment, chroma_server, redis_server):
    make_collection(deployment, "racing")
    # Long enough that the worker is still embedding it when the delete arrives.
    body = "\n\n".join(f"Paragraph {i} on maintenance windows and restores." for i in range(6000))
    accepted = post(deployment, "racing", "big.txt", body.encode())
    assert accepted.status_code == 202, accepted.text
    document_id = accepted.json()["job_id"]
    with deployment.client() as client:
        deadline = time.monotonic() + 60
        while client.get(f"/v1/jobs/{document_id}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # some batches written
        assert client.delete(f"/v1/collections/racing/documents/{document_id}").status_code == 204
        # The worker finishes its job, finds the document gone and removes what it wrote.
        log = deployment.worker.log_path
        deadline = time.monotonic() + 120
        while f"document {document_id}: gone" not in log.read_text():
            assert time.monotonic() < deadline, deployment.worker.log_tail()
            time.sleep(0.2)
        assert client.get(f"/v1/collections/racing/documents/{document_id}").status_code == 404
        assert client.get(f"/v1/jobs/{document_id}").status_code == 404
    assert assert_consistent(deployment, chroma_server, redis_server, "racing") == []
    store = store_name(redis_server, deployment, "racing")
    assert chroma_chunks(chroma_server, store) == {}


def test_worker_killed_at_random_points_loses_nothing(deployment, chroma_server, redis_server):
    rng = random.Random(13)
    interrupted = 0
    for round_number in range(ROUNDS):
        collection = f"kill-worker-{round_number}"
        make_collection(deployment, collection)
        with ThreadPoolExecutor(max_workers=8) as pool:
            uploads = pool.map(
                lambda i, c=collection: post(deployment, c, f"n{i}.txt", note(i, c)), range(100)
            )
            time.sleep(rng.uniform(0.0, 3.0))
            deployment.kill_worker()
            codes = [r.status_code for r in uploads]
        assert codes == [202] * 100, codes
        with deployment.client() as client:
            ready_at_kill = sum(d["status"] == "ready" for d in all_documents(client, collection))
        interrupted += ready_at_kill < 100
        deployment.restart_worker()
        with deployment.client() as client:
            wait_settled(client, collection, expected=100)
        report = deployment.reconcile()
        documents = assert_consistent(deployment, chroma_server, redis_server, collection)
        assert all(d["status"] == "ready" for d in documents), report
        print(
            f"round {round_number}: killed with {ready_at_kill} of 100 ready; all ready after; "
            f"reconciler found {report['found']}"
        )
    assert interrupted >= ROUNDS // 2, "the kills should land while documents are processed"


def test_redis_restart_mid_ingestion(servers_dir, chroma_server):
    durable = start_redis(servers_dir / f"redis-durable-{secrets.token_hex(3)}", durable=True)
    deployment = deploy(servers_dir, durable, chroma_server)
    try:
        make_collection(deployment, "redis-restart")
        with ThreadPoolExecutor(max_workers=8) as pool:
            uploads = list(
                pool.map(
                    lambda i: post(deployment, "redis-restart", f"n{i}.txt", note(i, "r")),
                    range(100),
                )
            )
        assert [u.status_code for u in uploads] == [202] * 100
        durable.stop()  # SIGTERM: redis writes its append-only file and exits
        time.sleep(2)
        durable = start_redis(
            Path(durable.log_path.parent), durable.secret, durable.port, durable=True
        )
        with deployment.client() as client:
            wait_settled(client, "redis-restart", expected=100)
        deployment.reconcile()
        documents = assert_consistent(deployment, chroma_server, durable, "redis-restart")
        assert all(d["status"] == "ready" for d in documents)
    finally:
        deployment.stop()
        durable.stop()


def test_full_queue_answers_503_with_retry_after(servers_dir, redis_server, chroma_server):
    deployment = deploy(
        servers_dir,
        redis_server,
        chroma_server,
        RAGSTACK_INGEST_QUEUE_LIMIT="3",
        RAGSTACK_INGEST_RETRY_AFTER_SECONDS="7",
    )
    try:
        deployment.worker.stop()  # nothing drains the queue
        make_collection(deployment, "full")
        codes = [post(deployment, "full", f"q{i}.txt", note(i, "q")).status_code for i in range(3)]
        assert codes == [202, 202, 202]
        refused = post(deployment, "full", "q3.txt", note(3, "q"))
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "7"
        assert "queue" in refused.json()["detail"]
        with deployment.client() as client:
            metrics = client.get("/metrics").text
        node = deployment.env["RAGSTACK_NODE_NAME"]
        assert f'ragstack_ingest_queue_depth{{node="{node}"}} 3.0' in metrics
        # The refused upload left nothing behind; the worker drains the queue when it is back.
        deployment.worker = start_worker(deployment.workdir, deployment.env)
        documents = assert_consistent(deployment, chroma_server, redis_server, "full")
        assert sorted(d["filename"] for d in documents) == ["q0.txt", "q1.txt", "q2.txt"]
    finally:
        deployment.stop()


def test_reconciler_removes_orphans_and_repairs_counters(deployment, chroma_server, redis_server):
    make_collection(deployment, "orphans")
    kept = post(deployment, "orphans", "kept.txt", note(1, "o"), wait=60)
    assert kept.status_code == 201, kept.text
    store = store_name(redis_server, deployment, "orphans")
    # What a crash can leave: chunks of a document the catalog never heard of, a stray original,
    # a partial upload, and drifted counters.
    client = chromadb.HttpClient(
        host="127.0.0.1",
        port=chroma_server.port,
        headers={"Authorization": f"Bearer {chroma_server.secret}"},
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    client.get_collection(store).upsert(
        ids=["ghost:00000:0", "ghost:00001:0"],
        embeddings=[[0.1] * 384, [0.2] * 384],
        documents=["orphan one", "orphan two"],
        metadatas=[{"document_id": "ghost"}, {"document_id": "ghost"}],
    )
    data = deployment.workdir / "data"
    (data / "originals" / "orphans" / "stray").mkdir(parents=True)
    (data / "originals" / "orphans" / "stray" / "original.txt").write_text("stray")
    (data / "incoming" / "dead.part").write_text("half an upload")
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    r.hincrby(f"{deployment.env['RAGSTACK_REDIS_PREFIX']}:coll:orphans", "chunk_count", 5)
    report = deployment.reconcile()
    assert report["found"]["orphan_chunks"] == 2
    assert report["found"]["orphan_files"] == 2
    assert report["found"]["count_drift"] == 1
    assert_consistent(deployment, chroma_server, redis_server, "orphans")
    # A second run finds nothing left to fix.
    assert not any(deployment.reconcile()["found"].values())
