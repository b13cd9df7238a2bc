"""Collections: create, list, get, delete; conflicts and unknown names."""

from __future__ import annotations

import uuid


def test_lifecycle(client):
    name = f"c-{uuid.uuid4().hex[:8]}"
    created = client.post("/v1/collections", json={"name": name, "description": "ops runbooks"})
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == name and body["description"] == "ops runbooks"
    assert body["document_count"] == 0 and body["chunk_count"] == 0 and body["created_at"]
    assert name in [c["name"] for c in client.get("/v1/collections").json()["items"]]
    assert client.get(f"/v1/collections/{name}").json()["name"] == name
    assert client.post("/v1/collections", json={"name": name}).status_code == 409
    assert client.delete(f"/v1/collections/{name}").status_code == 204
    assert client.get(f"/v1/collections/{name}").status_code == 404
    assert name not in [c["name"] for c in client.get("/v1/collections").json()["items"]]


def test_recreated_collection_starts_empty(client, new_collection):
    from backend_helpers import upload

    name = new_collection()
    assert upload(client, name, "a.txt", b"Zebras are striped horses.").status_code == 201
    assert client.delete(f"/v1/collections/{name}").status_code == 204
    assert client.post("/v1/collections", json={"name": name}).status_code == 201
    hits = client.post("/v1/query", json={"collection": name, "query": "zebras"}).json()
    assert hits["results"] == []


def test_unknown_collection_is_404(client):
    assert client.get("/v1/collections/nope-nope").status_code == 404
    assert client.delete("/v1/collections/nope-nope").status_code == 404
    response = client.post("/v1/query", json={"collection": "nope-nope", "query": "x"})
    assert response.status_code == 404
    assert "nope-nope" in response.json()["detail"]


def test_bad_names_are_refused(client):
    for name in ["ab", "UPPER", "has space", "x" * 64, "dots.dots"]:
        assert client.post("/v1/collections", json={"name": name}).status_code == 422, name
