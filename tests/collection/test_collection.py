"""The collection as users get it: a built tarball that installs and resolves roles by FQCN."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "plugins" / "filter"))

from addresses import group_addresses  # noqa: E402
from backup import backup_account  # noqa: E402


def ansible(tool: str, *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT):
    return subprocess.run(
        [str(BIN / tool), *args],
        cwd=cwd,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "PAGER": "cat", **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )


def local_play(playbook: Path, variables: dict, *args: str):
    """ansible-playbook PLAYBOOK on localhost, VARIABLES as -e JSON, this checkout's collection."""
    return ansible(
        "ansible-playbook",
        "-i",
        "localhost,",
        str(playbook),
        "-e",
        json.dumps(variables),
        *args,
        env={"ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache/collections")},
    )


@pytest.fixture(scope="module")
def installed_collection(tmp_path_factory) -> Path:
    build_dir = tmp_path_factory.mktemp("build")
    built = ansible("ansible-galaxy", "collection", "build", "--output-path", str(build_dir))
    assert built.returncode == 0, built.stderr
    (tarball,) = build_dir.glob("ragstack-platform-*.tar.gz")
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert "roles/common/tasks/main.yml" in names
    assert "roles/_common/tasks/release.yml" in names  # the internal role ships too
    assert "plugins/filter/addresses.py" in names
    assert not [n for n in names if n.startswith(("app/", ".venv", "tests/", ".lab"))]
    target = tmp_path_factory.mktemp("collections")
    installed = ansible(
        "ansible-galaxy",
        "collection",
        "install",
        "--offline",
        "--force",  # ragstack.platform is "installed" already: the checkout, via .cache
        "-p",
        str(target),
        str(tarball),
        cwd=target,
    )
    assert installed.returncode == 0, installed.stderr
    assert (target / "ansible_collections/ragstack/platform/roles/common/meta").is_dir()
    return target


def test_roles_resolve_by_fqcn_from_the_tarball(installed_collection, tmp_path):
    env = {"ANSIBLE_COLLECTIONS_PATH": str(installed_collection)}
    doc = ansible("ansible-doc", "-t", "role", "ragstack.platform.common", env=env, cwd=tmp_path)
    assert doc.returncode == 0, doc.stderr
    assert "common_ssh_permit_root_login" in doc.stdout
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: all\n  roles:\n    - ragstack.platform.common\n"
        "  tasks:\n    - ansible.builtin.debug:\n"
        "        msg: \"{{ ['app'] | ragstack.platform.group_addresses(groups, hostvars) }}\"\n"
    )
    check = ansible(
        "ansible-playbook",
        "--syntax-check",
        "-i",
        "localhost,",
        str(playbook),
        env=env,
        cwd=tmp_path,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_internal_role_runs_from_the_tarball(installed_collection, tmp_path):
    """ragstack.platform._common (leading underscore) resolves, validates its entry point's
    arguments and runs, included the way the roles include it."""
    env = {"ANSIBLE_COLLECTIONS_PATH": str(installed_collection)}
    doc = ansible(
        "ansible-doc", "-t", "role", "ragstack.platform._common", "-e", "upstream_binary", env=env
    )
    assert doc.returncode == 0, doc.stderr
    assert "_common_upstream_checksum" in doc.stdout
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: true\n  tasks:\n"
        "    - ansible.builtin.include_role:\n"
        "        name: ragstack.platform._common\n        tasks_from: host_facts\n"
        "    - ansible.builtin.assert:\n        that: _common_in_container is boolean\n"
        "    - ansible.builtin.include_role:\n"
        "        name: ragstack.platform._common\n        tasks_from: firewall_port\n"
    )
    run = ansible(
        "ansible-playbook",
        "-i",
        "localhost,",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        str(playbook),
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode != 0
    # The entry point's argument spec stops a call without its required variable, naming it.
    assert "_common_firewall_port" in run.stdout, run.stdout[-2000:]
    assert "ok=" in run.stdout and "failed=1" in run.stdout


def test_bad_variable_fails_early_naming_it(tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: all\n  roles:\n    - ragstack.platform.common\n")
    run = ansible(
        "ansible-playbook",
        "--check",
        "-i",
        "localhost,",
        "-c",
        "local",
        str(playbook),
        "-e",
        "common_ssh_permit_root_login=yes",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        env={"ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache/collections")},
    )
    assert run.returncode != 0
    assert "common_ssh_permit_root_login" in run.stdout
    # The preflight is the first thing that runs: no package or config task was reached.
    assert "Install the baseline packages" not in run.stdout


def test_group_addresses_prefers_facts_and_skips_unknown_groups():
    groups = {"app": ["a1", "a2"], "cache": ["c1"]}
    hostvars = {
        "a1": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.5"}}, "ansible_host": "x"},
        "a2": {"ansible_host": "10.0.0.6"},
        "c1": {"ansible_host": "10.0.0.7"},
    }
    assert group_addresses(["app", "missing"], groups, hostvars) == ["10.0.0.5", "10.0.0.6"]
    assert group_addresses(["app", "cache", "app"], groups, hostvars) == [
        "10.0.0.5",
        "10.0.0.6",
        "10.0.0.7",
    ]


def test_backup_account_is_per_host_valid_and_short_enough_for_useradd():
    assert backup_account("vdb1") == "rb-vdb1"
    hosts = ["vdb1.example.com", "vdb1.example.org", "VDB1", "x" * 60, "x" * 61, "db_1", "..."]
    accounts = [backup_account(host) for host in hosts]
    assert len(set(accounts)) == len(hosts)
    for account in accounts:
        assert len(account) <= 32
        assert account.startswith("rb-") and account.replace("-", "").isalnum()
        assert account == account.lower()
