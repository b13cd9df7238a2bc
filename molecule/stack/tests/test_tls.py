"""TLS between the tiers (issue 17): Redis, ChromaDB, the backend's API and the UI speak only TLS,
with certificates signed by the collection's internal CA, and Prometheus watches those
certificates' expiry. nginx reaching the backend and the UI through them (verified against the CA,
by service name) is what every request through nginx in test_stack.py goes through. The monitoring
tier (Prometheus, Alertmanager, the exporters) serves HTTPS only to clients with a certificate of
that CA: Prometheus scrapes with its own."""

import json
import shlex
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "backend" / "tests"))
from ragstack_http import MONITOR, request

TLS = "/etc/ragstack/tls"
CA = f"{TLS}/ca.pem"
PROMETHEUS = "https://127.0.0.1:9090"
# port, the certificate's name (/etc/ragstack/tls/NAME), its service's group, a plaintext request
# (CRLF written as the two characters backslash-r/backslash-n: PLAIN turns them back)
INNER = [
    (6379, "redis", "redis", r"PING\r\n"),
    (8002, "chromadb", "chromadb", r"GET /api/v2/heartbeat HTTP/1.0\r\n\r\n"),
    (8000, "backend", "ragstack-backend", r"GET /health HTTP/1.0\r\n\r\n"),
    (3000, "frontend", "ragstack-ui", r"GET /_health HTTP/1.0\r\n\r\n"),
]
# Sends a plaintext request, prints the repr of what came back (b'' when the server closed).
PLAIN = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(sys.argv[3].replace(chr(92) + 'r', chr(13)).replace(chr(92) + 'n', chr(10)).encode())
try:
    print(repr(s.recv(256)))
except OSError as error:
    print(repr(error))
"""


# port, the certificate's name, whether it listens on loopback only: HTTPS, client certificate
# required (exporter-toolkit's web config; redis_exporter's -tls-server-* flags; nginx in front of
# the nginx exporter, which cannot ask for one itself).
MONITORING = [
    (9090, "prometheus", False),
    (9093, "alertmanager", False),
    (9100, "node-exporter", False),
    (9121, "redis-exporter", False),
    (9113, "nginx-exporter", False),
    (9115, "blackbox-exporter", True),
]
# Every private key on the host: one per service, the CA's never.
KEYS = sorted(
    f"/etc/ragstack/tls/{name}/key.pem"
    for name in [inner[1] for inner in INNER] + [m[1] for m in MONITORING]
)


def s_client(host, address: str, port: int, ca: str | None, client: str = ""):
    """openssl s_client to address:port, verifying the chain (and the IP) or failing; without
    `ca` against the system's public CAs; `client` presents the certificate of that name."""
    verify = f"-CAfile {ca}" if ca else ""
    if client:
        verify += f" -cert {TLS}/{client}/cert.pem -key {TLS}/{client}/key.pem"
    return host.run(
        f"openssl s_client -connect {address}:{port} -verify_return_error -verify_ip {address}"
        f" {verify} -brief </dev/null 2>&1"
    )


@pytest.mark.parametrize(("port", "name", "group", "plaintext"), INNER)
def test_plaintext_gets_no_answer(host, address, port, name, group, plaintext):
    reply = host.check_output(
        f"python3 -c {shlex.quote(PLAIN)} {address} {port} {shlex.quote(plaintext)}"
    )
    # Redis would answer -NOAUTH, the others an HTTP status line: none reaches the client.
    assert "NOAUTH" not in reply and "PONG" not in reply and "HTTP/1" not in reply, (name, reply)


@pytest.mark.parametrize(("port", "name", "group", "plaintext"), INNER)
def test_tls_verifies_against_the_internal_ca_only(host, address, port, name, group, plaintext):
    trusted = s_client(host, address, port, CA)
    assert trusted.rc == 0 and "Verification: OK" in trusted.stdout, (name, trusted.stdout)
    untrusted = s_client(host, address, port, None)
    assert untrusted.rc != 0, (name, untrusted.stdout)
    assert "verify" in untrusted.stdout.lower(), (name, untrusted.stdout)


