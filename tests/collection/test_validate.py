"""site.yml's first play (roles/validate): bad variables and secrets stop the run, one short message
per bad variable naming host and variable, before any play that changes a host. The hosts are
unreachable on purpose: the validation needs no connection, and a run that got past it would fail
connecting in the `common` play (which these tests show never starts)."""

import re
import shutil
from pathlib import Path

import pytest
import yaml
from test_collection import ROOT, ansible
from validate import checksum_problems, secret_problems, weakness

ENV = {"ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache/collections")}
LAB_HOST = "lab1"
GROUPS = ["lb", "app", "vectordb", "cache", "llm", "monitoring"]
FIRST_CHANGING_PLAY = "PLAY [Base hardening on every host]"


def lab_inventory(tmp_path: Path, drop: str = "") -> Path:
    """The lab's group_vars (without lines starting with `drop`), one host in all groups."""
    root = tmp_path / "checkout"
    inventory = root / "inventories" / "lab"
    shutil.copytree(ROOT / "inventories/lab/group_vars", inventory / "group_vars")
    (root / "pyproject.toml").symlink_to(ROOT / "pyproject.toml")  # the lab reads its version there
    if drop:
        for path in (inventory / "group_vars").glob("*.yml"):
            kept = [line for line in path.read_text().splitlines(True) if not line.startswith(drop)]
            path.write_text("".join(kept))
    hosts = {
        "all": {
            "hosts": {LAB_HOST: {"ansible_host": "127.0.0.9", "ansible_port": 1}},
            "children": {group: {"hosts": {LAB_HOST: None}} for group in GROUPS},
        }
    }
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    return inventory / "hosts.yml"


def playbook(inventory: Path, *args: str, play: str = "site.yml"):
    return ansible("ansible-playbook", "-i", str(inventory), play, *args, env=ENV)


def failures(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(("failed:", "fatal:"))]


def assert_stopped_in_validation(run, *expected: str) -> None:
    assert run.returncode != 0
    lines = failures(run.stdout)
    for name in expected:
        matching = [line for line in lines if f"(item={name})" in line]
        assert len(matching) == 1, (name, lines, run.stdout[-3000:])
        assert f'"msg": "{LAB_HOST}: {name} ' in matching[0]
    assert len(lines) == len(expected), lines
    assert all(len(line) < 400 for line in lines), lines
    assert "argument_spec_data" not in run.stdout  # the whole spec is never printed
    assert FIRST_CHANGING_PLAY not in run.stdout


