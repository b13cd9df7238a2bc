"""A backend and its worker on their own key prefix, restartable and killable, and checks that the
stores agree with the catalog: the durability and lexical-index tests share them."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import chromadb
import httpx
import redis
from chromadb.config import Settings as ChromaSettings
from servers import (
    VENV_BIN,
    Server,
    api_key_entry,
    backend_env,
    start_backend,
    start_worker,
)

SETTLE_SECONDS = 120
# Short leases and backoff so that a killed worker's jobs move on quickly in the tests.
CHAOS_ENV = {
    "RAGSTACK_LLM_PROVIDER": "none",
    "RAGSTACK_WORKER_LEASE_SECONDS": "3",
    "RAGSTACK_WORKER_RETRY_BACKOFF_SECONDS": "0.2",
    "RAGSTACK_WORKER_MAX_ATTEMPTS": "10",
    "RAGSTACK_WORKER_CONCURRENCY": "4",
    "RAGSTACK_RECONCILE_INTERVAL_SECONDS": "3600",
}


@dataclass
class Deployment:
    """One backend and its worker on their own Redis key prefix, restartable."""

    workdir: Path
    env: dict[str, str]
    keys: dict[str, str]
    api: Server
    worker: Server

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.keys["admin"]}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api.url, headers=self.headers, timeout=60)

    def restart_worker(self) -> None:
        self.worker.stop()
        self.worker = start_worker(self.workdir, self.env)

    def kill_worker(self) -> None:
        self.worker.process.kill()
        self.worker.process.wait(timeout=10)

    def kill_api(self) -> None:
        self.api.process.kill()
        self.api.process.wait(timeout=10)

    def start_api(self) -> None:
        self.api = start_backend(self.workdir, self.env)

    def stop(self) -> None:
        self.worker.stop()
        self.api.stop()

    def reconcile(self) -> dict:
        """``ragstack-admin reconcile`` on this host, with no grace period: nothing is in flight."""
        result = subprocess.run(
            [str(VENV_BIN / "ragstack-admin"), "reconcile"],
            env={**os.environ, **self.env, "RAGSTACK_RECONCILE_GRACE_SECONDS": "0"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


# Rounds of the kill tests (test_ingest_durability.py, test_ingest_api_kill.py).
CHAOS_ROUNDS = int(os.environ.get("RAGSTACK_CHAOS_ROUNDS", "20"))


def note(i: int, salt: str) -> bytes:
    """A small distinct document: number i of a round named salt."""
    return f"Runbook {i} ({salt}): rotate the {i}th key, then restart the {i}th service.".encode()


def deploy(workdir: Path, redis_server: Server, chroma_server: Server, **env: str) -> Deployment:
    keys = {"admin": f"rsk_test_chaos_{secrets.token_hex(8)}"}
    entries = [api_key_entry("chaos", keys["admin"], ["admin"])]
    workdir = workdir / f"chaos-{secrets.token_hex(4)}"
    variables = backend_env(workdir, redis_server, chroma_server, entries, {**CHAOS_ENV, **env})
    api = start_backend(workdir, variables)
    worker = start_worker(workdir, variables)
    return Deployment(workdir, variables, keys, api, worker)


def chroma_chunks(chroma_server: Server, store_name: str) -> dict[str, int]:
    client = chromadb.HttpClient(
        host="127.0.0.1",
        port=chroma_server.port,
        headers={"Authorization": f"Bearer {chroma_server.secret}"},
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    collection = client.get_collection(store_name)
    counts: dict[str, int] = {}
    got = collection.get(include=["metadatas"])
    for metadata in got["metadatas"] or []:
        document_id = str((metadata or {})["document_id"])
        counts[document_id] = counts.get(document_id, 0) + 1
    return counts


def store_name(redis_server: Server, deployment: Deployment, collection: str) -> str:
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    return r.hget(f"{deployment.env['RAGSTACK_REDIS_PREFIX']}:coll:{collection}", "store_name")


def all_documents(client: httpx.Client, collection: str) -> list[dict]:
    documents: list[dict] = []
    while True:
        page = client.get(
            f"/v1/collections/{collection}/documents",
            params={"limit": 100, "offset": len(documents)},
        ).json()
        documents += page["items"]
        if len(documents) >= page["total"] or not page["items"]:
            return documents


def wait_settled(client: httpx.Client, collection: str, expected: int | None = None) -> list[dict]:
    """Until every document is ready or failed (and, if given, there are ``expected``)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        documents = all_documents(client, collection)
        unsettled = [d for d in documents if d["status"] not in ("ready", "failed")]
        if not unsettled and (expected is None or len(documents) == expected):
            return documents
        assert time.monotonic() < deadline, f"not settled: {unsettled[:3]} of {len(documents)}"
        time.sleep(0.25)


def assert_consistent(
    deployment: Deployment, chroma_server: Server, redis_server: Server, collection: str
) -> list[dict]:
    """Every document ready or failed; chunks only for ready documents, as many as the catalog
    says; collection counters equal to what ChromaDB holds; originals only of ready documents."""
    with deployment.client() as client:
        documents = wait_settled(client, collection)
        info = client.get(f"/v1/collections/{collection}").json()
    ready = {d["id"]: d["chunk_count"] for d in documents if d["status"] == "ready"}
    stored = chroma_chunks(chroma_server, store_name(redis_server, deployment, collection))
    assert stored == ready, "ChromaDB holds chunks of documents that are not ready"
    assert info["document_count"] == len(ready)
    assert info["chunk_count"] == sum(ready.values()) == sum(stored.values())
    originals = deployment.workdir / "data" / "originals" / collection
    on_disk = {p.name for p in originals.iterdir()} if originals.is_dir() else set()
    assert on_disk == set(ready), "originals of documents that are not ready"
    assert not any((deployment.workdir / "data" / "incoming").glob("*.part")), "partial uploads"
    return documents


def make_collection(deployment: Deployment, name: str) -> None:
    with deployment.client() as client:
        assert client.post("/v1/collections", json={"name": name}).status_code == 201


def post(deployment: Deployment, collection: str, filename: str, data: bytes, **params: float):
    with deployment.client() as client:
        return client.post(
            f"/v1/collections/{collection}/documents",
            files={"file": (filename, data, "text/plain")},
            params=params,
        )
