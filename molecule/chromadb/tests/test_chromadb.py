"""Behaviour of the chromadb role on chromadb-debian12 (asserts on the host, not on tasks)."""

import functools
import json
import shlex
import sys
import time
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from checks import unit_exposure, unit_main_user

TOKEN = "molecule-chromadb-token-0123456789"
COLLECTIONS = "/api/v2/tenants/default_tenant/databases/default_database/collections"
CA = "/etc/ragstack/tls/ca.pem"
# A tiny HTTP client run on a lab host: prints {"status": ..., "body": ...}, status 0 when the
# connection (or the TLS handshake, verified against the CA given as PEM) cannot be made.
CLIENT = """
import json, ssl, sys, urllib.error, urllib.request
method, url, token, body, ca = sys.argv[1:6]
context = ssl.create_default_context(cadata=ca) if ca else None
headers = {"Content-Type": "application/json"}
if token:
    headers["Authorization"] = "Bearer " + token
request = urllib.request.Request(url, method=method, data=body.encode() or None, headers=headers)
try:
    with urllib.request.urlopen(request, timeout=5, context=context) as response:
        status, text = response.status, response.read().decode()
except urllib.error.HTTPError as error:
    status, text = error.code, error.read().decode()
except OSError as error:
    status, text = 0, str(error)
print(json.dumps({"status": status, "body": text}))
"""


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host("docker://chromadb-debian12")


@pytest.fixture(scope="module")
def app():
    return testinfra.get_host("docker://chromadb-app-debian12")


@pytest.fixture(scope="module")
def base_url(host):
    return f"https://{host.interface('eth0').addresses[0]}:8002"


@functools.cache
def ca_pem() -> str:
    """The internal CA's certificate, as the role installed it on the ChromaDB host."""
    return testinfra.get_host("docker://chromadb-debian12").file(CA).content_string


def call(client, method: str, url: str, token: str = "", body: dict | None = None) -> tuple:
    argv = [method, url, token, json.dumps(body) if body is not None else "", ca_pem()]
    command = f"python3 -c {shlex.quote(CLIENT)} " + " ".join(shlex.quote(a) for a in argv)
    reply = json.loads(client.check_output(command))
    try:
        return reply["status"], json.loads(reply["body"])
    except json.JSONDecodeError:
        return reply["status"], reply["body"]


def wait_for_heartbeat(client, base_url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if call(client, "GET", f"{base_url}/api/v2/heartbeat")[0] == 200:
            return
        time.sleep(1)
    raise AssertionError(f"no heartbeat from {base_url} after {timeout}s")


def test_service_runs_as_its_own_user(host):
    assert host.service("chromadb").is_running
    assert host.service("chromadb").is_enabled
    assert unit_main_user(host, "chromadb") == "chromadb"
    data = host.file("/var/lib/chromadb")
    assert data.user == "chromadb" and data.mode == 0o700
    # The code is root's: the service cannot modify it.
    assert host.file("/opt/chromadb/venv/bin/uvicorn").user == "root"
    assert host.run("runuser -u chromadb -- test -w /opt/chromadb/venv/bin").rc != 0


def test_installed_from_the_wheelhouse_without_an_index(host):
    # prepare.yml pointed pip at a dead index: the pins can only have come from the wheelhouse.
    assert "127.0.0.1:9" in host.file("/etc/pip.conf").content_string
    version = host.check_output(
        "/opt/chromadb/venv/bin/python -c "
        "'from importlib.metadata import version; print(version(\"chromadb\"))'"
    )
    assert version == "1.5.9"
    assert not host.file("/opt/chromadb/wheelhouse").exists


def test_token_only_in_the_root_only_environment_file(host):
    env = host.file("/etc/chromadb/chromadb.env")
    assert env.user == "root" and env.mode == 0o600
    assert env.contains(f"^CHROMA_SERVER_AUTHN_CREDENTIALS={TOKEN}$")
    assert TOKEN not in host.check_output("systemctl cat chromadb")


def test_listens_on_the_host_address_only(host, base_url):
    listening = host.check_output("ss -ltnH 'sport = :8002'")
    assert base_url.removeprefix("https://") in listening
    assert "0.0.0.0:8002" not in listening and "*:8002" not in listening


def test_heartbeat_answers(app, base_url):
    status, body = call(app, "GET", f"{base_url}/api/v2/heartbeat")
    assert status == 200 and "nanosecond heartbeat" in body


def test_tls_only(host, app, base_url):
    """Plain HTTP on the port gets no answer; the certificate is the internal CA's."""
    status, body = call(app, "GET", base_url.replace("https://", "http://") + "/api/v2/heartbeat")
    assert status == 0, body
    verify = host.run(f"openssl verify -CAfile {CA} /etc/ragstack/tls/chromadb/cert.pem")
    assert verify.rc == 0, verify.stdout + verify.stderr
    key = host.file("/etc/ragstack/tls/chromadb/key.pem")
    assert (key.user, key.group, key.mode) == ("root", "chromadb", 0o640)


@pytest.mark.parametrize("token", ["", "wrong-token-0123456789"])
def test_requests_without_the_token_are_rejected(app, base_url, token):
    status, _ = call(app, "GET", base_url + COLLECTIONS, token)
    assert status in (401, 403)
    status, _ = call(app, "POST", base_url + COLLECTIONS, token, {"name": "intruder"})
    assert status in (401, 403)


def test_collection_add_query_and_survive_restart(host, app, base_url):
    status, collection = call(
        app, "POST", base_url + COLLECTIONS, TOKEN, {"name": "molecule-docs", "get_or_create": True}
    )
    assert status == 200, collection
    records = f"{base_url}{COLLECTIONS}/{collection['id']}"
    add = {"ids": ["alpha", "beta"], "embeddings": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]}
    status, body = call(app, "POST", f"{records}/add", TOKEN, add)
    assert status in (200, 201), body
    query = {"query_embeddings": [[0.9, 0.1, 0.0]], "n_results": 1, "include": ["distances"]}
    status, result = call(app, "POST", f"{records}/query", TOKEN, query)
    assert status == 200 and result["ids"] == [["alpha"]], result

    host.check_output("systemctl restart chromadb")
    wait_for_heartbeat(app, base_url)
    status, result = call(app, "POST", f"{records}/query", TOKEN, query)
    assert status == 200 and result["ids"] == [["alpha"]], result
    status, count = call(app, "GET", f"{records}/count", TOKEN)
    assert status == 200 and count == 2


def test_port_closed_to_hosts_outside_the_groups(base_url):
    outsider = testinfra.get_host("docker://chromadb-outsider-debian12")
    status, body = call(outsider, "GET", f"{base_url}/api/v2/heartbeat")
    assert status == 0, body


def test_unit_sandboxed(host):
    exposure = unit_exposure(host, "chromadb.service")
    print(f"\nsystemd-analyze security chromadb.service: {exposure}")
    assert exposure <= 2.0
