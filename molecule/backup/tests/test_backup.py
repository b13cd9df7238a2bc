"""The backup role's host state, and the restore drills: ingest a corpus through the backend API,
run playbooks/backup.yml, destroy the data and the local repository, run playbooks/restore.yml
from the remote (SFTP) repository, and compare collections, documents, chunks and /v1/query; then
destroy the data host itself and restore onto a fresh one (site.yml, then restore.yml), as
docs/operations/disaster-recovery.md says. The last drill removes backup-data's container: run
verify once per create."""

import itertools
import json
import os
import shlex
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import testinfra
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from checks import unit_exposure

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
DATA = testinfra.get_host("ansible://backup-data", ansible_inventory=INVENTORY)
REMOTE = testinfra.get_host("ansible://backup-remote", ansible_inventory=INVENTORY)
SPARE = testinfra.get_host("ansible://backup-spare", ansible_inventory=INVENTORY)
API_KEY = "molecule-backup-admin-key-0123456789"
METRICS = "/var/lib/prometheus/node-exporter/ragstack_backup.prom"
CORPUS = {
    "runbooks": {
        "redis.md": "# Redis\n\nRotate the Redis password with the vault, then run the role.\n\n"
        "## Persistence\n\nAOF fsync every second; RDB snapshots are the compact copy.\n",
        "chroma.md": "# ChromaDB\n\nChromaDB keeps the embeddings in SQLite and HNSW files.\n\n"
        "## Backups\n\nThe backup stops ChromaDB, copies its directory and starts it again.\n",
    },
    "policies": {
        "retention.txt": "Backups are kept 30 days locally and 90 days in the other region.\n"
        "Restores are drilled: the recovery time objective is one hour.\n",
    },
}
QUERIES = [
    ("runbooks", "how do I rotate the redis password"),
    ("runbooks", "where are the embeddings stored"),
    ("policies", "how long are backups kept"),
]


def api(method, path, body=None, form=None, host=DATA):
    """Call the backend on a data host's loopback; returns (status, json)."""
    cmd = ["curl", "-sS", "-o", "/tmp/api.json", "-w", "%{http_code}", "-X", method]
    cmd += ["-H", f"X-API-Key: {API_KEY}"]
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    for key, value in (form or {}).items():
        cmd += ["-F", f"{key}={value}"]
    cmd.append(f"http://127.0.0.1:8000{path}")
    status = host.check_output(shlex.join(cmd))
    text = host.check_output("cat /tmp/api.json")
    return int(status), json.loads(text) if text else None


def state(host=DATA):
    """What must survive: collections, document ids and chunk counts, query results."""
    snapshot = {"collections": {}, "queries": []}
    _, collections = api("GET", "/v1/collections", host=host)
    for item in sorted(collections["items"], key=lambda c: c["name"]):
        _, docs = api("GET", f"/v1/collections/{item['name']}/documents?limit=100", host=host)
        snapshot["collections"][item["name"]] = {
            "document_count": item["document_count"],
            "chunk_count": item["chunk_count"],
            "documents": sorted(
                (d["id"], d["filename"], d["sha256"], d["chunk_count"], d["status"])
                for d in docs["items"]
            ),
        }
    for collection, query in QUERIES:
        request = {"collection": collection, "query": query, "top_k": 5}
        status, answer = api("POST", "/v1/query", request, host=host)
        assert status == 200, answer
        hits = [(h["chunk_id"], h["document_id"], h["text"], h["score"]) for h in answer["results"]]
        snapshot["queries"].append(hits)
    return snapshot


def playbook(path, *extra, inventory=INVENTORY):
    """Run a playbook of the repository (path from its root) as the runbooks do."""
    cmd = ["ansible-playbook", "-i", inventory, path, *extra]
    started = time.monotonic()
    run = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return elapsed, run.stdout


def metric(name, labels, host=DATA):
    for line in host.file(METRICS).content_string.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.split()[-1])
    raise AssertionError(f"{name}{{{labels}}} not in {METRICS}")


