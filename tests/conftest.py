"""Session fixtures: real Redis, real ChromaDB, the Ollama test double, and the backend.

``backend_server`` is what other suites (e.g. the UI's end-to-end tests) should use::

    def test_something(backend_server):
        r = httpx.get(f"{backend_server.url}/v1/collections", headers=backend_server.headers())

It yields a ``Backend`` with ``url`` (``http://127.0.0.1:PORT``), ``admin_key`` (an API key with
the admin scope), ``keys`` (``{"read": ..., "write": ..., "admin": ..., "limited": ...,
"scoped": ...}``; the ``limited`` key has read scope and a rate limit of 3 requests burst, 6/min;
``scoped`` has write scope for the collections ``SCOPED_KEY_ONLY`` only) and ``headers(key)``.
Users: the bootstrap admin ``admin`` (password ``servers.BOOTSTRAP_ADMIN_PASSWORD``) exists;
``sign_in(user, password)`` returns an ``Authorization`` header for a session token.
The backend answers chat through the fake Ollama (``fake_llm``), model ``fake-llm``; a
``ragstack-worker`` (``worker``) ingests its uploads.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from servers import (
    BOOTSTRAP_ADMIN_PASSWORD,
    SCOPED_KEY_ONLY,
    Server,
    api_key_entry,
    backend_env,
    start_backend,
    start_chroma,
    start_fake_llm,
    start_redis,
    start_worker,
)


@dataclass
class Backend:
    url: str
    admin_key: str
    keys: dict[str, str]
    server: Server
    worker: Server
    llm: Server | None = None
    extra: dict = field(default_factory=dict)

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"X-API-Key": key or self.admin_key}

    def client(self, key: str | None = None, timeout: float = 60.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(key), timeout=timeout)

    def sign_in(self, user: str = "admin", password: str = BOOTSTRAP_ADMIN_PASSWORD) -> dict:
        response = httpx.post(
            f"{self.url}/v1/auth/sign-in", json={"username": user, "password": password}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


def make_keys() -> tuple[dict[str, str], list[dict]]:
    keys = {name: f"rsk_test_{name}_{secrets.token_hex(8)}" for name in ("read", "write", "admin")}
    keys["limited"] = f"rsk_test_limited_{secrets.token_hex(8)}"
    keys["scoped"] = f"rsk_test_scoped_{secrets.token_hex(8)}"
    entries = [api_key_entry(name, keys[name], [name]) for name in ("read", "write", "admin")]
    entries.append(api_key_entry("limited", keys["limited"], ["read"], rate_per_minute=6, burst=3))
    entries.append(api_key_entry("scoped", keys["scoped"], ["write"], collections=SCOPED_KEY_ONLY))
    return keys, entries


@pytest.fixture(scope="session")
def servers_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ragstack-tests-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(servers_dir: Path) -> Iterator[Server]:
    server = start_redis(servers_dir / "redis")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chroma_server(servers_dir: Path) -> Iterator[Server]:
    server = start_chroma(servers_dir / "chroma")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_llm(servers_dir: Path) -> Iterator[Server]:
    server = start_fake_llm(servers_dir / "fake-llm")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def backend_factory(servers_dir: Path, redis_server: Server, chroma_server: Server):
    """Start extra backends with other settings: ``backend_factory(env={...}, workers=1)``."""
    started: list[Server] = []

    def start(env: dict[str, str] | None = None, workers: int = 1, llm: Server | None = None):
        keys, entries = make_keys()
        full_env = dict(env or {})
        if llm is not None:
            full_env.setdefault("RAGSTACK_LLM_PROVIDER", "ollama")
            full_env.setdefault("RAGSTACK_LLM_BASE_URL", llm.url)
            full_env.setdefault("RAGSTACK_LLM_MODEL", llm.extra["model"])
        workdir = servers_dir / f"backend-{uuid.uuid4().hex[:8]}"
        env_vars = backend_env(workdir, redis_server, chroma_server, entries, full_env)
        server = start_backend(workdir, env_vars, workers)
        started.append(server)
        worker = start_worker(workdir, env_vars)
        started.append(worker)
        return Backend(server.url, keys["admin"], keys, server, worker, llm, {"workdir": workdir})

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def backend_server(backend_factory, fake_llm: Server) -> Backend:
    return backend_factory(
        env={"RAGSTACK_LLM_MAX_RETRIES": "1", "RAGSTACK_LLM_RETRY_BACKOFF_SECONDS": "0.05"},
        llm=fake_llm,
    )
