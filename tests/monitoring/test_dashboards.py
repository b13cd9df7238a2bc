"""Grafana's provisioning and dashboards: valid JSON, datasources that exist, PromQL that parses
(promtool) and references metrics the backend really exports or the exporters provide."""

from __future__ import annotations

import configparser
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, tool
from promql import grafana_to_promql, metric_names, prometheus_exprs

DASHBOARDS = sorted((ROOT / "roles" / "grafana" / "files" / "dashboards").glob("*.json"))
# Metrics other jobs write through node_exporter's textfile collector (roles/prometheus/README.md).
TEXTFILE_METRICS = {
    "ragstack_backup_last_status",
    "ragstack_backup_last_success_timestamp_seconds",
    "ragstack_deployment_timestamp_seconds",
}
# Families the exporters provide; molecule/monitoring checks each name against a live Prometheus.
EXPORTER_PREFIXES = ("node_", "redis_", "nginx_", "probe_", "prometheus_", "alertmanager_")


def backend_metric_names() -> set[str]:
    """Series names of the backend's own metrics (app/ragstack/observability/metrics.py)."""
    from prometheus_client import REGISTRY
    from ragstack.observability import metrics  # noqa: F401  (registers the metrics)

    names = set()
    for family in REGISTRY.collect():
        if not family.name.startswith("ragstack_"):
            continue
        suffixes = {
            "counter": ["_total"],
            "histogram": ["_bucket", "_sum", "_count"],
            "gauge": [""],
        }[family.type]
        base = family.name
        names.update(base + s for s in suffixes)
    return names


@pytest.fixture(scope="module")
def datasources(rendered: Path) -> dict[str, dict]:
    path = rendered / "grafana" / "provisioning" / "datasources" / "ragstack.yml"
    return {d["uid"]: d for d in yaml.safe_load(path.read_text())["datasources"]}


def test_three_dashboards_with_unique_uids():
    assert {p.stem for p in DASHBOARDS} == {
        "ragstack-overview",
        "ragstack-infrastructure",
        "ragstack-app-performance",
    }
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids)


def test_datasources_are_prometheus_loki_jaeger(datasources):
    assert {(uid, d["type"]) for uid, d in datasources.items()} == {
        ("prometheus", "prometheus"),
        ("loki", "loki"),
        ("jaeger", "jaeger"),
    }
    assert datasources["prometheus"]["url"] == "https://127.0.0.1:9090"
    assert datasources["loki"]["url"] == "https://127.0.0.1:3100"
    assert datasources["jaeger"]["url"] == "https://127.0.0.1:16686"


def test_datasources_verify_the_internal_ca_and_present_grafanas_certificate(datasources):
    """The servers require a client certificate of the internal CA: Grafana reads its own from
    the files at provisioning ($__file{}), so no key is written into the provisioning file."""
    for uid, source in datasources.items():
        assert source["jsonData"]["tlsAuth"] is True, uid
        assert source["jsonData"]["tlsAuthWithCACert"] is True, uid
        assert source["secureJsonData"] == {
            "tlsCACert": "$__file{/etc/ragstack/tls/ca.pem}",
            "tlsClientCert": "$__file{/etc/ragstack/tls/grafana/cert.pem}",
            "tlsClientKey": "$__file{/etc/ragstack/tls/grafana/key.pem}",
        }, uid


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_panels_use_provisioned_datasources(path: Path, datasources):
    dashboard = json.loads(path.read_text())
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in datasources, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in datasources, panel["title"]
            assert target["expr"].strip(), panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_promql_parses(path: Path, tmp_path: Path):
    """Every Prometheus query (and annotation) goes through promtool's parser as a rule."""
    dashboard = json.loads(path.read_text())
    annotations = dashboard["annotations"]["list"]
    exprs = prometheus_exprs(dashboard) + [
        a["expr"] for a in annotations if a["datasource"]["uid"] == "prometheus"
    ]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:expr{i}", "expr": grafana_to_promql(e)}
                    for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    rules_file = tmp_path / "dashboard.rules.yml"
    rules_file.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [tool("promtool"), "check", "rules", str(rules_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_promql_references_real_metrics(path: Path):
    backend = backend_metric_names()
    for expr in prometheus_exprs(json.loads(path.read_text())):
        for name in metric_names(expr):
            if name.startswith("ragstack_"):
                assert name in backend | TEXTFILE_METRICS, f"{name} (in {expr})"
            else:
                assert name == "up" or name.startswith(EXPORTER_PREFIXES), f"{name} (in {expr})"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_variables_query_real_metrics(path: Path):
    backend = backend_metric_names()
    for variable in json.loads(path.read_text())["templating"]["list"]:
        match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["query"]["query"])
        assert match, variable["query"]
        name = match.group(1)
        assert name in backend or name.startswith(EXPORTER_PREFIXES), name


def test_backend_metric_names_are_read_from_the_backend():
    """The checker itself: it knows the backend's real series and rejects made-up ones."""
    names = backend_metric_names()
    assert "ragstack_http_requests_total" in names
    assert "ragstack_http_request_duration_seconds_bucket" in names
    assert "ragstack_requests_total" not in names
    assert metric_names(
        'sum by (le) (rate(ragstack_http_request_duration_seconds_bucket{job=~".*"}[5m]))'
    ) == {"ragstack_http_request_duration_seconds_bucket"}
    assert metric_names("1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes") == {
        "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes",
    }


def test_dashboards_provider_reads_where_the_role_installs(rendered: Path):
    provider = yaml.safe_load(
        (rendered / "grafana" / "provisioning" / "dashboards" / "ragstack.yml").read_text()
    )["providers"][0]
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
    assert provider["disableDeletion"] is True


def test_grafana_ini_is_locked_down(rendered: Path):
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string((rendered / "grafana" / "grafana.ini").read_text())
    assert ini["server"]["http_port"] == "3001"
    # HTTPS only, with the certificate of the internal CA the role issues.
    assert ini["server"]["protocol"] == "https"
    assert ini["server"]["cert_file"] == "/etc/ragstack/tls/grafana/cert.pem"
    assert ini["server"]["cert_key"] == "/etc/ragstack/tls/grafana/key.pem"
    assert ini["server"]["min_tls_version"] == "TLS1.2"
    assert ini["users"]["allow_sign_up"] == "false"
    assert ini["auth.anonymous"]["enabled"] == "false"
    assert ini["analytics"]["reporting_enabled"] == "false"
    assert ini["security"]["admin_password"] == '"""test-only-admin-password"""'
    assert ini["security"]["cookie_secure"] == "true"