@pytest.mark.parametrize(("port", "name", "group", "plaintext"), INNER)
def test_certificate_signed_by_the_ca_and_key_private(host, address, port, name, group, plaintext):
    cert = f"/etc/ragstack/tls/{name}/cert.pem"
    verify = host.run(f"openssl verify -CAfile {CA} {cert}")
    assert verify.rc == 0, verify.stdout + verify.stderr
    names = host.check_output(f"openssl x509 -noout -ext subjectAltName -in {cert}")
    assert f"IP Address:{address}" in names and "IP Address:127.0.0.1" in names, names
    # The service's own name, the one nginx verifies for a pool of backends or UIs.
    assert f"DNS:{name}.ragstack.internal" in names, names
    key = host.file(f"/etc/ragstack/tls/{name}/key.pem")
    assert (key.user, key.group, key.mode) == ("root", group, 0o640)
    # The CA's key never reaches a host: the services' own keys are the only ones there.
    keys = host.run("grep -rl 'PRIVATE KEY' /etc/ragstack/tls").stdout.split()
    assert sorted(keys) == KEYS


@pytest.mark.parametrize(
    "job",
    [
        "redis-tls",
        "chromadb-tls",
        "backend-tls",
        "frontend-tls",
        "prometheus-tls",
        "alertmanager-tls",
        "node-tls",
        "redis-exporter-tls",
        "nginx-exporter-tls",
    ],
)
def test_certificate_expiry_is_monitored(host, job):
    """The blackbox probe's handshake succeeds against the CA and exports the expiry (about 90
    days out), which TLSCertificateExpiring watches."""
    query = urllib.parse.quote(f'probe_ssl_earliest_cert_expiry{{job="{job}"}} - time()')
    success = urllib.parse.quote(f'probe_success{{job="{job}"}}')
    deadline = time.monotonic() + 90
    while True:
        left = request(host, "GET", f"{PROMETHEUS}/api/v1/query?query={query}", **MONITOR).json()
        ok = request(host, "GET", f"{PROMETHEUS}/api/v1/query?query={success}", **MONITOR).json()
        if (left["data"]["result"] and ok["data"]["result"]) or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert ok["data"]["result"], json.dumps(ok)
    assert float(ok["data"]["result"][0]["value"][1]) == 1, json.dumps(ok)
    seconds_left = float(left["data"]["result"][0]["value"][1])
    assert 80 * 86400 < seconds_left <= 90 * 86400, seconds_left
    rules = request(host, "GET", f"{PROMETHEUS}/api/v1/rules", **MONITOR).json()
    names = [r["name"] for g in rules["data"]["groups"] for r in g["rules"]]
    assert "TLSCertificateExpiring" in names


def where(address: str, loopback: bool) -> str:
    return "127.0.0.1" if loopback else address


@pytest.mark.parametrize(("port", "name", "loopback"), MONITORING)
def test_monitoring_plaintext_is_refused(host, address, port, name, loopback):
    plaintext = r"GET /metrics HTTP/1.0\r\n\r\n"
    at = where(address, loopback)
    reply = host.check_output(
        f"python3 -c {shlex.quote(PLAIN)} {at} {port} {shlex.quote(plaintext)}"
    )
    # Go's TLS servers and nginx answer a plaintext request 400, with no metrics.
    assert " 400 " in reply and "# HELP" not in reply, (name, reply)


@pytest.mark.parametrize(("port", "name", "loopback"), MONITORING)
def test_monitoring_without_client_certificate_is_refused(host, address, port, name, loopback):
    url = f"https://{where(address, loopback)}:{port}/metrics"
    anonymous = request(host, "GET", url)
    assert anonymous.status != 200 and "# HELP" not in anonymous.text, (name, anonymous)
    scraped = request(host, "GET", url, **MONITOR)
    assert scraped.status == 200 and "# HELP" in scraped.text, (name, scraped)


@pytest.mark.parametrize(("port", "name", "loopback"), MONITORING)
def test_monitoring_certificate_verifies_against_the_internal_ca(
    host, address, port, name, loopback
):
    at = where(address, loopback)
    trusted = s_client(host, at, port, CA, client="prometheus")
    assert trusted.rc == 0 and "Verification: OK" in trusted.stdout, (name, trusted.stdout)
    served = host.check_output(
        f"openssl s_client -connect {at}:{port} -cert {TLS}/prometheus/cert.pem"
        f" -key {TLS}/prometheus/key.pem </dev/null 2>/dev/null | openssl x509 -noout -pubkey"
    )
    own = host.check_output(f"openssl x509 -noout -pubkey -in {TLS}/{name}/cert.pem")
    assert served == own, name
    key = host.file(f"{TLS}/{name}/key.pem")
    group = "root" if name == "nginx-exporter" else "prometheus"
    assert (key.user, key.group, key.mode) == ("root", group, 0o640), name
