"""OpenTelemetry traces over OTLP/HTTP (Jaeger accepts it on :4318), only when configured."""

from __future__ import annotations

from typing import Any

_configured = False


def configure_tracing(app: Any, endpoint: str | None, service_name: str) -> bool:
    global _configured
    if not endpoint:
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if not _configured:
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        url = endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
        trace.set_tracer_provider(provider)
        RedisInstrumentor().instrument()
        HTTPXClientInstrumentor().instrument()
        _configured = True
    FastAPIInstrumentor.instrument_app(app, excluded_urls="health,metrics")
    return True


def shutdown_tracing() -> None:
    if _configured:
        from opentelemetry import trace

        provider = trace.get_tracer_provider()
        if hasattr(provider, "shutdown"):
            provider.shutdown()
