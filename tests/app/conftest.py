"""Fixtures and document builders for the backend's tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from deployments import deploy
from ragstack.config import Settings, load_settings


@pytest.fixture
def client(backend_server) -> Iterator[httpx.Client]:
    with backend_server.client() as c:
        yield c


@pytest.fixture
def backend_settings(backend_server, monkeypatch) -> Settings:
    """The settings backend_server runs with, to build its services in this process."""
    for key, value in backend_server.server.extra["env"].items():
        monkeypatch.setenv(key, value)
    return load_settings()


@pytest.fixture
def new_collection(client: httpx.Client) -> Callable[[], str]:
    """Create a uniquely named collection; it is deleted after the test."""
    created: list[str] = []

    def make(prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        response = client.post("/v1/collections", json={"name": name})
        assert response.status_code == 201, response.text
        created.append(name)
        return name

    yield make
    for name in created:
        client.delete(f"/v1/collections/{name}")


@pytest.fixture(scope="session")
def constrained_backend(backend_factory):
    """A second backend with no LLM and small limits: uploads over 20,000 bytes are refused."""
    return backend_factory(
        env={"RAGSTACK_LLM_PROVIDER": "none", "RAGSTACK_MAX_UPLOAD_BYTES": "20000"}
    )


@pytest.fixture
def deployment(servers_dir, redis_server, chroma_server):
    """A backend and worker of their own (tests/app/deployments.py), stopped afterwards."""
    made = deploy(servers_dir, redis_server, chroma_server)
    yield made
    made.stop()
