"""The edge: nginx + certbot on edge-lb, a real ACME server (pebble on edge-acme), and two
backend/UI test doubles (edge-app1, edge-app2). Requests go from the controller to the lb's
address with the certificate's name as SNI/Host, as a browser would."""

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import testinfra
from cryptography import x509

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from checks import reachable, unit_exposure

SCENARIO = Path(__file__).resolve().parents[1]
PROJECT = SCENARIO.parents[1]
DOMAIN = "edge-lb.ragstack.test"
BACKENDS = {"edge-app1", "edge-app2"}
ACME_CA_BUNDLE = "/etc/letsencrypt/ragstack-acme-ca.pem"
JSON = {"Content-Type": "application/json"}
SECURITY_HEADERS = (
    "strict-transport-security",
    "content-security-policy",
    "x-content-type-options",
    "referrer-policy",
    "x-frame-options",
)

lb = testinfra.get_host("docker://edge-lb")
acme = testinfra.get_host("docker://edge-acme")
app1 = testinfra.get_host("docker://edge-app1")


def address(host) -> str:
    return host.interface("eth0").addresses[0]


LB_IP = address(lb)


@pytest.fixture(scope="module")
def pebble_root(tmp_path_factory) -> Path:
    """Pebble's issuing root (new at every pebble start), from its management interface."""
    listener_ca = tmp_path_factory.mktemp("pebble") / "listener-ca.pem"
    listener_ca.write_text(acme.file("/etc/pebble/ca.pem").content_string)
    context = ssl.create_default_context(cafile=str(listener_ca))
    context.check_hostname = False
    conn = http.client.HTTPSConnection(address(acme), 15000, context=context, timeout=10)
    conn.request("GET", "/roots/0")
    root = listener_ca.parent / "root.pem"
    root.write_bytes(conn.getresponse().read())
    return root


def lb_connection(port: int = 443, context: ssl.SSLContext | None = None, timeout: float = 10):
    """An HTTP(S) connection to the lb's address that sends DOMAIN as SNI and Host."""
    if port == 443:
        if context is None:
            context = ssl._create_unverified_context()
        conn = http.client.HTTPSConnection(DOMAIN, port, context=context, timeout=timeout)
    else:
        conn = http.client.HTTPConnection(DOMAIN, port, timeout=timeout)
    conn._create_connection = lambda *_args, **_kwargs: socket.create_connection(
        (LB_IP, port), timeout=timeout
    )
    return conn


def get(path: str, method: str = "GET", port: int = 443, **kwargs):
    conn = lb_connection(port)
    try:
        conn.request(method, path, **kwargs)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def served_certificate() -> x509.Certificate:
    context = ssl._create_unverified_context()
    with (
        socket.create_connection((LB_IP, 443), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=DOMAIN) as tls,
    ):
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def backends_answering(count: int, path: str = "/health") -> list[str | None]:
    answers = []
    for _ in range(count):
        status, headers, _body = get(path)
        assert status == 200, (status, headers)
        answers.append(headers.get("x-backend"))
    return answers


def test_nginx_configuration_is_valid_and_running():
    assert lb.run("nginx -t").rc == 0
    assert lb.service("nginx").is_running
    assert lb.service("nginx").is_enabled


def test_nginx_sandbox_exposure():
    exposure = unit_exposure(lb, "nginx.service")
    print(f"\nsystemd-analyze security nginx.service: {exposure}")
    assert exposure <= 5.0


def test_served_certificate_comes_from_pebble(pebble_root):
    context = ssl.create_default_context(cafile=str(pebble_root))
    conn = lb_connection(context=context)  # verifies chain and name against pebble's root
    conn.request("GET", "/health")
    assert conn.getresponse().status == 200
    conn.close()
    cert = served_certificate()
    issuer = cert.issuer.rfc4514_string()
    assert "Pebble" in issuer, issuer
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [DOMAIN]
    print(f"\nserved certificate: serial {cert.serial_number:x}, issuer {issuer}")


def test_http_redirects_to_https_except_the_acme_challenge():
    status, headers, _ = get("/v1/collections?x=1", port=80)
    assert status == 301
    assert headers["location"] == f"https://{DOMAIN}/v1/collections?x=1"
    challenges = "/var/www/letsencrypt/.well-known/acme-challenge"
    lb.check_output(f"mkdir -p {challenges} && echo probe-token > {challenges}/edge-probe")
    try:
        status, _, body = get("/.well-known/acme-challenge/edge-probe", port=80)
    finally:
        lb.run(f"rm -f {challenges}/edge-probe")
    assert (status, body) == (200, b"probe-token\n")


