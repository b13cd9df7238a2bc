"""The rolling update under load: rolling-lb (nginx, self-signed TLS), rolling-app1/2 (backend +
UI), rolling-data (ChromaDB + Redis). bench/load.py runs on the controller and sends POST /v1/query
through nginx over HTTPS the whole time; playbooks/rolling_update.yml runs as an operator would run
it, against the scenario's inventory. The tests run in file order (each starts from the state the
previous one left).

Releases (built on the controller by converge.yml): BASE (pyproject's version, what converge
deployed), BASE-next (scripts/build-release --version BASE-next: the same sources under a new
version label), BASE-broken (molecule/rolling/broken_release.py: a copy of BASE-next whose embedding
model file is truncated, so its backend installs but never becomes ready).
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from leaks import Watched, inventory_secrets, leaks, watch

SCENARIO = Path(__file__).resolve().parents[1]
PROJECT = SCENARIO.parents[1]
BASE = re.search(r'(?m)^version = "([^"]+)"$', (PROJECT / "pyproject.toml").read_text()).group(1)
NEXT = f"{BASE}-next"
BROKEN = f"{BASE}-broken"
COLLECTION = "rolling"
ADMIN_KEY = "molecule-rolling-admin-key-0123456789"
LOAD_KEY = "molecule-rolling-load-key-0123456789"
SMOKE_KEY = "molecule-rolling-smoke-key-0123456789"
RATE_PER_MIN = 500
APPS = ("rolling-app1", "rolling-app2")

lb = testinfra.get_host("docker://rolling-lb")
data = testinfra.get_host("docker://rolling-data")
apps = {name: testinfra.get_host(f"docker://{name}") for name in APPS}
LB_URL = f"https://{lb.interface('eth0').addresses[0]}"
BIN = Path(sys.executable).parent


class Load:
    """bench/load.py in the background at RATE_PER_MIN through nginx; stop() returns its figures."""

    def __init__(self, tmp_path: Path, name: str) -> None:
        self.result = tmp_path / f"{name}.json"
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(PROJECT / "bench" / "load.py"),
                *("--url", LB_URL, "--insecure", "--api-key", LOAD_KEY),
                *("--collection", COLLECTION, "--rate", str(RATE_PER_MIN), "--duration", "3600"),
                *("--json", str(self.result)),
            ],
        )
        self.started = time.monotonic()

    def stop(self) -> dict:
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(timeout=120) == 0
        figures = json.loads(self.result.read_text())
        print(
            f"\nload: {figures['seconds']} s, sent {figures['sent']}, ok {figures['ok']},"
            f" errors {figures['errors']} {figures['error_kinds']},"
            f" P50/P95/P99 {figures['p50'] * 1000:.0f}/{figures['p95'] * 1000:.0f}/"
            f"{figures['p99'] * 1000:.0f} ms, max {figures['max'] * 1000:.0f} ms"
        )
        return figures


# Every rolling_update.yml run of the module: (its output, what the lab hosts saw meanwhile).
UPDATES: list[tuple[str, Watched]] = []


def rolling_update(version: str, *extra: str) -> subprocess.CompletedProcess:
    """rolling_update.yml as an operator runs it, but with -vvv --diff while the lab hosts'
    processes are sampled (UPDATES keeps what each run showed, for the secret check)."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    assert inventory, "run by molecule (MOLECULE_INVENTORY_FILE)"
    started = time.monotonic()
    run, seen = watch(
        ("rolling-lb", *APPS, "rolling-data"),
        lambda: subprocess.run(
            [
                str(BIN / "ansible-playbook"),
                *("-i", inventory, str(PROJECT / "playbooks" / "rolling_update.yml")),
                *("-e", f"ragstack_release_version={version}", "-vvv", "--diff", *extra),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(PROJECT / ".cache/collections")},
            timeout=3600,
            check=False,
        ),
    )
    UPDATES.append((run.stdout + run.stderr, seen))
    took = time.monotonic() - started
    print(f"\nrolling_update.yml to {version}: rc {run.returncode}, {took:.0f} s")
    print(run.stdout[-3000:])
    return run


def live_release(host) -> str:
    """The release `current` points to."""
    return host.check_output("readlink /opt/ragstack/current/backend").split("/")[-2]


