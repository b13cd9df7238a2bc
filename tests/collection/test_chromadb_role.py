"""Where the chromadb role takes its packages from, without a host: the release's wheelhouse by
default, the package index only when chosen, and a play that stops early otherwise
(molecule/chromadb and molecule/stack install for real)."""

import sys
from pathlib import Path

from test_collection import local_play

PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Preflight (its variables public for the line below)
      ansible.builtin.include_role:
        name: ragstack.platform.chromadb
        tasks_from: preflight
        public: true
    - name: Write where the role installs from
      ansible.builtin.copy:
        content: "{{{{ chromadb_wheelhouse_dir }}}}"
        dest: "{out}/wheelhouse"
        mode: "0644"
"""
FACTS = {"default_ipv4": {"address": "10.0.0.5"}, "service_mgr": "systemd"}
TOKEN = {"ragstack_chromadb_token": "render-test-chromadb-token-0123"}


def run_preflight(tmp_path: Path, extra: dict):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY.format(out=tmp_path))
    variables = {
        "ansible_facts": FACTS,
        "ansible_python_interpreter": sys.executable,
        **TOKEN,
        **extra,
    }
    return local_play(playbook, variables)


def release(tmp_path: Path) -> Path:
    """build/release/<9.9.9>/chromadb-wheelhouse as scripts/build-release lays it out."""
    wheelhouse = tmp_path / "release/9.9.9/chromadb-wheelhouse"
    wheelhouse.mkdir(parents=True)
    (wheelhouse / "chromadb-1.5.9-cp39-abi3-manylinux_2_17_x86_64.whl").write_bytes(b"")
    (wheelhouse / "requirements.txt").write_text("chromadb==1.5.9 --hash=sha256:" + "0" * 64)
    return wheelhouse


def test_default_is_the_release_wheelhouse(tmp_path):
    wheelhouse = release(tmp_path)
    run = run_preflight(
        tmp_path,
        {
            "ragstack_release_version": "9.9.9",
            "ragstack_release_source_dir": str(tmp_path / "release"),
        },
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert (tmp_path / "wheelhouse").read_text() == str(wheelhouse)


def test_no_release_and_no_index_choice_stops_naming_the_variables(tmp_path):
    run = run_preflight(tmp_path, {})
    assert run.returncode != 0
    assert "chromadb_wheelhouse_dir is empty" in run.stdout
    assert "ragstack_release_version" in run.stdout and "chromadb_install_from_index" in run.stdout


def test_a_wheelhouse_without_this_chromadb_is_refused(tmp_path):
    wheelhouse = release(tmp_path)
    run = run_preflight(
        tmp_path, {"chromadb_wheelhouse_dir": str(wheelhouse), "chromadb_version": "1.6.0"}
    )
    assert run.returncode != 0
    assert f"chromadb_wheelhouse_dir={wheelhouse} holds no chromadb-1.6.0 wheel" in run.stdout


def test_the_package_index_only_when_chosen(tmp_path):
    run = run_preflight(tmp_path, {"chromadb_install_from_index": True})
    assert run.returncode == 0, run.stdout[-3000:]
    assert (tmp_path / "wheelhouse").read_text() == ""