def test_the_lab_inventory_passes(tmp_path):
    run = playbook(lab_inventory(tmp_path), play="playbooks/validate.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    assert re.search(rf"{LAB_HOST}\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", run.stdout)


def test_a_bad_type_and_a_bad_choice_stop_site_before_common(tmp_path):
    run = playbook(
        lab_inventory(tmp_path), "-e", "backend_port=eighty", "-e", "redis_appendfsync=sometimes"
    )
    assert_stopped_in_validation(run, "backend_port", "redis_appendfsync")
    assert "backend_port must be of type int" in run.stdout
    assert "sometimes" not in "".join(
        failures(run.stdout)
    )  # the validator's "got: VALUE" is dropped


@pytest.mark.parametrize("value", ["changeme", "CHANGE-ME", "short-pw", "aaaaaaaaaaaaaaaa"])
def test_a_placeholder_or_weak_redis_secret_stops_site_before_common(tmp_path, value):
    run = playbook(lab_inventory(tmp_path), "-e", f"ragstack_redis_password={value}")
    assert_stopped_in_validation(run, "ragstack_redis_password")
    assert value not in "".join(failures(run.stdout))  # a message never quotes the secret


def test_a_missing_redis_secret_stops_site_and_the_rolling_update(tmp_path):
    inventory = lab_inventory(tmp_path, drop="ragstack_redis_password:")
    run = playbook(inventory)
    assert_stopped_in_validation(run, "ragstack_redis_password")
    assert "ragstack_redis_password is not set" in run.stdout
    rolling = playbook(
        inventory, "-e", "ragstack_release_version=0.1.0", play="playbooks/rolling_update.yml"
    )
    assert_stopped_in_validation(rolling, "ragstack_redis_password")
    assert "PLAY [Facts of every host" not in rolling.stdout


def test_the_prod_example_inventory_names_every_unset_vault_secret_per_host():
    run = ansible("ansible-playbook", "-i", "inventories/prod", "site.yml", env=ENV)
    assert run.returncode != 0
    lines = failures(run.stdout)
    reported = {re.search(r'"msg": "([^:]+): (\S+) ', line).groups() for line in lines}
    assert ("cache1.example.com", "ragstack_redis_admin_password") in reported
    assert ("app2.example.com", "ragstack_auth_secret") in reported
    assert ("vdb1.example.com", "ragstack_chromadb_token") in reported
    assert ("vdb1.example.com", "ragstack_backup_passwords[vdb1.example.com]") in reported
    assert ("mon1.example.com", "ragstack_grafana_secret_key") in reported
    # The upstream release files' checksums are placeholders there: Alloy goes on every host.
    assert ("mon1.example.com", "grafana_checksum") in reported
    assert ("mon1.example.com", "jaeger_checksum") in reported
    assert {name for host, name in reported if host.startswith(("lb", "bak"))} == {"alloy_checksum"}
    assert len(reported) == len(lines)
    assert FIRST_CHANGING_PLAY not in run.stdout


def test_weakness_never_quotes_the_value():
    assert weakness(None, 12) == weakness("", 12) == "is not set (define it in the vault)"
    for placeholder in [
        "CHANGE-ME",
        "changeme",
        "change_me",
        "<redis password>",
        "xxxxxxxx",
        "TODO",
    ]:
        assert "placeholder" in weakness(placeholder, 4), placeholder
    assert weakness("a-11-chars!", 12) == "is shorter than 12 characters"
    assert "distinct" in weakness("abababababababab", 12)
    assert weakness("lab-redis-password-not-a-secret", 12) == ""


def test_secret_problems_prefer_the_role_variable_and_skip_hash_only_keys():
    entries = [
        {"var": "redis_password", "source": "ragstack_redis_password", "role": "redis", "min": 12},
        {
            "var": "backend_api_keys",
            "source": "ragstack_api_keys",
            "role": "backend",
            "min": 16,
            "field": "key",
        },
        {
            "var": "grafana_secret_key",
            "source": "ragstack_grafana_secret_key",
            "role": "grafana",
            "min": 16,
        },
        {
            "var": "backup_restic_password",
            "source": "ragstack_backup_password",
            "role": "backup",
            "groups": ["cache"],
            "min": 16,
        },
    ]
    host_vars = {
        "ragstack_redis_password": "CHANGE-ME",
        "redis_password": "a-good-long-password",
        "ragstack_api_keys": [{"name": "ok", "sha256": "0" * 64}, {"name": "ci", "key": "short"}],
    }
    assert secret_problems(entries, host_vars, ["cache", "app"], ["redis", "backend"]) == [
        "ragstack_api_keys[1] (ci).key is shorter than 16 characters"
    ]
    assert secret_problems(
        entries, host_vars, ["monitoring", "backup_remote"], ["grafana", "backup"]
    ) == ["ragstack_grafana_secret_key is not set (define it in the vault)"]


def test_a_per_host_secret_is_the_hosts_own_entry():
    entry = {
        "var": "backup_restic_password",
        "source": "ragstack_backup_passwords",
        "per_host": True,
        "role": "backup",
        "min": 16,
    }
    passwords = {"app1": "app1-backup-password-0123", "vdb1": "CHANGE-ME"}

    def check(host, host_vars):
        host_vars = {"inventory_hostname": host, **host_vars}
        return secret_problems([entry], host_vars, ["app"], ["backup"])

    assert check("app1", {"ragstack_backup_passwords": passwords}) == []
    assert check("vdb1", {"ragstack_backup_passwords": passwords}) == [
        "ragstack_backup_passwords[vdb1] is still a placeholder (define it in the vault)"
    ]
    assert check("cache1", {"ragstack_backup_passwords": passwords}) == [
        "ragstack_backup_passwords[cache1] is not set (define it in the vault)"
    ]
    # The shared password of older releases is no host's own password.
    assert check("app2", {"ragstack_backup_password": "shared-backup-password-0123"}) == [
        "ragstack_backup_passwords[app2] is not set (define it in the vault)"
    ]
    # The role variable set for the host wins.
    assert check("app2", {"backup_restic_password": "app2-own-password-0123456"}) == []


def site_roles() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Roles per group from the plays site.yml imports (roles: and include_role), split by whether
    they depend on ragstack_install_upstream_releases."""
    plain: dict[str, set[str]] = {}
    upstream: dict[str, set[str]] = {}
    for entry in yaml.safe_load((ROOT / "site.yml").read_text()):
        imported = entry["ansible.builtin.import_playbook"]
        if imported.endswith("validate.yml"):
            continue
        for play in yaml.safe_load((ROOT / imported).read_text()):
            hosts = play["hosts"]
            default = re.search(r"default\('([^']+)'\)", hosts)
            groups = (default.group(1) if default else hosts).split(":")
            roles = [
                (r["role"], "ragstack_install_upstream_releases" in str(r.get("when", "")))
                for r in play.get("roles", [])
            ]
            roles += [
                (t["ansible.builtin.include_role"]["name"], False)
                for t in play.get("tasks", [])
                if "ansible.builtin.include_role" in t
            ]
            for role, is_upstream in roles:
                for group in groups:
                    (upstream if is_upstream else plain).setdefault(group, set()).add(
                        role.removeprefix("ragstack.platform.")
                    )
    return plain, upstream


def test_the_validate_role_knows_the_roles_of_every_group():
    defaults = yaml.safe_load((ROOT / "roles/validate/defaults/main.yml").read_text())
    plain, upstream = site_roles()
    assert {group: set(roles) for group, roles in defaults["validate_roles"].items()} == plain
    assert {
        group: set(roles) for group, roles in defaults["validate_upstream_roles"].items()
    } == upstream


PINS = [{"var": "grafana_checksum", "role": "grafana"}, {"var": "alloy_checksum", "role": "alloy"}]


def test_checksum_problems_want_a_pinned_sha256_for_the_host_roles_only():
    pinned = "sha256:" + "ab" * 32
    assert checksum_problems(PINS, {"alloy_checksum": pinned}, ["alloy", "common"]) == []
    assert checksum_problems(PINS, {}, ["common"]) == []
    (missing,) = checksum_problems(PINS, {"alloy_checksum": pinned}, ["alloy", "grafana"])
    assert missing.startswith("grafana_checksum is not pinned: set sha256:<hex> of the grafana")
    for bad in (
        "sha256:CHANGE-ME",
        "sha256:" + "AB" * 32,
        "ab" * 32,
        "sha256:https://x/SHA256SUMS",
    ):
        assert checksum_problems(PINS, {"alloy_checksum": bad}, ["alloy"]) == [
            "alloy_checksum must be sha256:<64 lowercase hex digits>"
        ]


def test_the_prod_example_runs_with_fetched_checksums_when_chosen():
    run = ansible(
        "ansible-playbook",
        "-i",
        "inventories/prod",
        "site.yml",
        "-e",
        "ragstack_allow_fetched_checksums=true",
        env=ENV,
    )
    reported = {
        re.search(r'"msg": "([^:]+): (\S+) ', line).group(2) for line in failures(run.stdout)
    }
    assert reported and not {name for name in reported if name.endswith("_checksum")}
