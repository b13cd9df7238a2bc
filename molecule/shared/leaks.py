"""No secret in any output (import with sys.path): a scenario's secret values, and a playbook run
watched for them on the lab hosts while it runs: every process's arguments, every command's
environment, and what the journal got meanwhile. The scenarios' tests check the run's own
output (-vvv --diff) against the same values."""

import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

# Inventory variables that hold secrets: the name says so (ragstack_redis_password,
# ragstack_chromadb_token, ragstack_auth_secret, ragstack_smoke_api_key, ...).
SECRET_NAME = re.compile(r"password|token|secret|_key$")

# Run in a lab host: every process's command line, and the environment of every process but the
# long-running services' (the backend's or ChromaDB's unit hands them their own secrets by design;
# what is checked is every command the playbooks, the backup unit and the SSH sessions run).
PROCESSES = r"""
import pathlib
for proc in pathlib.Path("/proc").glob("[0-9]*"):
    try:
        argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        cgroup = (proc / "cgroup").read_text().strip().rsplit("/", 1)[-1]
        environ = (proc / "environ").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue
    print("argv", argv)
    service = cgroup.endswith(".service") and not cgroup.startswith(
        ("ragstack-backup", "ssh.service", "run-")
    )
    if not service:
        print("env", cgroup, argv[:60], environ)
"""


def inventory_secrets(variables: dict) -> list[str]:
    """The secret values among a scenario's group_vars: variables named as secrets (a mapping
    holds one per host, e.g. ragstack_backup_passwords) and the API keys."""
    values = []
    for name, value in variables.items():
        if SECRET_NAME.search(name):
            values += [value] if isinstance(value, str) else list(dict(value).values())
    values += [entry["key"] for entry in variables.get("ragstack_api_keys", []) if "key" in entry]
    assert all(len(value) >= 16 for value in values), "a secret too short to search for"
    return values


def processes(container: str) -> set[str]:
    """Command lines (every process) and environments (all but other services') in a lab host."""
    run = subprocess.run(
        ["docker", "exec", container, "python3", "-c", PROCESSES],
        capture_output=True,
        text=True,
        check=False,
    )
    return set(run.stdout.splitlines())


@dataclass
class Watched:
    """What a watched run left on the lab hosts."""

    processes: set[str] = field(default_factory=set)
    journal: list[str] = field(default_factory=list)


def watch(containers: tuple[str, ...], run: Callable[[], T]) -> tuple[T, Watched]:
    """Call run() while the lab hosts' processes are sampled; returns its result and what the
    samples and the journal (lines written meanwhile) saw."""
    watched = Watched()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for container in containers:
                watched.processes.update(processes(container))
            time.sleep(0.2)

    since = int(time.time()) - 1
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = run()
    finally:
        done.set()
        sampler.join()
    for container in containers:
        journal = subprocess.run(
            ["docker", "exec", container, "journalctl", "-o", "cat", "--since", f"@{since}"],
            capture_output=True,
            text=True,
            check=True,
        )
        watched.journal += journal.stdout.splitlines()
    return result, watched


def leaks(secrets: list[str], lines: list[str] | set[str]) -> list[tuple[str, str]]:
    """(the secret's first characters, the line) for every line holding a secret."""
    return [(secret[:4], line[:200]) for line in lines for secret in secrets if secret in line]