def running_releases(host) -> set[str]:
    """Releases whose files the backend's processes have mapped (what really runs)."""
    main = host.check_output("systemctl show -p MainPID --value ragstack-backend")
    assert main != "0", "the backend is not running"
    pids = [main, *host.check_output(f"pgrep --parent {main} || true").split()]
    assert pids, "no backend process"
    maps = host.check_output(" ".join(f"cat /proc/{pid}/maps;" for pid in pids) + " true")
    return set(re.findall(r"/opt/ragstack/releases/([^/]+)/backend/", maps))


def main_pid_and_start(host, unit: str) -> tuple[str, str]:
    out = host.check_output(f"systemctl show -p MainPID -p ExecMainStartTimestamp {unit}")
    return tuple(sorted(out.splitlines()))


def drained_servers() -> list[str]:
    config = lb.file("/etc/nginx/nginx.conf").content_string
    return re.findall(r"(?m)^\s*server \S+ [^;]* down;\s+# (\S+)$", config)


def access_log_lines() -> int:
    return int(lb.check_output("wc -l < /var/log/nginx/access.log"))


def nginx_query_log_since(line_count: int) -> list[str]:
    lines = lb.check_output(f"tail -n +{line_count + 1} /var/log/nginx/access.log").splitlines()
    return [line for line in lines if '"POST /v1/query ' in line]


def retried(lines: list[str]) -> list[str]:
    """Requests nginx sent to more than one backend ($upstream_status "502, 200")."""
    return [line for line in lines if re.search(r"ust=\S*, ", line)]


# node_exporter serves HTTPS to clients with a certificate of the internal CA only (Prometheus'
# in production): here the host's own exporter certificate, which the CA issued for client use too.
_METRICS = """
import ssl, urllib.request
tls = "/etc/ragstack/tls"
context = ssl.create_default_context(cafile=f"{tls}/ca.pem")
context.load_cert_chain(f"{tls}/node-exporter/cert.pem", f"{tls}/node-exporter/key.pem")
print(urllib.request.urlopen("https://127.0.0.1:9100/metrics", context=context).read().decode())
"""


def deployment_record(host) -> str:
    """The deployment sample node_exporter serves on the host."""
    metrics = host.check_output(f"python3 -c {shlex.quote(_METRICS)}")
    return "\n".join(
        line for line in metrics.splitlines() if line.startswith("ragstack_deployment_timestamp")
    )


def data_services() -> dict[str, tuple[str, str]]:
    return {unit: main_pid_and_start(data, unit) for unit in ("redis-server", "chromadb")}


@pytest.fixture(scope="module", autouse=True)
def collection(tmp_path_factory) -> None:
    """Documents to query: 40 generated runbooks uploaded through nginx by the load tool itself."""
    out = tmp_path_factory.mktemp("prepare") / "prepare.json"
    subprocess.run(
        [
            sys.executable,
            str(PROJECT / "bench" / "load.py"),
            *("--url", LB_URL, "--insecure", "--api-key", ADMIN_KEY, "--collection", COLLECTION),
            *("--prepare", "40", "--rate", "60", "--duration", "10", "--json", str(out)),
        ],
        check=True,
        timeout=900,
    )
    assert json.loads(out.read_text())["errors"] == 0


def test_converged_on_the_base_release():
    for host in apps.values():
        assert live_release(host) == BASE
        assert running_releases(host) == {BASE}
    assert drained_servers() == []


def test_rolling_update_under_load_loses_no_request(tmp_path):
    data_before = data_services()
    log_start = access_log_lines()
    load = Load(tmp_path, "update")
    time.sleep(15)
    run = rolling_update(NEXT)
    time.sleep(10)
    figures = load.stop()
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert figures["errors"] == 0, figures["error_times"]
    assert figures["ok"] == figures["sent"] > 0
    # Drained before its restart, each host got no request it could not answer: nginx did not
    # need its retries (which would hide a restart under requests in flight from the client).
    queries = nginx_query_log_since(log_start)
    assert len(queries) >= figures["sent"]
    assert retried(queries) == []
    for name, host in apps.items():
        assert live_release(host) == NEXT, name
        assert running_releases(host) == {NEXT}, name
        record = deployment_record(host)
        assert f'version="{NEXT}"' in record and 'result="deployed"' in record, record
        assert 'deployed_by="unknown"' not in record, record
    # ChromaDB and Redis kept running (same process, same start) through the update.
    assert data_services() == data_before
    assert drained_servers() == []


