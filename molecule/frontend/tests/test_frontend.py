"""State and behaviour of a host converged with ragstack.platform.frontend (no backend here)."""

import sys
import time
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "backend" / "tests"))
from checks import unit_exposure, unit_main_user
from ragstack_http import request, wait_for

UI = "https://127.0.0.1:3000"
UNIT = "ragstack-ui"


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host("docker://frontend-debian12")


def test_runs_as_its_own_user(host):
    service = host.service(UNIT)
    assert service.is_running and service.is_enabled
    assert unit_main_user(host, UNIT) == "ragstack-ui"


def test_release_layout_and_no_node_on_the_host(host):
    link = host.file("/opt/ragstack/current/ui")
    assert link.is_symlink and link.linked_to.startswith("/opt/ragstack/releases/")
    assert host.file(f"{link.linked_to}/.installed").is_file
    assert host.file(f"{link.linked_to}/app/.web/build/client/index.html").is_file
    for tool in ("node", "npm", "bun"):
        assert host.run(f"command -v {tool}").rc != 0, f"{tool} is installed"
    # The release directory is read-only to the service: its writable copy is in the state dir.
    assert host.file(f"{link.linked_to}/app").user == "root"
    assert host.file("/var/lib/ragstack-ui/web/build/client/index.html").is_file


def test_env_file_is_root_only_and_holds_no_key(host):
    env = host.file("/etc/ragstack/ui.env")
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)
    assert "RAGSTACK_UI_API_KEY" not in env.content_string
    assert 'RAGSTACK_UI_BACKEND_URL="https://' in env.content_string
    assert 'RAGSTACK_UI_ALLOWED_ORIGINS="https://' in env.content_string


def test_unit_exposure_is_at_most_2(host):
    exposure = unit_exposure(host, f"{UNIT}.service")
    print(f"\nsystemd-analyze security {UNIT}.service: {exposure}")
    assert exposure <= 2.0


def test_serves_health_pages_and_assets(host):
    health = request(host, "GET", f"{UI}/_health")
    assert health.status == 200 and health.json() == {"status": True}, health
    assert request(host, "GET", f"{UI}/ping").status == 200
    for page in ("/", "/documents", "/collections", "/status"):
        response = request(host, "GET", f"{UI}{page}")
        assert response.status == 200, (page, response)
        assert "<html" in response.text.lower()
    assert host.socket("tcp://0.0.0.0:3000").is_listening


def test_comes_back_after_a_restart_and_a_crash(host):
    host.check_output(f"systemctl restart {UNIT}")
    assert wait_for(host, f"{UI}/_health").status == 200
    before = host.check_output(f"systemctl show -p MainPID --value {UNIT}")
    host.check_output(f"kill -9 {before}")
    time.sleep(3)
    assert wait_for(host, f"{UI}/_health").status == 200
    assert host.check_output(f"systemctl show -p MainPID --value {UNIT}") != before
