"""Fixtures of the monitoring tests: the roles' templates rendered once, the checker binaries."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TOOLS = ROOT / ".cache" / "monitoring-tools" / "usr" / "bin"

# (role, template, output path under the render directory)
TEMPLATES = [
    ("prometheus", "ragstack.rules.yml.j2", "rules/ragstack.rules.yml"),
    ("prometheus", "prometheus.yml.j2", "prometheus.yml"),
    ("prometheus", "blackbox-targets.yml.j2", "file_sd/blackbox-http.yml"),
    ("alertmanager", "alertmanager.yml.j2", "alertmanager.yml"),
    ("blackbox_exporter", "blackbox.yml.j2", "blackbox.yml"),
    ("nginx_exporter", "stub-status.conf.j2", "nginx-stub-status.conf"),
    ("nginx_exporter", "metrics-tls.conf.j2", "nginx-exporter-tls.conf"),
    ("_common", "tls-web-config.yml.j2", "tls/web.yml"),
    ("grafana", "grafana.ini.j2", "grafana/grafana.ini"),
    ("grafana", "datasources.yml.j2", "grafana/provisioning/datasources/ragstack.yml"),
    ("grafana", "dashboards.yml.j2", "grafana/provisioning/dashboards/ragstack.yml"),
    ("loki", "config.yml.j2", "loki.yml"),
    ("alloy", "config.alloy.j2", "config.alloy"),
    ("jaeger", "config.yaml.j2", "jaeger.yml"),
]


def tool(name: str) -> str:
    """Path of a checker binary (scripts/bootstrap.d/50-monitoring.sh unpacks them)."""
    found = shutil.which(name, path=f"{TOOLS}{os.pathsep}{os.environ.get('PATH', '')}")
    if not found:
        pytest.fail(f"{name} not found: run scripts/bootstrap 50-monitoring")
    return found


@pytest.fixture(scope="session")
def rendered(tmp_path_factory, worker_id: str) -> Path:
    """Every template of TEMPLATES rendered by Ansible with the roles' defaults, once per run:
    under pytest-xdist each worker is a session of its own, so the first one renders into the
    run's shared temporary directory (under a lock) and the others read what it wrote."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    out = shared / "monitoring-render"
    with (shared / "monitoring-render.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / ".rendered").exists():
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            render(out)
            (out / ".rendered").touch()
    return out


def render(out: Path) -> None:
    """Renders TEMPLATES into `out` with tests/monitoring/render.yml."""
    extra = {
        "render_dir": str(out),
        "render_templates": [{"role": r, "src": s, "dest": d} for r, s, d in TEMPLATES],
    }
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
    }
    result = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "ansible-playbook"),
            "-i",
            str(HERE / "inventory.yml"),
            "-e",
            json.dumps(extra),
            "-e",
            f"ansible_python_interpreter={ROOT / '.venv' / 'bin' / 'python'}",
            str(HERE / "render.yml"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