def test_broken_release_is_rolled_back_and_stops_the_rollout(tmp_path):
    data_before = data_services()
    untouched = {name: main_pid_and_start(h, "ragstack-backend") for name, h in apps.items()}
    log_start = access_log_lines()
    load = Load(tmp_path, "broken")
    time.sleep(15)
    # The broken backend never answers /ready: give up after 2 min instead of the default 4.
    run = rolling_update(BROKEN, "-e", "ragstack_rolling_ready_timeout=120")
    time.sleep(10)
    figures = load.stop()
    assert run.returncode != 0
    tried = [n for n, h in apps.items() if h.file(f"/opt/ragstack/releases/{BROKEN}").exists]
    assert len(tried) == 1, tried  # the first host only: the rollout stopped there
    (first,) = tried
    (other,) = set(APPS) - {first}
    # ansible-core prints the failure on stderr (2.19) or stdout, wrapped: compare without breaks.
    output = " ".join((run.stdout + run.stderr).split())
    message = re.search(r"ROLLOUT STOPPED: .{0,700}", output)
    assert message, run.stdout[-2000:] + run.stderr[-2000:]
    print(f"\n{message.group(0)}")
    assert f"ROLLOUT STOPPED: {first} failed the check" in message.group(0)
    assert "Wait for ragstack-backend to be ready" in message.group(0)
    assert f"rolled back to {NEXT}" in message.group(0)
    # The first host runs the previous release again, healthy and back in the load balancer.
    assert live_release(apps[first]) == NEXT
    assert running_releases(apps[first]) == {NEXT}
    record = deployment_record(apps[first])
    assert f'version="{NEXT}"' in record and 'result="rolled_back"' in record, record
    # The other host was never touched.
    assert main_pid_and_start(apps[other], "ragstack-backend") == untouched[other]
    assert live_release(apps[other]) == NEXT
    assert drained_servers() == []
    assert data_services() == data_before
    assert figures["errors"] == 0, figures["error_times"]
    assert figures["ok"] == figures["sent"] > 0
    assert retried(nginx_query_log_since(log_start)) == []


@pytest.mark.parametrize("where", ["output", "ps", "journal"])
def test_no_secret_in_the_output_processes_or_journal_of_the_rolling_updates(where):
    """Both runs above (the update and the rollback) ran with -vvv --diff: none of the inventory's
    secrets in their output, in the arguments or environment of any command on the lab hosts
    while they ran, or in the journal they caused (modules log their arguments unless no_log)."""
    assert len(UPDATES) == 2, "runs after the update and rollback tests"
    scenario = yaml.safe_load((SCENARIO / "molecule.yml").read_text())
    secrets = inventory_secrets(scenario["provisioner"]["inventory"]["group_vars"]["all"])
    assert len(secrets) >= 8, secrets
    if where == "output":
        lines = [line for output, _ in UPDATES for line in output.splitlines()]
    elif where == "ps":
        lines = sorted(set().union(*(seen.processes for _, seen in UPDATES)))
        # The samples saw the update at work: a release's virtualenv made on an app host.
        assert any("-m venv /opt/ragstack/releases/" in line for line in lines), lines[-40:]
    else:
        lines = [line for _, seen in UPDATES for line in seen.journal]
    assert len(lines) > 50, lines
    assert not leaks(secrets, lines)


# The victims of the kill rounds, one SIGKILL each, alternating hosts.
KILLS = ("rolling-app2", "rolling-app1") * 5
# A POST /v1/query line of nginx's access log (log_format ragstack in roles/nginx).
QUERY_LINE = re.compile(
    r'"POST /v1/query HTTP/[\d.]+" (?P<status>\d{3}) (?P<sent>\d+) "[^"]*" "(?P<agent>[^"]*)"'
    r" rt=\S+ upstream=(?P<upstream>.*?) ust=(?P<ust>.*?) urt=.*? cl=(?P<cl>\S+)$"
)
# What the client (httpx) raises when the connection closes before the announced body arrived.
CUT_AT_CLIENT = ("RemoteProtocolError", "ReadError")


def load_log_since(line_count: int) -> dict[str, dict[str, str]]:
    """bench/load.py's requests in nginx's access log, by the request's User-Agent."""
    logged = {}
    for line in nginx_query_log_since(line_count):
        entry = QUERY_LINE.search(line)
        assert entry, f"not a log_format ragstack line: {line}"
        if entry["agent"].startswith("ragstack-load/"):
            logged[entry["agent"]] = {**entry.groupdict(), "line": line}
    return logged


def cut(entry: dict[str, str]) -> bool:
    """nginx sent the status line and headers, then less body than they announced: the backend
    died in the middle of its answer, after nginx had started passing it on."""
    return entry["cl"].isdigit() and int(entry["sent"]) < int(entry["cl"])


