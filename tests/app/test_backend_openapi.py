"""The exported spec is current, declares the API-key scheme, and survives schemathesis (no 5xx)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

SPEC = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.json"


def test_exported_spec_is_current():
    result = subprocess.run(
        [sys.executable, "-m", "ragstack.openapi", "--check", str(SPEC)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + "\nregenerate: python -m ragstack.openapi"


def test_spec_declares_api_key_security():
    spec = json.loads(SPEC.read_text())
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["Bearer"]["scheme"] == "bearer"
    query = spec["paths"]["/v1/query"]["post"]
    assert {"ApiKey": []} in query["security"]
    assert "security" not in spec["paths"]["/health"]["get"]


def test_served_spec_matches_export(backend_server):
    served = httpx.get(f"{backend_server.url}/openapi.json").json()
    assert served == json.loads(SPEC.read_text())


@pytest.fixture(scope="module")
def fuzz_collection(backend_server):
    """A collection that exists, holding one document, for the generated requests to hit."""
    with backend_server.client() as client:
        client.delete("/v1/collections/fuzz")
        client.post("/v1/collections", json={"name": "fuzz"})
        client.post(
            "/v1/collections/fuzz/documents",
            files={"file": ("seed.txt", b"Fuzzing seed document.", "text/plain")},
        )
        yield "fuzz"
        client.delete("/v1/collections/fuzz")


# The exported file is what the server serves (test_served_spec_matches_export).
schema = schemathesis.openapi.from_path(SPEC)


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case, backend_server, fuzz_collection):
    response = case.call(base_url=backend_server.url, headers=backend_server.headers(), timeout=30)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    )
