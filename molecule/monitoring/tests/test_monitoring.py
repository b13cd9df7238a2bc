"""Monitoring on lab hosts: exporters scraped, rules loaded, a Redis outage reaches Alertmanager."""

import json
import sys
import time
from pathlib import Path

import pytest
import testinfra

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "molecule" / "shared"))
from checks import reachable, unit_exposure  # noqa: E402

SERVER = testinfra.get_host("docker://mon-server")
CACHE = testinfra.get_host("docker://mon-cache")
# HTTPS, verified against the internal CA, with Prometheus' client certificate (required).
PROMETHEUS = "https://127.0.0.1:9090"
ALERTMANAGER = "https://127.0.0.1:9093"
TLS = "/etc/ragstack/tls"


def fetch(host, url: str, client: str | None = "prometheus"):
    """GET `url` from inside `host` (the firewall keeps the controller out), verifying the server
    against the internal CA, presenting the certificate /etc/ragstack/tls/`client` (None: none)."""
    load = f"c.load_cert_chain('{TLS}/{client}/cert.pem', '{TLS}/{client}/key.pem'); "
    script = (
        "import ssl,urllib.request,sys; "
        f"c = ssl.create_default_context(cafile='{TLS}/ca.pem'); "
        + (load if client else "")
        + f"sys.stdout.write(urllib.request.urlopen('{url}', timeout=5, context=c).read().decode())"
    )
    return host.run(f'python3 -c "{script}"')


def get_json(host, url: str):
    result = fetch(host, url)
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def wait_for(predicate, timeout: float, interval: float = 1.0):
    """Poll `predicate` until it returns something truthy; return (value, seconds waited)."""
    started = time.monotonic()
    while True:
        value = predicate()
        if value:
            return value, time.monotonic() - started
        if time.monotonic() - started > timeout:
            return value, time.monotonic() - started
        time.sleep(interval)


@pytest.mark.parametrize(
    ("host", "unit"),
    [
        (SERVER, "prometheus-node-exporter"),
        (CACHE, "prometheus-node-exporter"),
        (CACHE, "prometheus-redis-exporter"),
        (SERVER, "prometheus"),
        (SERVER, "prometheus-alertmanager"),
        (SERVER, "prometheus-blackbox-exporter"),
        (SERVER, "prometheus-nginx-exporter"),
    ],
)
def test_units_run_hardened(host, unit):
    assert host.service(unit).is_running
    assert host.service(unit).is_enabled
    exposure = unit_exposure(host, unit)
    print(f"exposure {unit} on {host.backend.name}: {exposure}")
    assert exposure <= 5.0


def test_configs_pass_their_checkers():
    SERVER.check_output("promtool check config /etc/prometheus/prometheus.yml")
    SERVER.check_output("amtool check-config /etc/prometheus/alertmanager.yml")
    SERVER.check_output(
        "prometheus-blackbox-exporter --config.check --config.file=/etc/prometheus/blackbox.yml"
    )


def test_secrets_not_world_readable():
    assert CACHE.file("/etc/default/prometheus-redis-exporter").mode == 0o600
    assert SERVER.file("/etc/prometheus/alertmanager.yml").mode == 0o640


def test_every_inventory_target_is_up():
    expected = {
        ("node", "mon-server"),
        ("node", "mon-cache"),
        ("redis", "mon-cache"),
        ("nginx", "mon-server"),
        ("prometheus", "mon-server"),
        ("alertmanager", "mon-server"),
        ("blackbox-http", "http://127.0.0.1/"),
    }

    def up_targets():
        targets = get_json(SERVER, f"{PROMETHEUS}/api/v1/targets")["data"]["activeTargets"]
        up = {(t["labels"]["job"], t["labels"]["instance"]) for t in targets if t["health"] == "up"}
        return up if expected <= up else None

    up, _ = wait_for(up_targets, timeout=30)
    assert up, get_json(SERVER, f"{PROMETHEUS}/api/v1/targets")["data"]["activeTargets"]
    # The probes themselves succeed (the HTTP one, and the TLS handshakes with the exporters and
    # Redis), not just the scrape of the exporter; nginx answers stub_status.
    probes = set()
    for query in ("probe_success", "nginx_up", "redis_up"):
        result = get_json(SERVER, f"{PROMETHEUS}/api/v1/query?query={query}")["data"]["result"]
        values = {(r["metric"]["job"], r["metric"]["instance"]): r["value"][1] for r in result}
        assert values and set(values.values()) == {"1"}, (query, values)
        probes |= {job for job, _ in values} if query == "probe_success" else set()
    monitoring_tls = {"node-tls", "prometheus-tls", "alertmanager-tls", "redis-exporter-tls"}
    assert monitoring_tls | {"redis-tls", "nginx-exporter-tls", "blackbox-http"} <= probes, probes


