"""Behaviour of the llm role on llm-debian12 (asserts on the host and its API, not on tasks)."""

import sys
import time
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "backend" / "tests"))
from checks import reachable, unit_exposure, unit_main_user
from ragstack_http import request, wait_for

KEY = "molecule-llm-api-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
UNIT = "ragstack-llm"
PORT = 11434


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host("docker://llm-debian12")


@pytest.fixture(scope="module")
def app():
    return testinfra.get_host("docker://llm-app-debian12")


@pytest.fixture(scope="module")
def outsider():
    return testinfra.get_host("docker://llm-outsider-debian12")


@pytest.fixture(scope="module")
def address(host):
    return host.interface("eth0").addresses[0]


@pytest.fixture(scope="module")
def base_url(address):
    return f"http://{address}:{PORT}"


def ask(client, base_url: str, question: str, stream: bool = False):
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": question}],
        "max_tokens": 48,
        "temperature": 0,
        "stream": stream,
    }
    return request(
        client, "POST", f"{base_url}/v1/chat/completions", headers=AUTH, json=body, timeout=120
    )


def test_service_runs_as_its_own_user(host):
    assert host.service(UNIT).is_running and host.service(UNIT).is_enabled
    assert unit_main_user(host, UNIT) == "ragstack-llm"
    # The code and the model are root's: the service cannot change them.
    assert host.file("/opt/ragstack-llm/venv/bin/python").user == "root"
    model = host.file("/var/lib/ragstack-llm/models/smollm2.gguf")
    assert model.user == "root" and model.group == "ragstack-llm" and model.mode == 0o640
    assert host.run("runuser -u ragstack-llm -- test -w /var/lib/ragstack-llm/models").rc != 0


def test_unit_exposure(host):
    exposure = unit_exposure(host, f"{UNIT}.service")
    print(f"\nsystemd-analyze security {UNIT}.service: {exposure}")
    assert exposure <= 2.0


def test_installed_from_the_wheelhouse_without_an_index(host):
    assert "127.0.0.1:9" in host.file("/etc/pip.conf").content_string
    version = host.check_output(
        "/opt/ragstack-llm/venv/bin/python -c "
        "'from importlib.metadata import version; print(version(\"llama_cpp_python\"))'"
    )
    assert version == "0.3.36"
    assert not host.file("/opt/ragstack-llm/wheelhouse").exists


def test_model_is_the_pinned_file(host):
    digest = host.check_output("sha256sum /var/lib/ragstack-llm/models/smollm2.gguf").split()[0]
    assert digest == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def test_api_key_only_in_the_settings_file(host):
    settings = host.file("/etc/ragstack-llm/server.json")
    assert settings.user == "root" and settings.group == "ragstack-llm" and settings.mode == 0o640
    assert KEY in settings.content_string
    assert KEY not in host.check_output(f"systemctl cat {UNIT}")
    main_pid = host.check_output(f"systemctl show -p MainPID --value {UNIT}")
    assert KEY not in host.check_output(f"cat /proc/{main_pid}/cmdline | tr '\\0' ' '")


def test_listens_on_the_host_address_only(host, address):
    listening = host.check_output(f"ss -ltnH 'sport = :{PORT}'")
    assert f"{address}:{PORT}" in listening
    assert f"0.0.0.0:{PORT}" not in listening and f"*:{PORT}" not in listening


def test_serves_the_model_only_with_the_key(app, base_url):
    assert request(app, "GET", f"{base_url}/v1/models").status == 401
    models = request(app, "GET", f"{base_url}/v1/models", headers=AUTH)
    assert models.status == 200, models
    assert [m["id"] for m in models.json()["data"]] == ["smollm2"]


def test_generates_an_answer_and_streams_it(app, base_url):
    started = time.monotonic()
    answer = ask(app, base_url, "What is the capital of France? Answer in one word.")
    elapsed = time.monotonic() - started
    assert answer.status == 200, answer
    body = answer.json()
    text = body["choices"][0]["message"]["content"]
    tokens = body["usage"]["completion_tokens"]
    print(f"\n{tokens} tokens in {elapsed:.2f} s: {text!r}")
    assert text.strip() and tokens > 0
    streamed = ask(app, base_url, "Say hello.", stream=True)
    assert streamed.status == 200, streamed
    events = [line for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert len(events) > 2 and events[-1] == "data: [DONE]", streamed.text[-500:]


def test_port_open_to_app_hosts_only(app, outsider, address):
    assert reachable(app, address, PORT)
    assert not reachable(outsider, address, PORT)


def test_survives_a_restart(host, app, base_url):
    host.check_output(f"systemctl restart {UNIT}")
    assert wait_for(app, f"{base_url}/v1/models", headers=AUTH, timeout=90).status == 200
    assert ask(app, base_url, "Say yes.").status == 200
