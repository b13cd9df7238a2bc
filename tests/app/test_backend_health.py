"""/health, /ready and /metrics."""

from __future__ import annotations

import httpx


def test_health_needs_nothing(backend_server):
    response = httpx.get(f"{backend_server.url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


def test_request_id_is_echoed(backend_server):
    response = httpx.get(f"{backend_server.url}/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


def test_ready_reports_each_dependency(backend_server):
    response = httpx.get(f"{backend_server.url}/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"chromadb", "redis", "llm"}
    assert all(check["ok"] for check in body["checks"].values()), body


def test_ready_is_degraded_without_llm(constrained_backend):
    body = httpx.get(f"{constrained_backend.url}/ready").json()
    assert body["status"] == "degraded"
    assert body["checks"]["llm"]["ok"] is False
    assert body["checks"]["redis"]["ok"] and body["checks"]["chromadb"]["ok"]


def test_ready_is_unready_with_wrong_chroma_token(backend_factory):
    backend = backend_factory(env={"RAGSTACK_CHROMA_TOKEN": "wrong-token"})
    response = httpx.get(f"{backend.url}/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unready"
    assert body["checks"]["chromadb"]["ok"] is False
    assert body["checks"]["redis"]["ok"] is True


def test_metrics_exposes_our_series(backend_server, client, new_collection):
    name = new_collection()
    client.post("/v1/query", json={"collection": name, "query": "anything"})
    text = httpx.get(f"{backend_server.url}/metrics").text
    assert 'ragstack_http_requests_total{method="POST",route="/v1/query",status="200"}' in text
    assert "ragstack_http_request_duration_seconds_bucket" in text
    assert f'ragstack_index_chunks{{collection="{name}"}} 0.0' in text
    assert 'ragstack_cache_requests_total{cache="query",result="miss"}' in text


def test_redis_down_gives_503_not_500(backend_factory):
    from servers import free_port

    backend = backend_factory(env={"RAGSTACK_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    ready = httpx.get(f"{backend.url}/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"]["ok"] is False
    response = httpx.get(f"{backend.url}/v1/collections", headers=backend.headers())
    assert response.status_code == 503
    assert response.json() == {"detail": "Redis is unavailable"}
    assert httpx.get(f"{backend.url}/health").status_code == 200


def test_catalog_writes_work_right_after_a_redis_restart(backend_factory, servers_dir):
    """The backend's pooled connections die with redis; the next write must not be a 503."""
    from servers import start_redis

    redis = start_redis(servers_dir / "redis-restarted")
    backend = backend_factory(env={"RAGSTACK_REDIS_URL": redis.url})
    headers = backend.headers()
    # Several requests, so that the pool holds several connections that all go stale.
    for index in range(4):
        made = httpx.post(
            f"{backend.url}/v1/collections", headers=headers, json={"name": f"before{index}"}
        )
        assert made.status_code == 201, made.text
    redis.stop()
    redis = start_redis(servers_dir / "redis-restarted", password=redis.secret, port=redis.port)
    try:
        for index in range(4):
            made = httpx.post(
                f"{backend.url}/v1/collections", headers=headers, json={"name": f"after{index}"}
            )
            assert made.status_code == 201, made.text
    finally:
        redis.stop()
