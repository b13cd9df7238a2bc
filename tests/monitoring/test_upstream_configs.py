"""Loki, Alloy and Jaeger configuration as the roles render it. Their binaries cannot be fetched
in CI, so these are structural checks (the roles run each binary's own checker on deploy:
`loki -verify-config`, `alloy fmt`, `jaeger validate`)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml


def test_loki_is_single_binary_on_local_disk_with_retention(rendered: Path):
    config = yaml.safe_load((rendered / "loki.yml").read_text())
    assert config["auth_enabled"] is False
    assert config["server"]["http_listen_port"] == 3100
    assert config["server"]["grpc_listen_address"] == "127.0.0.1"
    # Push and query over HTTPS, for clients with a certificate of the internal CA only.
    assert config["server"]["http_tls_config"] == {
        "cert_file": "/etc/ragstack/tls/loki/cert.pem",
        "key_file": "/etc/ragstack/tls/loki/key.pem",
        "client_auth_type": "RequireAndVerifyClientCert",
        "client_ca_file": "/etc/ragstack/tls/ca.pem",
    }
    assert config["server"]["tls_min_version"] == "VersionTLS12"
    schema = config["schema_config"]["configs"][0]
    assert (schema["store"], schema["schema"], schema["object_store"]) == (
        "tsdb",
        "v13",
        "filesystem",
    )
    assert config["compactor"]["retention_enabled"] is True
    assert config["limits_config"]["retention_period"] == "744h"
    assert config["common"]["path_prefix"] == "/var/lib/loki"
    assert config["analytics"]["reporting_enabled"] is False


def test_alloy_ships_the_journal_to_the_monitoring_hosts_loki(rendered: Path):
    pipeline = (rendered / "config.alloy").read_text()
    assert pipeline.count("{") == pipeline.count("}")
    assert re.findall(r'url = "([^"]+)"', pipeline) == ["https://10.0.40.11:3100/loki/api/v1/push"]
    # Loki's certificate verified against the internal CA, Alloy's own presented.
    tls = dict(re.findall(r'^\s*(ca_file|cert_file|key_file)\s*= "([^"]+)"', pipeline, re.M))
    assert tls == {
        "ca_file": "/etc/ragstack/tls/ca.pem",
        "cert_file": "/etc/ragstack/tls/alloy/cert.pem",
        "key_file": "/etc/ragstack/tls/alloy/key.pem",
    }
    components = set(re.findall(r'^(loki\.[a-z.]+) "(\w+)" \{', pipeline, re.M))
    assert components == {
        ("loki.relabel", "journal"),
        ("loki.source.journal", "system"),
        ("loki.process", "json"),
        ("loki.write", "default"),
    }
    # Every reference points at a component defined in the file.
    for kind, name in re.findall(r"(loki\.[a-z.]+)\.(\w+)\.(?:receiver|rules)", pipeline):
        assert (kind, name) in components


def test_jaeger_pipeline_references_defined_components(rendered: Path):
    config = yaml.safe_load((rendered / "jaeger.yml").read_text())
    service = config["service"]
    assert set(service["extensions"]) <= set(config["extensions"])
    traces = service["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        assert set(traces[kind]) <= set(config[kind]), kind
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    backend = config["exporters"]["jaeger_storage_exporter"]["trace_storage"]
    assert backend in config["extensions"]["jaeger_storage"]["backends"]
    assert config["extensions"]["jaeger_query"]["storage"]["traces"] == backend
    assert config["extensions"]["jaeger_query"]["http"]["endpoint"] == "0.0.0.0:16686"
    # The UI/API (Grafana's datasource) over HTTPS, a client certificate of the internal CA needed.
    assert config["extensions"]["jaeger_query"]["http"]["tls"]["client_ca_file"] == (
        "/etc/ragstack/tls/ca.pem"
    )


def test_stub_status_is_loopback_only(rendered: Path):
    conf = (rendered / "nginx-stub-status.conf").read_text()
    assert re.search(r"^\s*listen 127\.0\.0\.1:8081;", conf, re.M)
    assert "deny all;" in conf
