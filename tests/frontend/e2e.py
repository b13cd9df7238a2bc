"""Helpers of the UI's browser tests: build/install the artifact, run servers, drive chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "frontend"
CHROMIUM = "/usr/bin/chromium"
# The fake backend's one user (the session token it hands out is its API key).
FAKE_USER, FAKE_PASSWORD = "alice", "wonderland-password"
# Debian's chromium as root in a sandbox with no network but the registries (see FACTS.md).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    # Pages get nginx's headers through Playwright's routing (conftest.add_nginx_headers); such a
    # page has no address, counts as public, and chromium would then refuse its websocket to
    # 127.0.0.1 (net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS). Behind nginx, site and
    # websocket share one public address.
    "--disable-features=LocalNetworkAccessChecks",
]


def nginx_headers() -> dict[str, str]:
    """The security headers nginx adds to every page (roles/nginx/defaults/main.yml)."""
    import yaml

    defaults = yaml.safe_load((ROOT / "roles/nginx/defaults/main.yml").read_text())
    return {name: str(value) for name, value in defaults["nginx_security_headers"].items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    """Until `url` answers 2xx; fails early if the process serving it has died."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if 200 <= response.status < 300:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout} s ({last})")


def build_artifact() -> Path:
    """The release artifact: RAGSTACK_UI_ARTIFACT if set, else scripts/build-frontend's, which
    compiles it once per change of its inputs (the test processes and a release build take turns on
    its lock; the later ones find it up to date)."""
    if given := os.environ.get("RAGSTACK_UI_ARTIFACT"):
        return Path(given)
    version = (ROOT / "frontend" / "VERSION").read_text().strip()
    subprocess.run([str(ROOT / "scripts" / "build-frontend")], check=True, cwd=ROOT)
    return ROOT / "build" / "frontend" / f"ragstack-ui-{version}.tar.gz"


def install_artifact(artifact: Path, into: Path) -> tuple[Path, Path]:
    """As a target host would: unpack, venv from the wheelhouse only. Returns (python, app dir)."""
    with tarfile.open(artifact) as tar:
        tar.extractall(into, filter="data")
    release = next(into.glob("ragstack-ui-*"))
    venv = into / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-index",
            "--find-links",
            str(release / "wheelhouse"),
            "-r",
            str(release / "requirements.txt"),
        ],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return venv / "bin" / "python", release / "app"


def granian_cmd(python: Path, port: int, target: str) -> list[str]:
    """Serve an ASGI app of tests/frontend with the UI venv's granian, one worker, loopback."""
    server = ["--interface", "asgi", "--host", "127.0.0.1", "--port", str(port)]
    return [str(python), "-m", "granian", *server, "--workers", "1", target]


@contextmanager
def running(cmd: list[str], *, cwd: Path, env: dict[str, str], health: str, log: Path):
    """A server process for the duration of the block; its output goes to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            wait_for_http(health, proc=proc)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