@pytest.mark.parametrize(
    ("host", "url", "client"),
    [
        (SERVER, f"{PROMETHEUS}/metrics", "prometheus"),
        (SERVER, f"{ALERTMANAGER}/metrics", "prometheus"),
        (SERVER, "https://127.0.0.1:9100/metrics", "prometheus"),
        (SERVER, "https://127.0.0.1:9113/metrics", "prometheus"),
        (SERVER, "https://127.0.0.1:9115/metrics", "prometheus"),
        # The cache host has no Prometheus: its exporter's own certificate (same CA) is accepted.
        (CACHE, "https://127.0.0.1:9121/metrics", "redis-exporter"),
    ],
)
def test_metrics_only_for_a_client_certificate_of_the_internal_ca(host, url, client):
    """Each exporter answers a certificate of the internal CA, and neither a TLS client without
    one nor plain HTTP."""
    scraped = fetch(host, url, client)
    assert scraped.rc == 0 and "# HELP" in scraped.stdout, scraped.stderr
    anonymous = fetch(host, url, client=None)
    assert anonymous.rc != 0 and "# HELP" not in anonymous.stdout
    plain = fetch(host, url.replace("https://", "http://"), client=None)
    assert plain.rc != 0 and "# HELP" not in plain.stdout


def test_alert_rules_are_loaded():
    groups = get_json(SERVER, f"{PROMETHEUS}/api/v1/rules")["data"]["groups"]
    names = {rule["name"] for group in groups for rule in group["rules"]}
    for alert in (
        "TargetDown",
        "ServiceDown",
        "RedisDown",
        "HighErrorRate",
        "TLSCertificateExpiring",
        "HighLatencyP95",
        "HostHighCpu",
        "HostHighMemory",
        "HostDiskFull",
        "BackupFailed",
        "BackupStale",
        "Deployment",
    ):
        assert alert in names


def test_exporters_reachable_from_monitoring_only():
    server_ip = SERVER.interface("eth0").addresses[0]
    cache_ip = CACHE.interface("eth0").addresses[0]
    assert reachable(SERVER, cache_ip, 9100)
    assert reachable(SERVER, cache_ip, 9121)
    # The cache host is not in the monitoring group.
    assert not reachable(CACHE, server_ip, 9100)
    assert not reachable(CACHE, server_ip, 9090)
    assert not reachable(CACHE, server_ip, 9093)


def firing(alertname: str, instance: str):
    alerts = get_json(SERVER, f"{ALERTMANAGER}/api/v2/alerts?active=true")
    return [
        a
        for a in alerts
        if a["labels"]["alertname"] == alertname and a["labels"].get("instance") == instance
    ]


def test_backup_textfile_metric_fires_backup_failed():
    textfile = "/var/lib/prometheus/node-exporter/ragstack_backup_redis.prom"
    metrics = (
        'ragstack_backup_last_status{backup="redis"} 0\n'
        'ragstack_backup_last_success_timestamp_seconds{backup="redis"} %s\n'
    )
    CACHE.check_output(
        f"printf '{metrics}' $(date +%s) > {textfile}.tmp && chmod 0644 {textfile}.tmp"
        f" && mv {textfile}.tmp {textfile}"
    )
    try:
        alerts, waited = wait_for(lambda: firing("BackupFailed", "mon-cache"), timeout=60)
        print(f"BackupFailed reached Alertmanager after {waited:.1f} s")
        assert alerts and alerts[0]["labels"]["severity"] == "warning"
        assert alerts[0]["labels"]["backup"] == "redis"
    finally:
        CACHE.run(f"rm -f {textfile}")


def test_stopping_redis_fires_redis_down_and_service_down():
    CACHE.check_output("systemctl stop redis-server")
    try:
        started = time.monotonic()
        redis_down, waited_redis = wait_for(lambda: firing("RedisDown", "mon-cache"), timeout=90)
        service_down, _ = wait_for(lambda: firing("ServiceDown", "mon-cache"), timeout=90)
        total = time.monotonic() - started
        print(f"RedisDown in Alertmanager after {waited_redis:.1f} s, ServiceDown {total:.1f} s")
        assert redis_down and redis_down[0]["labels"]["severity"] == "critical"
        assert service_down and service_down[0]["labels"]["name"] == "redis-server.service"
        # Routed by severity to the on-call receiver.
        assert {r["name"] for r in redis_down[0]["receivers"]} == {"oncall"}
    finally:
        CACHE.check_output("systemctl start redis-server")


def test_dashboards_use_metric_names_the_live_exporters_have():
    """Every non-ragstack metric in the Grafana dashboards exists in this Prometheus, which
    scrapes the real node, redis, nginx and blackbox exporters (the backend's names are
    checked against its registry in tests/monitoring)."""
    sys.path.insert(0, str(ROOT / "tests" / "monitoring"))
    from promql import metric_names, prometheus_exprs

    known = set(get_json(SERVER, f"{PROMETHEUS}/api/v1/label/__name__/values")["data"])
    # Only HTTPS probes report it, and the lab probes a plain-HTTP endpoint.
    known.add("probe_ssl_earliest_cert_expiry")
    missing = set()
    for path in (ROOT / "roles" / "grafana" / "files" / "dashboards").glob("*.json"):
        for expr in prometheus_exprs(json.loads(path.read_text())):
            missing |= {n for n in metric_names(expr) if not n.startswith("ragstack_")} - known
    assert not missing