@pytest.mark.parametrize("path", ["/", "/v1/collections", "/health", "/metrics", "/nope/../"])
def test_security_headers_on_every_response(path):
    status, headers, _ = get(path)
    missing = [name for name in SECURITY_HEADERS if name not in headers]
    assert not missing, (path, status, headers)
    assert "max-age=63072000" in headers["strict-transport-security"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers.get("server") == "nginx"  # no version


def test_metrics_is_not_public_but_health_and_ready_are():
    status, headers, _ = get("/metrics")
    assert status == 404 and "x-backend" not in headers
    for path in ("/health", "/ready"):
        status, headers, _ = get(path)
        assert status == 200 and headers["x-backend"] in BACKENDS


def test_disallowed_method_is_refused_by_nginx():
    status, headers, _ = get("/v1/collections", method="TRACE")
    assert status == 405 and "x-backend" not in headers


def test_upload_limit_matches_the_backend():
    config = lb.check_output("nginx -T 2>/dev/null")
    assert "client_max_body_size 53477376;" in config  # 50 MiB upload + 1 MiB multipart envelope
    status, headers, _ = get(
        "/v1/collections/docs/documents",
        method="POST",
        headers={"Content-Length": str(53477376 + 1), "Content-Type": "application/octet-stream"},
        body=b"",
    )
    assert status == 413 and "x-backend" not in headers


def test_load_is_spread_over_every_app_host():
    seen = backends_answering(12)
    assert set(seen) == BACKENDS, seen


def test_a_stopped_backend_costs_no_failed_request():
    app1.run("systemctl stop edge-backend-double")
    try:
        seen = backends_answering(30)  # asserts each answer is a 200
        assert set(seen) == {"edge-app2"}, seen
    finally:
        app1.run("systemctl start edge-backend-double")
    # Back in service once fail_timeout has passed.
    deadline = time.monotonic() + 30
    while "edge-app1" not in backends_answering(4):
        assert time.monotonic() < deadline, "edge-app1 did not come back"
        time.sleep(1)


def test_chat_stream_is_not_buffered():
    conn = lb_connection()
    started = time.monotonic()
    conn.request(
        "POST", "/v1/chat", body=b'{"stream": true}', headers={"Content-Type": "application/json"}
    )
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/event-stream")
    first = response.readline()
    first_at = time.monotonic() - started
    rest = response.read()
    total = time.monotonic() - started
    conn.close()
    assert first.startswith(b"event: citations")
    assert b"event: done" in rest
    # The double sends three events 0.6 s apart: the first must arrive long before the last.
    assert first_at < 0.5 and total > 1.1, (first_at, total)


def test_ui_websocket_upgrade_passes_through():
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /_event HTTP/1.1\r\nHost: {DOMAIN}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    context = ssl._create_unverified_context()
    context.set_alpn_protocols(["http/1.1"])
    with (
        socket.create_connection((LB_IP, 443), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=DOMAIN) as tls,
    ):
        tls.sendall(request.encode())
        head = tls.recv(4096).decode()
    expected = base64.b64encode(
        hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    ).decode()
    assert head.startswith("HTTP/1.1 101"), head
    assert f"Sec-WebSocket-Accept: {expected}" in head, head


def test_stub_status_only_on_loopback():
    local = lb.run(
        'python3 -c "import urllib.request;'
        "print(urllib.request.urlopen('http://127.0.0.1:8080/stub_status').read().decode())\""
    )
    assert "Active connections" in local.stdout, local.stderr
    listeners = lb.check_output("ss -Htln sport = :8080")
    assert "127.0.0.1:8080" in listeners and "0.0.0.0:8080" not in listeners, listeners
    assert not reachable(app1, LB_IP, 8080)


ACCEPTED = "accepted_cipher_suites"


def test_tls_grade_is_mozilla_intermediate(pebble_root):
    sslyze = PROJECT / ".cache/edge-sslyze/bin/sslyze"
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "sslyze.json"
        run = subprocess.run(
            [
                str(sslyze),
                "--mozilla_config=intermediate",
                f"--certinfo_ca_file={pebble_root}",
                "--resum",
                f"--json_out={report}",
                f"{DOMAIN}:443{{{LB_IP}}}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        result = json.loads(report.read_text())["server_scan_results"][0]["scan_result"]
    print("\n" + run.stdout[-3000:])
    accepted = {
        version: [
            s["cipher_suite"]["name"] for s in result[field]["result"]["accepted_cipher_suites"]
        ]
        for version, field in [
            ("SSLv2", "ssl_2_0_cipher_suites"),
            ("SSLv3", "ssl_3_0_cipher_suites"),
            ("TLSv1.0", "tls_1_0_cipher_suites"),
            ("TLSv1.1", "tls_1_1_cipher_suites"),
            ("TLSv1.2", "tls_1_2_cipher_suites"),
            ("TLSv1.3", "tls_1_3_cipher_suites"),
        ]
    }
    print(f"accepted suites: {json.dumps(accepted, indent=1)}")
    assert not any(accepted[v] for v in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1")), accepted
    assert accepted["TLSv1.2"] and accepted["TLSv1.3"], accepted
    weak = [s for s in accepted["TLSv1.2"] if "CBC" in s or s.endswith("_SHA") or "RSA_WITH" in s]
    assert not weak, weak
    tickets = result["session_resumption"]["result"]["tls_ticket_resumption_result"]
    assert tickets != "FULLY_SUPPORTED", tickets
    assert "OK - Compliant" in run.stdout, run.stdout[-3000:]
    assert run.returncode == 0


def test_api_burst_gets_429_from_nginx():
    time.sleep(2)  # let the rate bucket refill after the earlier tests

    def one(_):
        status, headers, _ = get("/v1/collections")
        return status, headers.get("x-backend")

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(one, range(40)))
    statuses = [status for status, _ in results]
    limited = [backend for status, backend in results if status == 429]
    print(f"\nburst of 40: {statuses.count(200)} x 200, {statuses.count(429)} x 429")
    assert limited and all(backend is None for backend in limited)  # answered by nginx
    assert set(statuses) <= {200, 429}
    assert statuses.count(200) >= 10  # the burst allowance
    time.sleep(2)


def test_renewal_timer_trusts_the_acme_ca():
    assert lb.service("certbot.timer").is_enabled
    assert lb.service("certbot.timer").is_running
    environment = lb.check_output("systemctl show certbot.service -p Environment")
    assert f"REQUESTS_CA_BUNDLE={ACME_CA_BUNDLE}" in environment
    assert lb.file("/etc/letsencrypt/renewal-hooks/deploy/50-ragstack-reload.sh").mode == 0o755


def test_forced_renewal_reloads_nginx_with_the_new_certificate():
    before = served_certificate().serial_number
    master = lb.check_output("cat /run/nginx.pid")
    lb.check_output(
        f"env REQUESTS_CA_BUNDLE={ACME_CA_BUNDLE} certbot renew --force-renewal "
        "--no-random-sleep-on-renew --non-interactive"
    )
    deadline = time.monotonic() + 20
    while (after := served_certificate().serial_number) == before:
        assert time.monotonic() < deadline, "nginx still serves the old certificate"
        time.sleep(0.5)
    assert lb.check_output("cat /run/nginx.pid") == master  # reloaded, not restarted
    print(f"\nrenewal: serial {before:x} -> {after:x}")


def rolling(action: str, backend: str) -> None:
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    assert inventory, "run by molecule (MOLECULE_INVENTORY_FILE)"
    subprocess.run(
        [
            "ansible-playbook",
            "-i",
            inventory,
            str(SCENARIO / "rolling.yml"),
            "-e",
            f"edge_backend={backend}",
            "-e",
            f"edge_action={action}",
        ],
        check=True,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(PROJECT / ".cache/collections")},
        timeout=300,
    )


def drained_lines(backend: str) -> int:
    config = lb.file("/etc/nginx/nginx.conf").content_string
    return len(re.findall(rf"^\s*server \S+ [^;]* down;\s+# {backend}$", config, re.M))


def test_drain_takes_a_backend_out_and_undrain_puts_it_back():
    rolling("drain", "edge-app1")
    try:
        assert set(backends_answering(12)) == {"edge-app2"}
        assert lb.run("nginx -t").rc == 0
        assert drained_lines("edge-app1") == 2  # API and UI upstreams
    finally:
        rolling("undrain", "edge-app1")
    assert drained_lines("edge-app1") == 0
    assert set(backends_answering(12)) == BACKENDS