def test_timer_runs_daily_at_two_utc_and_every_four_hours():
    """The seed's daily 02:00 UTC backup and its 4 h RPO, as systemd itself computes the runs."""
    timer = DATA.file("/etc/systemd/system/ragstack-backup.timer").content_string
    assert "Persistent=true" in timer
    calendar = next(
        line.split("=", 1)[1] for line in timer.splitlines() if line.startswith("OnCalendar=")
    )
    output = DATA.check_output(
        f"TZ=UTC systemd-analyze calendar --iterations=12 {shlex.quote(calendar)}"
    )
    runs = [
        datetime.strptime(" ".join(line.split()[-3:-1]), "%Y-%m-%d %H:%M:%S")
        for line in output.splitlines()
        if line.strip().startswith(("Next elapse:", "Iter. #")) and line.rstrip().endswith("UTC")
    ]
    assert len(runs) == 12, output
    assert {run.strftime("%H:%M") for run in runs} >= {"02:00"}, output
    assert all(b - a == timedelta(hours=4) for a, b in itertools.pairwise(runs)), output
    assert DATA.service("ragstack-backup.timer").is_enabled
    assert DATA.service("ragstack-backup.timer").is_running


def test_backup_unit_is_sandboxed():
    exposure = unit_exposure(DATA, "ragstack-backup.service")
    print(f"\nEXPOSURE ragstack-backup.service {exposure}")
    assert exposure <= 2.0


def test_secrets_are_root_only():
    for path in ("/etc/ragstack-backup/restic-password", "/etc/ragstack-backup/backup.env"):
        secret = DATA.file(path)
        assert secret.user == "root" and secret.mode == 0o600


SSH_OPTIONS = (
    "-F none -i /var/lib/ragstack-backup/id_ed25519 -o IdentitiesOnly=yes -o BatchMode=yes "
    "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/var/lib/ragstack-backup/known_hosts"
)


def sftp(host, account, *commands):
    """SFTP batch from a data host with its backup key as ACCOUNT; (rc, names listed, stderr)."""
    batch = shlex.quote("\n".join(commands) + "\n")
    run = host.run(f"printf {batch} | sftp -q -b - {SSH_OPTIONS} {account}@backup-remote")
    names = {
        line.rstrip("/").rsplit("/", 1)[-1]
        for line in run.stdout.splitlines()
        if line.strip() and not line.startswith("sftp>")
    }
    return run.rc, names, run.stderr


def test_remote_account_is_the_hosts_own_and_sftp_only():
    shell = DATA.run(f"ssh {SSH_OPTIONS} rb-backup-data@backup-remote id")
    assert "uid=" not in shell.stdout
    rc, root, err = sftp(DATA, "rb-backup-data", "ls -1 /")
    assert rc == 0, err
    assert root == {"repos"}  # its chroot: nothing but its own repository
    rc, repos, err = sftp(DATA, "rb-backup-data", "ls -1 /repos")
    assert rc == 0, err
    assert repos == {"backup-data"}
    assert REMOTE.file("/srv/ragstack-backup").user == "root"
    assert REMOTE.file("/srv/ragstack-backup/rb-backup-data").user == "root"
    repos_dir = REMOTE.file("/srv/ragstack-backup/rb-backup-data/repos")
    assert repos_dir.user == "rb-backup-data" and repos_dir.mode == 0o700
    # Its key, and no other, opens the account.
    key = DATA.file("/var/lib/ragstack-backup/id_ed25519.pub").content_string.split()[:2]
    keys = REMOTE.file("/etc/ssh/authorized_keys/rb-backup-data").content_string.splitlines()
    assert [line.split()[:3] for line in keys] == [["restrict", *key]]


def test_the_shared_account_of_older_releases_is_closed():
    # prepare.yml left the remote as older releases did: one account for every data host.
    assert REMOTE.user("ragstack-backup").exists
    rc, _, _ = sftp(DATA, "ragstack-backup", "ls -1 /")
    assert rc != 0
    assert not REMOTE.file("/etc/ssh/authorized_keys/ragstack-backup").exists


def test_the_shared_accounts_repository_was_moved_not_replaced():
    """backup-data's repository from the shared account (created by prepare.yml) is the one its
    own account serves now: same restic repository id, nothing left in the old place."""
    old = json.loads(REMOTE.file("/root/legacy-repository-config.json").content_string)
    config = DATA.check_output(
        "bash -c '. /etc/ragstack-backup/repositories; "
        'restic -r "$REPO_remote" -o sftp.command="$SFTP_COMMAND" '
        "--password-file /etc/ragstack-backup/restic-password cat config'"
    )
    assert json.loads(config)["id"] == old["id"]
    assert not REMOTE.file("/srv/ragstack-backup/repos/backup-data").exists


