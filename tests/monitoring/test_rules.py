"""Prometheus and Alertmanager configuration as the roles render it, checked by the real tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml
from conftest import HERE, tool


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=False)


def test_alert_rules_pass_promtool_check(rendered: Path):
    result = run(tool("promtool"), "check", "rules", str(rendered / "rules" / "ragstack.rules.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_unit_tests(rendered: Path):
    """rules_test.yml: each alert fires (and only then) with the default thresholds."""
    shutil.copy(HERE / "rules_test.yml", rendered / "rules" / "rules_test.yml")
    result = run(tool("promtool"), "test", "rules", str(rendered / "rules" / "rules_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_severity_alertmanager_routes(rendered: Path):
    rules = yaml.safe_load((rendered / "rules" / "ragstack.rules.yml").read_text())
    routes = yaml.safe_load((rendered / "alertmanager.yml").read_text())["route"]["routes"]
    routed = {m.split("=")[1].strip('"') for r in routes for m in r["matchers"]}
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in routed, rule["alert"]


def test_prometheus_config_with_rules_and_targets_passes_promtool(rendered: Path):
    result = run(tool("promtool"), "check", "config", str(rendered / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_targets_come_from_the_inventory(rendered: Path):
    node = yaml.safe_load((rendered / "file_sd" / "node.yml").read_text())
    assert {t["labels"]["instance"]: t["targets"] for t in node} == {
        "app1": ["10.0.20.11:9100"],
        "app2": ["10.0.20.12:9100"],
        "cache1": ["10.0.30.21:9100"],
        "lb1": ["10.0.10.11:9100"],
        "llm1": ["10.0.50.11:9100"],
        "mon1": ["10.0.40.11:9100"],
        "vdb1": ["10.0.30.11:9100"],
    }
    redis = yaml.safe_load((rendered / "file_sd" / "redis.yml").read_text())
    assert redis == [{"targets": ["10.0.30.21:9121"], "labels": {"instance": "cache1"}}]
    backend = yaml.safe_load((rendered / "file_sd" / "backend.yml").read_text())
    assert sorted(t["targets"][0] for t in backend) == ["10.0.20.11:8000", "10.0.20.12:8000"]
    config = yaml.safe_load((rendered / "prometheus.yml").read_text())
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "10.0.40.11:9093"
    ]
    blackbox = next(j for j in config["scrape_configs"] if j["job_name"] == "blackbox-http")
    assert blackbox["params"]["module"] == ["http_2xx"]
    # The model servers are probed (port open), through the blackbox exporter.
    llm = yaml.safe_load((rendered / "file_sd" / "llm.yml").read_text())
    assert llm == [{"targets": ["10.0.50.11:11434"], "labels": {"instance": "llm1"}}]
    probe = next(j for j in config["scrape_configs"] if j["job_name"] == "llm")
    assert probe["metrics_path"] == "/probe" and probe["params"]["module"] == ["tcp_connect"]
    assert probe["relabel_configs"][-1]["replacement"] == "127.0.0.1:9115"


def test_alertmanager_config_with_every_receiver_kind_passes_amtool(rendered: Path):
    result = run(tool("amtool"), "check-config", str(rendered / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((rendered / "alertmanager.yml").read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["oncall"]["email_configs"] and receivers["oncall"]["slack_configs"]
    assert receivers["chatops"]["webhook_configs"]
    by_severity = {r["matchers"][0]: r["receiver"] for r in config["route"]["routes"]}
    assert by_severity == {
        'alertname="Watchdog"': "null",  # first: the always-firing Watchdog never pages
        'severity="critical"': "oncall",
        'severity="warning"': "chatops",
        'severity="info"': "null",
    }


def test_blackbox_modules_pass_the_exporters_check(rendered: Path):
    result = run(
        tool("prometheus-blackbox-exporter"),
        "--config.check",
        f"--config.file={rendered / 'blackbox.yml'}",
    )
    assert result.returncode == 0, result.stdout + result.stderr


# The monitoring tier over TLS (issue 17): the jobs of the exporters the collection installs.
TLS_JOBS = {"prometheus", "alertmanager", "node", "redis", "nginx"}


def test_exporters_are_scraped_over_https_with_prometheus_client_certificate(rendered: Path):
    config = yaml.safe_load((rendered / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    tls = {"ca_file", "cert_file", "key_file"}
    for name in TLS_JOBS:
        assert jobs[name]["scheme"] == "https", name
        assert set(jobs[name]["tls_config"]) == tls, name
    # The probes go to the blackbox exporter over HTTPS too, and so do the alerts.
    for name in ("llm", "redis-tls", "blackbox-http", "node-tls", "nginx-exporter-tls"):
        assert jobs[name]["scheme"] == "https" and set(jobs[name]["tls_config"]) == tls, name
    alertmanager = config["alerting"]["alertmanagers"][0]
    assert alertmanager["scheme"] == "https" and set(alertmanager["tls_config"]) == tls
    # Every HTTPS port of the tier has its certificate probed (TLSCertificateExpiring).
    probed = {(j["params"]["module"][0], name) for name, j in jobs.items() if "params" in j}
    for name in ("prometheus-tls", "alertmanager-tls", "node-tls", "redis-exporter-tls"):
        assert ("tcp_tls_internal", name) in probed, name


def test_web_config_requires_a_client_certificate_and_passes_promtool(rendered: Path):
    web = rendered / "tls" / "web.yml"
    result = run(tool("promtool"), "check", "web-config", str(web))
    assert result.returncode == 0, result.stdout + result.stderr
    server = yaml.safe_load(web.read_text())["tls_server_config"]
    assert server["client_auth_type"] == "RequireAndVerifyClientCert"
    assert server["client_ca_file"].endswith("/tls/ca.pem")


def test_nginx_exporter_metrics_server_requires_a_client_certificate(rendered: Path):
    conf = (rendered / "nginx-exporter-tls.conf").read_text()
    assert "listen 9113 ssl;" in conf
    assert "ssl_verify_client on;" in conf
    assert "ssl_client_certificate /etc/ragstack/tls/ca.pem;" in conf
    assert "proxy_pass http://127.0.0.1:9114/metrics;" in conf
