"""JSON logs with request ids, and OpenTelemetry traces exported over OTLP/HTTP."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest
from servers import free_port


def test_json_logs_carry_request_id(backend_server, client):
    client.get("/v1/collections", headers={"X-Request-ID": "log-test-4711"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = backend_server.server.log_path.read_text().splitlines()
        matches = [json.loads(line) for line in lines if "log-test-4711" in line]
        if matches:
            break
        time.sleep(0.1)
    (entry,) = matches
    assert entry["request_id"] == "log-test-4711"
    assert entry["route"] == "/v1/collections" and entry["status"] == 200
    assert entry["level"] == "info" and "duration_ms" in entry


class _Collector(BaseHTTPRequestHandler):
    """TEST DOUBLE of an OTLP/HTTP trace receiver: keeps the export requests it is sent."""

    received: ClassVar[list[bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            _Collector.received.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def otlp_collector():
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Collector.received.clear()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


def span_names(payloads: list[bytes]) -> set[str]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    names = set()
    for payload in payloads:
        request = ExportTraceServiceRequest()
        request.ParseFromString(payload)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                names.update(span.name for span in scope_spans.spans)
    return names


def is_redis_span(name: str) -> bool:
    return name.split()[0] in {"HGETALL", "GET", "EVALSHA", "SET", "MULTI", "EXISTS"}


def test_traces_are_exported(backend_factory, otlp_collector):
    backend = backend_factory(
        env={"RAGSTACK_OTLP_ENDPOINT": otlp_collector, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    )
    with backend.client() as client:
        client.post("/v1/collections", json={"name": "traced"})
        client.post("/v1/query", json={"collection": "traced", "query": "tracing works"})
    deadline = time.monotonic() + 60
    names: set[str] = set()
    while time.monotonic() < deadline:
        names = span_names(list(_Collector.received))
        if {"POST /v1/query", "POST"} <= names and any(is_redis_span(n) for n in names):
            break
        time.sleep(0.2)
    assert "POST /v1/query" in names, names
    assert any(is_redis_span(n) for n in names), names
    assert "POST" in names, names  # httpx client span of the ChromaDB query
    assert httpx.get(f"{backend.url}/health").status_code == 200