@pytest.fixture(scope="module")
def drill():
    """Ingest, back up, destroy, restore; returns the states before and after and the timings."""
    for collection, files in CORPUS.items():
        status, body = api("POST", "/v1/collections", {"name": collection})
        assert status in (201, 409), body
        for filename, text in files.items():
            DATA.check_output(f"printf %s {shlex.quote(text)} > /tmp/{filename}")
            path = f"/v1/collections/{collection}/documents?wait=50"
            status, body = api("POST", path, form={"file": f"@/tmp/{filename}"})
            assert status in (200, 201), body
    before = state()
    assert all(c["chunk_count"] > 0 for c in before["collections"].values()), before
    assert all(before["queries"]), before

    backup_seconds, _ = playbook("playbooks/backup.yml")
    local = int(metric("ragstack_backup_size_bytes", 'backup="local"'))
    remote = int(metric("ragstack_backup_size_bytes", 'backup="remote"'))
    pause = metric("ragstack_backup_write_pause_seconds", 'component="chromadb"')
    added = int(metric("ragstack_backup_added_bytes", 'backup="remote"'))
    local_repo = int(DATA.check_output("du -sb /var/backups/ragstack/restic").split()[0])
    remote_repo_dir = "/srv/ragstack-backup/rb-backup-data/repos/backup-data"
    remote_repo = int(REMOTE.check_output(f"du -sb {remote_repo_dir}").split()[0])

    # The disaster: the services' data and the local repository are gone.
    DATA.check_output("systemctl stop ragstack-backend chromadb redis-server")
    DATA.check_output("find /var/lib/redis /var/lib/chromadb /var/lib/ragstack -mindepth 1 -delete")
    DATA.check_output("rm -rf /var/backups/ragstack")
    DATA.check_output("systemctl start redis-server chromadb ragstack-backend")

    restore_seconds, _ = playbook("playbooks/restore.yml", "-e", "backup_restore_repository=remote")
    after = state()
    figures = {
        "backup_seconds": round(backup_seconds, 1),
        "restore_seconds (RTO)": round(restore_seconds, 1),
        "snapshot_bytes_local": local,
        "snapshot_bytes_remote": remote,
        "snapshot_added_bytes": added,
        "repository_bytes_local": local_repo,
        "repository_bytes_remote": remote_repo,
        "chromadb_write_pause_seconds": pause,
    }
    print("\nDRILL", json.dumps(figures))
    return before, after, figures


def test_backup_published_success_for_both_repositories(drill):
    for repo in ("local", "remote"):
        assert metric("ragstack_backup_last_status", f'backup="{repo}"') == 1
        last = metric("ragstack_backup_last_success_timestamp_seconds", f'backup="{repo}"')
        assert time.time() - last < 3600
        assert metric("ragstack_backup_size_bytes", f'backup="{repo}"') > 0


def test_restore_brings_back_the_same_collections_documents_and_chunks(drill):
    before, after, _ = drill
    assert after["collections"] == before["collections"]


def test_restore_gives_identical_query_results(drill):
    before, after, _ = drill
    assert after["queries"] == before["queries"]


def test_restore_starts_the_backup_timer_again(drill):
    # restore.yml holds the timer while it runs (a scheduled run would stop ChromaDB mid-restore).
    assert DATA.service("ragstack-backup.timer").is_running


def test_restore_meets_the_one_hour_rto(drill):
    assert drill[2]["restore_seconds (RTO)"] < 3600