def failure_kind(failure: dict[str, str], entry: dict[str, str] | None) -> str | None:
    """What nginx's log says about a request the client saw fail: "nginx error" (nginx answered
    an error status itself, after its retries), "cut" (a 200 whose body stopped short), or None
    when the log does not explain it."""
    if entry is None:
        return None
    if failure["kind"] == f"HTTP {entry['status']}" and entry["status"].startswith("5"):
        return "nginx error"
    if failure["kind"] in CUT_AT_CLIENT and entry["status"] == "200" and cut(entry):
        return "cut"
    return None


def kill_round(tmp_path: Path, number: int, name: str) -> dict:
    """SIGKILL the backend of app host `name` under load; the round's figures."""
    victim = apps[name]
    assert drained_servers() == [], "both app hosts must be in the load balancer before a kill"
    log_start = access_log_lines()
    before = main_pid_and_start(victim, "ragstack-backend")
    load = Load(tmp_path, f"kill-{number}")
    time.sleep(10)
    victim.run_expect([0], "systemctl kill --signal=SIGKILL ragstack-backend")
    killed_at = time.monotonic()
    # systemd restarts it (Restart=on-failure); nginx sends it requests again once it is back.
    deadline = killed_at + 300
    while (
        victim.run(
            'python3 -c "import ssl, urllib.request as u; '
            "c = ssl.create_default_context(cafile='/etc/ragstack/tls/ca.pem'); "
            "u.urlopen('https://127.0.0.1:8000/ready', timeout=5, context=c)\""
        ).rc
        != 0
    ):
        assert time.monotonic() < deadline, f"the killed backend of {name} did not come back"
        time.sleep(2)
    back_after = time.monotonic() - killed_at
    time.sleep(15)  # longer than nginx's fail_timeout: the host is back in the upstream
    figures = load.stop()
    assert main_pid_and_start(victim, "ragstack-backend") != before
    logged = load_log_since(log_start)
    kinds = {f["agent"]: failure_kind(f, logged.get(f["agent"])) for f in figures["failures"]}
    retries = [e for e in logged.values() if ", " in e["ust"]]
    print(
        f"kill {number} ({name}): back after {back_after:.0f} s; sent {figures['sent']};"
        f" nginx retried {len(retries)} on the other host; the client saw"
        f" {figures['errors']} failed: {sorted(kinds.values(), key=str)}"
    )
    for entry in retries:
        print(f"  retried: {entry['line']}")
    for failure in figures["failures"]:
        entry = logged.get(failure["agent"])
        print(f"  client: {failure}\n  nginx:  {entry['line'] if entry else '(no line)'}")
    # Every failure the client saw is in nginx's log as an error nginx answered after its
    # retries, or as a response cut after it started (nginx had passed on the status line, so
    # it could not send the request elsewhere); nothing else: no timeout, no reset connection.
    assert None not in kinds.values(), figures["failures"]
    assert len(logged) == figures["sent"], (len(logged), figures["sent"])
    assert figures["ok"] + figures["errors"] == figures["sent"] > 0
    # Conversely, every request nginx logged as failed or cut is one the client saw fail.
    bad = {a for a, e in logged.items() if e["status"] != "200" or cut(e)}
    assert bad == set(kinds), (bad, set(kinds))
    # The kill did hit traffic: requests sent to the dead (or not yet listening) backend.
    assert retries or kinds
    return {
        "sent": figures["sent"],
        "retried": len(retries),
        "cut": sum(kind == "cut" for kind in kinds.values()),
        "nginx error": sum(kind == "nginx error" for kind in kinds.values()),
    }


def test_killing_a_backend_costs_only_what_nginx_cannot_retry(tmp_path):
    """What a killed backend costs: requests not answered yet are retried by nginx on the other
    host (`/v1/query` is read-only: nginx_api_retry_non_idempotent_paths), so only a response
    whose bytes had started to flow when the backend died is lost. Measured over KILLS rounds."""
    rounds = [kill_round(tmp_path, n, name) for n, name in enumerate(KILLS, start=1)]
    total = {key: sum(r[key] for r in rounds) for key in rounds[0]}
    failed = total["cut"] + total["nginx error"]
    print(
        f"\n{len(rounds)} kills at {RATE_PER_MIN}/min: {total['sent']} requests,"
        f" {total['retried']} retried by nginx on the other host, {failed} failed at the client"
        f" ({total['cut']} cut after the response started, {total['nginx error']} nginx errors),"
        f" {failed / total['sent']:.2%}"
    )
