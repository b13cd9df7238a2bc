"""API keys, scopes, rate limits."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/collections", None),
        ("POST", "/v1/collections", {"name": "unauth"}),
        ("POST", "/v1/query", {"collection": "abc", "query": "x"}),
        ("POST", "/v1/chat", {"collection": "abc", "message": "x"}),
        ("GET", "/v1/jobs/abc", None),
    ],
)
def test_missing_or_invalid_key_is_401(backend_server, method, path, body):
    for headers in ({}, {"X-API-Key": "rsk_wrong"}, {"Authorization": "Bearer rsk_wrong"}):
        response = httpx.request(method, backend_server.url + path, json=body, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["detail"]


def test_bearer_header_is_accepted(backend_server):
    headers = {"Authorization": f"Bearer {backend_server.keys['read']}"}
    assert httpx.get(f"{backend_server.url}/v1/collections", headers=headers).status_code == 200


def test_scopes(backend_server):
    url = backend_server.url
    read, write, admin = (
        backend_server.headers(backend_server.keys[s]) for s in ("read", "write", "admin")
    )
    create = httpx.post(f"{url}/v1/collections", json={"name": "scoped-c"}, headers=read)
    assert create.status_code == 403 and "write" in create.json()["detail"]
    assert (
        httpx.post(f"{url}/v1/collections", json={"name": "scoped-c"}, headers=write).status_code
        == 201
    )
    assert httpx.get(f"{url}/v1/collections/scoped-c", headers=read).status_code == 200
    assert httpx.delete(f"{url}/v1/collections/scoped-c", headers=write).status_code == 403
    assert httpx.delete(f"{url}/v1/collections/scoped-c", headers=admin).status_code == 204


def test_rate_limit_gives_429_with_retry_after(backend_server):
    headers = backend_server.headers(backend_server.keys["limited"])  # burst 3, 6/min
    codes = []
    for _ in range(5):
        response = httpx.get(f"{backend_server.url}/v1/collections", headers=headers)
        codes.append(response.status_code)
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 10
    # Other keys are not affected.
    assert (
        httpx.get(
            f"{backend_server.url}/v1/collections", headers=backend_server.headers()
        ).status_code
        == 200
    )


def test_key_hash_cli():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "ragstack.auth", "ops", "admin"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    key = out.split("it is not stored): ")[1].split()[0]
    from ragstack.auth import hash_key

    assert hash_key(key) in out and '"scopes": ["admin"]' in out