def inventory_after_the_loss(directory: Path) -> str:
    """The scenario's inventory as an operator edits it after losing backup-data: the lost host
    removed, the replacement backup-spare in its groups (app, vectordb, cache), same group_vars."""
    molecule = yaml.safe_load(Path(INVENTORY).read_text())
    connection = molecule["all"]["hosts"]["backup-spare"]
    version = next(
        line.split('"')[1]
        for line in (PROJECT / "pyproject.toml").read_text().splitlines()
        if line.startswith("version = ")
    )
    groups = {group: {"hosts": {"backup-spare": None}} for group in ("app", "vectordb", "cache")}
    groups["backup_remote"] = {"hosts": {"backup-remote": None}}
    inventory = {
        "all": {
            "hosts": {"backup-spare": connection, "backup-remote": connection},
            "vars": {"ragstack_release_version": version},
            "children": groups,
        }
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hosts.yml").write_text(yaml.safe_dump(inventory))
    group_vars = directory / "group_vars"
    if not group_vars.exists():
        group_vars.symlink_to(Path(INVENTORY).parent / "group_vars")
    return str(directory / "hosts.yml")


@pytest.fixture(scope="module")
def fresh_host_drill(drill):
    """The data host is lost (its container removed, local repository and all); backup-spare
    replaces it: site.yml --limit NEW, then restore.yml from the remote copy of the old host."""
    before, _, _ = drill
    subprocess.run(["docker", "rm", "-f", "backup-data"], check=True, capture_output=True)
    inventory = inventory_after_the_loss(Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "fresh")
    deploy_seconds, _ = playbook("site.yml", "--limit", "backup-spare", inventory=inventory)
    _, empty = api("GET", "/v1/collections", host=SPARE)
    restore_seconds, _ = playbook(
        "playbooks/restore.yml",
        "--limit",
        "backup-spare",
        "-e",
        "backup_restore_repository=remote",
        "-e",
        "backup_restore_source_host=backup-data",
        inventory=inventory,
    )
    after = state(SPARE)
    figures = {
        "site_yml_seconds": round(deploy_seconds, 1),
        "restore_seconds": round(restore_seconds, 1),
        "rto_seconds (site.yml + restore.yml)": round(deploy_seconds + restore_seconds, 1),
    }
    print("\nFRESH HOST DRILL", json.dumps(figures))
    return before, empty, after, figures


def test_site_yml_sets_up_the_backups_of_a_fresh_host(fresh_host_drill):
    assert SPARE.service("ragstack-backup.timer").is_enabled
    assert SPARE.service("ragstack-backup.timer").is_running
    # site.yml arms the timer, it takes no backup: nothing published yet.
    assert not SPARE.file(METRICS).exists
    _, empty, _, _ = fresh_host_drill
    assert empty["items"] == []


def test_fresh_host_restore_brings_back_the_same_collections_documents_and_chunks(
    fresh_host_drill,
):
    before, _, after, _ = fresh_host_drill
    assert after["collections"] == before["collections"]


def test_fresh_host_restore_gives_identical_query_results(fresh_host_drill):
    before, _, after, _ = fresh_host_drill
    assert after["queries"] == before["queries"]


def test_fresh_host_backs_up_into_its_own_repositories(fresh_host_drill):
    playbook(
        "playbooks/backup.yml",
        "--limit",
        "backup-spare",
        inventory=inventory_after_the_loss(
            Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "fresh"
        ),
    )
    for repo in ("local", "remote"):
        assert metric("ragstack_backup_last_status", f'backup="{repo}"', host=SPARE) == 1
    accounts = REMOTE.check_output("ls /srv/ragstack-backup")
    assert {"rb-backup-data", "rb-backup-spare"} <= set(accounts.split())
    repos = REMOTE.check_output("ls /srv/ragstack-backup/rb-backup-spare/repos")
    assert repos.split() == ["backup-spare"]


def test_a_data_host_cannot_open_another_hosts_remote_repository(fresh_host_drill):
    """backup-spare, now a data host, against the account of backup-data (whose repository
    restore.yml read from it, with backup-spare's key authorized there for the restore only)."""
    spare_key = SPARE.file("/var/lib/ragstack-backup/id_ed25519.pub").content_string.split()[1]
    assert spare_key not in REMOTE.file("/etc/ssh/authorized_keys/rb-backup-data").content_string
    assert REMOTE.file("/srv/ragstack-backup/rb-backup-data/repos/backup-data/config").exists
    # A real SFTP listing and a real restic read of the other host's repository both fail.
    rc, listed, _ = sftp(SPARE, "rb-backup-spare", "ls -1 /repos")
    assert rc == 0 and listed == {"backup-spare"}
    rc, listed, _ = sftp(SPARE, "rb-backup-data", "ls -1 /repos/backup-data")
    assert rc != 0 and "config" not in listed
    # Its own account's chroot has no way out to another account's directory.
    rc, listed, _ = sftp(SPARE, "rb-backup-spare", "ls -1 /../rb-backup-data/repos")
    assert "backup-data" not in listed
    other = "sftp:rb-backup-data@backup-remote:/repos/backup-data"
    command = f"ssh {SSH_OPTIONS} rb-backup-data@backup-remote -s sftp"
    restic = SPARE.run(
        "RESTIC_PASSWORD_FILE=/etc/ragstack-backup/restic-password "
        f"restic -r {other} -o sftp.command={shlex.quote(command)} snapshots"
    )
    assert restic.rc != 0
    assert "backup-data" not in restic.stdout
