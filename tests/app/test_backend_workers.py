"""Several worker processes behave as one service: shared index, caches, limits and metrics."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from backend_helpers import upload


@pytest.fixture(scope="module")
def two_workers(backend_factory, servers_dir):
    multiproc = servers_dir / "prometheus-multiproc"
    multiproc.mkdir(exist_ok=True)
    return backend_factory(env={"PROMETHEUS_MULTIPROC_DIR": str(multiproc)}, workers=2)


def fresh_get(backend, path: str, **kwargs) -> httpx.Response:
    # A new connection per request, so the kernel spreads them over the workers.
    with httpx.Client(base_url=backend.url, headers=backend.headers(), timeout=30) as client:
        return client.get(path, **kwargs)


def fresh_post(backend, path: str, body: dict) -> httpx.Response:
    with httpx.Client(base_url=backend.url, headers=backend.headers(), timeout=30) as client:
        return client.post(path, json=body)


def test_every_worker_sees_every_change(two_workers):
    backend = two_workers
    with backend.client() as client:
        client.post("/v1/collections", json={"name": "multi"})
        upload(client, "multi", "first.txt", b"Owls hunt at night and sleep during the day.")
    body = {"collection": "multi", "query": "when do owls sleep", "top_k": 5}
    # Warm both workers' BM25 indexes on the first version.
    for _ in range(6):
        assert (
            fresh_post(backend, "/v1/query", body).json()["results"][0]["filename"] == "first.txt"
        )
    with backend.client() as client:
        replaced = upload(client, "multi", "first.txt", b"Owls now sleep at noon, says the zoo.")
        assert replaced.status_code == 201
    served_by: dict[int, int] = {}
    for attempt in range(60):
        request_id = f"multi-{attempt}"
        with httpx.Client(base_url=backend.url, headers=backend.headers(), timeout=30) as client:
            response = client.post("/v1/query", json=body, headers={"X-Request-ID": request_id})
        results = response.json()["results"]
        assert [r["text"] for r in results] == ["Owls now sleep at noon, says the zoo."]
        pid = worker_of(backend, request_id)
        served_by[pid] = served_by.get(pid, 0) + 1
        if len(served_by) == 2 and min(served_by.values()) >= 2:
            break
    assert len(served_by) == 2, f"one worker served everything: {served_by}"


def worker_of(backend, request_id: str) -> int:
    for _ in range(50):
        for line in backend.server.log_path.read_text().splitlines():
            if f'"request_id": "{request_id}"' in line and '"route"' in line:
                return json.loads(line)["pid"]
        time.sleep(0.05)
    raise AssertionError(f"no access log line for {request_id}")


def test_metrics_aggregate_all_workers(two_workers):
    backend = two_workers

    def served() -> float:
        text = fresh_get(backend, "/metrics").text
        prefix = 'ragstack_http_requests_total{method="GET",route="/health",status="200"}'
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))

    before = served()
    for _ in range(10):
        assert fresh_get(backend, "/health").status_code == 200
    assert served() == before + 10
    assert 'ragstack_index_chunks{collection="multi"}' in fresh_get(backend, "/metrics").text


def test_rate_limit_is_shared_by_workers(two_workers):
    headers = two_workers.headers(two_workers.keys["limited"])  # burst 3, then 6/min
    codes = []
    for _ in range(7):
        with httpx.Client(base_url=two_workers.url, headers=headers, timeout=30) as fresh:
            codes.append(fresh.get("/v1/collections").status_code)
    assert codes == [200] * 3 + [429] * 4, codes
