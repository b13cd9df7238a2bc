"""Grafana, Loki, Alloy and Jaeger roles in check mode on the monitoring lab host.

Their releases cannot be downloaded here, so stand-in files with the real release names sit in a
controller directory (`*_binary_local_dir`). This exercises preflight, the controller download
with sha256 verification (and its refusal of a file that does not match), and check mode on a
host that has none of them; it does not install or start them."""

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import testinfra

SCENARIO = Path(__file__).resolve().parents[1]
SERVER = testinfra.get_host("docker://mon-server")
VERSIONS = {"grafana": "12.2.1", "loki": "3.5.7", "alloy": "1.11.3", "jaeger": "2.11.0"}


def tarball(top: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b"stand-in release file for check mode\n"
        info = tarfile.TarInfo(f"{top}/README.stand-in")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zipped(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, "stand-in release file for check mode\n")
    return buffer.getvalue()


def make_releases(directory: Path, corrupt: str = "") -> None:
    """The four release files under their real names, with checksum files in upstream's formats."""
    files = {
        f"grafana-{VERSIONS['grafana']}.linux-amd64.tar.gz": tarball(
            f"grafana-v{VERSIONS['grafana']}"
        ),
        "loki-linux-amd64.zip": zipped("loki-linux-amd64"),
        "alloy-linux-amd64.zip": zipped("alloy-linux-amd64"),
        f"jaeger-{VERSIONS['jaeger']}-linux-amd64.tar.gz": tarball(
            f"jaeger-{VERSIONS['jaeger']}-linux-amd64"
        ),
    }
    sums = {}
    for name, data in files.items():
        (directory / name).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        if corrupt and name.startswith(corrupt):
            digest = hashlib.sha256(b"something else").hexdigest()
        sums[name] = digest
    grafana = f"grafana-{VERSIONS['grafana']}.linux-amd64.tar.gz"
    (directory / f"{grafana}.sha256").write_text(sums[grafana] + "\n")
    (directory / "SHA256SUMS").write_text(
        "".join(f"{sums[n]}  {n}\n" for n in ("loki-linux-amd64.zip", "alloy-linux-amd64.zip"))
    )
    jaeger = f"jaeger-{VERSIONS['jaeger']}-linux-amd64.tar.gz"
    (directory / f"jaeger-{VERSIONS['jaeger']}.sha256sum.txt").write_text(
        f"{sums[jaeger]}  {jaeger}\n"
    )


def run_check(tmp_path: Path) -> subprocess.CompletedProcess:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(
        json.dumps(
            {
                "monitoring": {
                    "hosts": {"mon-server": {"ansible_connection": "community.docker.docker"}}
                }
            }
        )
    )
    extra = {"upstream_dir": str(tmp_path / "releases"), "upstream_cache": str(tmp_path / "cache")}
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "--check",
            "-i",
            str(inventory),
            "-e",
            json.dumps(extra),
            str(SCENARIO / "upstream_check.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ANSIBLE_FORCE_COLOR": "0"},
    )


@pytest.fixture
def releases(tmp_path: Path) -> Path:
    (tmp_path / "releases").mkdir()
    return tmp_path


def test_check_mode_on_a_fresh_host_passes_and_changes_nothing(releases: Path):
    make_releases(releases / "releases")
    result = run_check(releases)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "failed=0" in result.stdout
    for name in ("grafana", "loki", "alloy", "jaeger"):
        assert list((releases / "cache" / name).iterdir()), f"{name} was not fetched"
        assert not SERVER.file(f"/opt/{name}").exists
        assert not SERVER.file(f"/etc/systemd/system/{name}.service").exists


def test_a_release_that_does_not_match_its_checksum_is_refused(releases: Path):
    make_releases(releases / "releases", corrupt="loki")
    result = run_check(releases)
    assert result.returncode != 0
    # Ansible wraps long error messages at the terminal width: compare without line breaks.
    output = " ".join((result.stdout + result.stderr).split())
    assert "did not match" in output, output[-3000:]
