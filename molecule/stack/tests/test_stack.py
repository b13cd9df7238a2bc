"""The whole stack (site.yml) on one host, end to end, and its firewall seen from outside."""

import sys
import time
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "backend" / "tests"))
from checks import unit_exposure
from ragstack_http import request, wait_for

ADMIN = {"X-API-Key": "molecule-stack-admin-key-0123456789"}
BACKEND = "http://127.0.0.1:8000"
UI = "http://127.0.0.1:3000"
# Our own units (<= 2.0) and the distribution's (<= 5.0, sandboxed by drop-ins).
OWN_UNITS = ["ragstack-backend", "ragstack-ui", "chromadb"]


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host("docker://stack-debian12")


@pytest.fixture(scope="module")
def outsider():
    return testinfra.get_host("docker://stack-outsider")


@pytest.fixture(scope="module")
def address(host):
    return host.interface("eth0").addresses[0]


def has_nginx(host) -> bool:
    return host.service("nginx").is_running


@pytest.fixture(scope="module")
def entry(host):
    """Where clients reach the API: nginx on 443 when the lb role is deployed, else the backend."""
    return "https://127.0.0.1" if has_nginx(host) else BACKEND


def units_present(host) -> list[str]:
    return [u for u in OWN_UNITS if host.service(u).is_enabled]


def test_every_tier_is_up(host):
    for unit in ["ragstack-backend", "ragstack-ui"]:
        assert host.service(unit).is_running, unit
    ready = request(host, "GET", f"{BACKEND}/ready")
    assert ready.status == 200, ready
    checks = ready.json()["checks"]
    assert checks["redis"]["ok"] and checks["chromadb"]["ok"], checks
    assert request(host, "GET", f"{UI}/_health").status == 200


@pytest.mark.parametrize("unit", OWN_UNITS)
def test_own_units_exposure(host, unit):
    if not host.service(unit).is_enabled:
        pytest.skip(f"{unit} is not deployed by site.yml yet")
    exposure = unit_exposure(host, f"{unit}.service")
    print(f"\nsystemd-analyze security {unit}.service: {exposure}")
    assert exposure <= 2.0


def test_upload_query_and_cited_answer_over_http(host, entry):
    request(host, "DELETE", f"{entry}/v1/collections/stack", headers=ADMIN)
    made = request(host, "POST", f"{entry}/v1/collections", headers=ADMIN, json={"name": "stack"})
    assert made.status == 201, made
    text = (
        "# Restoring ChromaDB\n\nStop the chromadb unit, restore /var/lib/chromadb from the "
        "nightly snapshot, then start the unit again and check its heartbeat.\n\n"
        "# Rotating API keys\n\nAdd the new key to ragstack_api_keys, deploy, then remove the "
        "old one.\n"
    )
    uploaded = request(
        host,
        "POST",
        f"{entry}/v1/collections/stack/documents",
        headers=ADMIN,
        file=("restore.md", text),
    )
    assert uploaded.status == 201, uploaded
    hits = request(
        host,
        "POST",
        f"{entry}/v1/query",
        headers=ADMIN,
        json={"collection": "stack", "query": "how do I restore chromadb"},
    )
    assert hits.status == 200, hits
    assert hits.json()["results"][0]["filename"] == "restore.md"
    answer = request(
        host,
        "POST",
        f"{entry}/v1/chat",
        headers=ADMIN,
        json={"collection": "stack", "message": "How do I restore ChromaDB?"},
    )
    assert answer.status == 200, answer
    body = answer.json()
    assert body["mode"] == "extractive" and "[1]" in body["answer"], body
    assert body["citations"][0]["filename"] == "restore.md"


def test_ui_is_served_through_the_load_balancer(host):
    if not has_nginx(host):
        pytest.skip("no nginx (lb role) in site.yml yet")
    page = request(host, "GET", "https://127.0.0.1/")
    assert page.status == 200 and "<html" in page.text.lower(), page


def restart_and_wait(host, unit: str) -> None:
    before = host.check_output(f"systemctl show -p MainPID --value {unit}")
    host.check_output(f"systemctl restart {unit}")
    deadline = time.monotonic() + 60
    while not host.service(unit).is_running and time.monotonic() < deadline:
        time.sleep(1)
    assert host.service(unit).is_running, unit
    assert host.check_output(f"systemctl show -p MainPID --value {unit}") != before


def test_every_service_comes_back_after_a_restart(host, entry):
    units = ["redis-server", *units_present(host)]
    if has_nginx(host):
        units.append("nginx")
    for unit in units:
        restart_and_wait(host, unit)
        # The backend is ready again (its Redis and ChromaDB connections recover by themselves).
        ready = wait_for(host, f"{BACKEND}/ready", timeout=120)
        assert ready.status == 200, (unit, ready)
        assert wait_for(host, f"{UI}/_health", timeout=120).status == 200, unit
    # Data survived every restart: the document is still found.
    hits = request(
        host,
        "POST",
        f"{entry}/v1/query",
        headers=ADMIN,
        json={"collection": "stack", "query": "restore chromadb snapshot"},
    )
    assert hits.status == 200 and hits.json()["results"], hits


def reachable(client, address: str, port: int) -> bool:
    probe = (
        "import socket,sys; s=socket.socket(); s.settimeout(3); "
        f"sys.exit(s.connect_ex(('{address}', {port})))"
    )
    return client.run(f'python3 -c "{probe}"').rc == 0


@pytest.mark.parametrize(
    ("port", "what"),
    [(6379, "redis"), (8002, "chromadb"), (8000, "backend"), (3000, "ui")],
)
def test_inner_ports_are_closed_to_a_host_outside_the_groups(host, outsider, address, port, what):
    # Something listens there (so a refusal would be the firewall's doing, not an idle port).
    assert (
        host.socket(f"tcp://0.0.0.0:{port}").is_listening
        or host.socket(f"tcp://{address}:{port}").is_listening
    ), f"{what} does not listen on {address}:{port}"
    assert not reachable(outsider, address, port), f"{what} ({port}) is open to the outsider"


def test_outsider_reaches_what_is_public(host, outsider, address):
    assert reachable(outsider, address, 22), "SSH should be reachable (the probe itself works)"
    if has_nginx(host):
        assert reachable(outsider, address, 443)
