"""The pluggable parts: Ollama embeddings, an OpenAI-compatible LLM, CORS from configuration."""

from __future__ import annotations

import json

import httpx
from backend_helpers import upload

DOCS = {
    "vpn.txt": "The VPN gateway listens on UDP port 51820 for WireGuard peers.",
    "lunch.txt": "The canteen serves lunch between noon and two.",
    "backup.txt": "Nightly backups are written to the tape library in the basement.",
}


def stats(llm) -> dict:
    return httpx.get(f"{llm.url}/_stats").json()


def test_ollama_embedding_backend(backend_factory, backend_server, fake_llm, client):
    backend = backend_factory(
        env={
            "RAGSTACK_EMBEDDING_BACKEND": "ollama",
            "RAGSTACK_EMBEDDING_BASE_URL": fake_llm.url,
            "RAGSTACK_EMBEDDING_MODEL": "fake-embed",
            # Same catalog as backend_server, to meet a collection made with the ONNX model.
            "RAGSTACK_REDIS_PREFIX": backend_server.server.extra["prefix"],
        }
    )
    calls = stats(fake_llm)["embed_calls"]
    with backend.client() as ollama_client:
        ollama_client.delete("/v1/collections/ollama-embed")
        assert (
            ollama_client.post("/v1/collections", json={"name": "ollama-embed"}).status_code == 201
        )
        for filename, text in DOCS.items():
            assert upload(ollama_client, "ollama-embed", filename, text.encode()).status_code == 201
        body = {
            "collection": "ollama-embed",
            "query": "which UDP port does the VPN use",
            "top_k": 3,
        }
        results = ollama_client.post("/v1/query", json=body).json()["results"]
        assert results[0]["filename"] == "vpn.txt"
        assert stats(fake_llm)["embed_calls"] >= calls + len(DOCS) + 1

        # A collection indexed with the other model is refused, not silently mis-queried.
        client.delete("/v1/collections/onnx-made")
        assert client.post("/v1/collections", json={"name": "onnx-made"}).status_code == 201
        mismatch = ollama_client.post("/v1/query", json={"collection": "onnx-made", "query": "x"})
        assert mismatch.status_code == 409
        assert "all-MiniLM-L6-v2-onnx-int8" in mismatch.json()["detail"]
        assert upload(ollama_client, "onnx-made", "a.txt", b"text").status_code == 409
        ollama_client.delete("/v1/collections/ollama-embed")
        client.delete("/v1/collections/onnx-made")


def test_openai_compatible_llm_and_cors(backend_factory, fake_llm):
    backend = backend_factory(
        env={
            "RAGSTACK_LLM_PROVIDER": "openai",
            "RAGSTACK_LLM_BASE_URL": f"{fake_llm.url}/v1",
            "RAGSTACK_LLM_MODEL": "fake-llm",
            "RAGSTACK_LLM_API_KEY": "sk-test",
            "RAGSTACK_CORS_ORIGINS": "http://ui.example",
        }
    )
    ready = httpx.get(f"{backend.url}/ready").json()
    assert ready["status"] == "ready" and ready["checks"]["llm"]["ok"], ready
    with backend.client() as client:
        client.post("/v1/collections", json={"name": "openai"})
        for filename, text in DOCS.items():
            upload(client, "openai", filename, text.encode())
        body = {"collection": "openai", "message": "Where are backups written?"}
        answer = client.post("/v1/chat", json=body).json()
        assert answer["mode"] == "llm" and answer["degraded"] is False
        assert "tape library" in answer["answer"] and answer["answer"].endswith("[1]")
        with client.stream("POST", "/v1/chat", json={**body, "stream": True}) as response:
            text = response.read().decode()
        events = [block.split("\n") for block in text.strip().split("\n\n")]
        kinds = [lines[0].removeprefix("event: ") for lines in events]
        assert kinds[0] == "citations" and kinds[-1] == "done" and "token" in kinds
        data = [json.loads(lines[1].removeprefix("data: ")) for lines in events]
        tokens = [d["text"] for kind, d in zip(kinds, data, strict=True) if kind == "token"]
        assert "".join(tokens) == answer["answer"]
        assert data[kinds.index("citations", 1)]["citations"] == answer["citations"]

    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key,content-type",
    }
    allowed = httpx.options(
        f"{backend.url}/v1/query", headers={"Origin": "http://ui.example", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://ui.example"
    denied = httpx.options(
        f"{backend.url}/v1/query", headers={"Origin": "http://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in denied.headers
