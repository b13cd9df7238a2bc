"""The host's on-disk lexical index: updated per document from the change feed, rebuilt from
ChromaDB when lost or when the feed no longer reaches back to where it stopped."""

from __future__ import annotations

import shutil
import time

import redis
from deployments import Deployment, make_collection, post, wait_settled
from ragstack.retrieval.lexical import LexicalIndex
from servers import Server, start_worker


def lexical_files(deployment: Deployment, collection: str, query: str) -> list[str]:
    with deployment.client() as client:
        body = {"collection": collection, "query": query, "mode": "lexical", "top_k": 20}
        response = client.post("/v1/query", json=body)
    assert response.status_code == 200, response.text
    return [hit["filename"] for hit in response.json()["results"]]


def indexed_chunks(deployment: Deployment) -> int:
    """Chunks in the index files on disk, read the way the API reads them."""
    return LexicalIndex(deployment.workdir / "data" / "lexical").count()


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_index_follows_uploads_replacements_and_deletes(deployment: Deployment):
    make_collection(deployment, "follow")
    first = post(deployment, "follow", "policy.txt", b"Invoices are archived for 7 years.", wait=60)
    assert first.status_code == 201
    # Read-your-writes: the ready document is found lexically right away.
    assert lexical_files(deployment, "follow", "invoices archived") == ["policy.txt"]
    wait_for(lambda: indexed_chunks(deployment) == 1)
    second = post(deployment, "follow", "policy.txt", b"Receipts are shredded yearly.", wait=60)
    assert second.status_code == 201
    assert lexical_files(deployment, "follow", "invoices archived") == []
    assert lexical_files(deployment, "follow", "receipts shredded") == ["policy.txt"]
    wait_for(lambda: indexed_chunks(deployment) == 1)  # the old version left the index
    with deployment.client() as client:
        deleted = client.delete(f"/v1/collections/follow/documents/{second.json()['id']}")
    assert deleted.status_code == 204
    wait_for(lambda: indexed_chunks(deployment) == 0)
    with deployment.client() as client:
        assert client.delete("/v1/collections/follow").status_code == 204


def test_index_is_rebuilt_from_chromadb_when_lost(deployment: Deployment):
    make_collection(deployment, "lost")
    for i in range(3):
        assert post(deployment, "lost", f"d{i}.txt", f"Tape {i} rotation".encode(), wait=60)
    deployment.worker.stop()
    shutil.rmtree(deployment.workdir / "data" / "lexical")
    queued = post(deployment, "lost", "d3.txt", b"Tape 3 rotation")
    assert queued.status_code == 202  # no worker: it waits in the queue
    deployment.worker = start_worker(deployment.workdir, deployment.env)
    with deployment.client() as client:
        wait_settled(client, "lost", expected=4)
    assert sorted(lexical_files(deployment, "lost", "tape rotation")) == [
        "d0.txt",
        "d1.txt",
        "d2.txt",
        "d3.txt",
    ]
    assert "lexical index rebuilt from ChromaDB: 3 chunks" in deployment.worker.log_path.read_text()


def test_index_is_rebuilt_when_the_feed_was_trimmed_past_it(
    deployment: Deployment, redis_server: Server
):
    make_collection(deployment, "trimmed")
    kept = post(deployment, "trimmed", "kept.txt", b"Badge readers are audited.", wait=60)
    gone = post(deployment, "trimmed", "gone.txt", b"Badge printers are leased.", wait=60)
    assert kept.status_code == gone.status_code == 201
    wait_for(lambda: indexed_chunks(deployment) == 2)
    deployment.worker.stop()
    with deployment.client() as client:
        assert client.delete(f"/v1/collections/trimmed/documents/{gone.json()['id']}").is_success
    # The delete's feed entry is lost before the indexer could read it.
    feed = f"{deployment.env['RAGSTACK_REDIS_PREFIX']}:changes"
    redis.Redis.from_url(redis_server.url).xtrim(feed, maxlen=0)
    deployment.worker = start_worker(deployment.workdir, deployment.env)
    # The worker logs the rebuild after committing it: the index may show 1 chunk before the log
    # line is written (seen at load 14), never after it with another count.
    rebuilt = "lexical index rebuilt from ChromaDB: 1 chunks"
    wait_for(lambda: rebuilt in deployment.worker.log_path.read_text())
    assert indexed_chunks(deployment) == 1
