"""The backup role's host state, and the restore drills: ingest a corpus through the backend API,
run playbooks/backup.yml, destroy the data and the local repository, run playbooks/restore.yml
from the remote repository, and compare collections, documents, chunks and /v1/query (both
playbooks with -vvv --diff: no secret in their output, in `ps` while they run, or in the journal);
root on the data host cannot forget, prune, overwrite or delete anything in its remote repository
through the transport, the remote's own retention run can; then destroy the data host itself and
restore onto a fresh one (site.yml, then restore.yml), as docs/operations/disaster-recovery.md
says. The last drill removes backup-data's container: run verify once per create."""

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
from leaks import inventory_secrets, leaks, watch

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
    cmd += ["--cacert", "/etc/ragstack/tls/ca.pem", f"https://127.0.0.1:8000{path}"]
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


def scenario_vars():
    """The scenario's group_vars (molecule writes them beside its inventory file)."""
    return yaml.safe_load((Path(INVENTORY).parent / "group_vars" / "all").read_text())


def playbook(path, *extra, inventory=INVENTORY):
    """Run a playbook of the repository (path from its root) as the runbooks do."""
    cmd = ["ansible-playbook", "-i", inventory, path, *extra]
    started = time.monotonic()
    run = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return elapsed, run.stdout + run.stderr


WATCHED = ("backup-data", "backup-remote")


def watched_playbook(path, *extra):
    """playbook() with -vvv --diff while `ps` is sampled on the lab hosts; returns (seconds,
    output, process lines seen, journal lines written meanwhile)."""
    (elapsed, output), seen = watch(WATCHED, lambda: playbook(path, "-vvv", "--diff", *extra))
    return elapsed, output, seen.processes, seen.journal


def secret_values():
    """Every secret of the scenario's inventory, and the remote's own repository keys."""
    values = set(inventory_secrets(scenario_vars()))
    for path in REMOTE.check_output("ls /etc/ragstack-backup-remote").split():
        values.add(REMOTE.file(f"/etc/ragstack-backup-remote/{path}").content_string.strip())
    assert all(len(value) >= 16 for value in values), "a secret too short to search for"
    return sorted(values)


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
    for path in ("/etc/ragstack-backup/restic-password", "/etc/ragstack-backup/redis-password"):
        secret = DATA.file(path)
        assert secret.user == "root" and secret.mode == 0o600
    assert DATA.file("/etc/ragstack-backup").mode == 0o700
    # Older releases gave redis-cli its password in the unit's environment (REDISCLI_AUTH).
    assert not DATA.file("/etc/ragstack-backup/backup.env").exists
    unit = DATA.file("/etc/systemd/system/ragstack-backup.service").content_string
    assert "EnvironmentFile" not in unit
    keys = REMOTE.file("/etc/ragstack-backup-remote")
    assert keys.user == "root" and keys.mode == 0o700


def test_each_host_has_its_own_restic_password():
    own = DATA.file("/etc/ragstack-backup/restic-password").content_string.strip()
    group_vars = scenario_vars()
    assert own == group_vars["ragstack_backup_passwords"]["backup-data"]
    assert own != group_vars["ragstack_backup_password"]


SSH_OPTIONS = (
    "-F none -i /var/lib/ragstack-backup/id_ed25519 -o IdentitiesOnly=yes -o BatchMode=yes "
    "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/var/lib/ragstack-backup/known_hosts"
)
REPOSITORY = "/srv/ragstack-backup/rb-backup-data/repos/backup-data"
DOTS = "\uff0e\uff0e"  # how rclone's local backend stores a ".." path element


PROGRAM = f"ssh {SSH_OPTIONS} rb-backup-data@backup-remote"


def restic(host, account, name, *args, password_file="/etc/ragstack-backup/restic-password"):
    """restic on HOST against repository NAME of ACCOUNT's transport (the forced command)."""
    program = f"ssh {SSH_OPTIONS} {account}@backup-remote"
    command = (
        f"restic -r rclone:{name} -o rclone.program={shlex.quote(program)} --no-cache "
        f"--password-file {password_file} " + shlex.join(args)
    )
    return host.run(command)


def snapshot_list(host=DATA, account="rb-backup-data", name="backup-data"):
    run = restic(host, account, name, "snapshots", "--json")
    assert run.rc == 0, run.stderr
    return json.loads(run.stdout)


def repository_dirs(host=REMOTE, path=REPOSITORY):
    return set(host.check_output(f"cd {path} && find . -type d").splitlines())


def repository_files(host=REMOTE, path=REPOSITORY):
    """{relative path: sha256} of every file of a repository, as its host's root sees them."""
    output = host.check_output(f"cd {path} && find . -type f -exec sha256sum {{}} +")
    return {line.split(None, 1)[1]: line.split()[0] for line in output.splitlines()}


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


def test_remote_account_runs_only_the_forced_command():
    """No shell, no SFTP: every session of the account is restic's REST API (append-only)."""
    for command in ("id", "rm -rf /srv/ragstack-backup", "serve restic --stdio ../../etc"):
        shell = DATA.run(f"ssh {SSH_OPTIONS} rb-backup-data@backup-remote {shlex.quote(command)}")
        assert shell.rc != 0 and "uid=" not in shell.stdout, (command, shell.stdout, shell.stderr)
    rc, listed, _ = sftp(DATA, "rb-backup-data", "ls -1 /")
    assert rc != 0 and not listed
    account = REMOTE.user("rb-backup-data")
    assert account.shell == "/usr/local/bin/ragstack-backup-serve"
    assert REMOTE.file("/srv/ragstack-backup").user == "root"
    assert REMOTE.file("/srv/ragstack-backup/rb-backup-data").user == "root"
    repos_dir = REMOTE.file("/srv/ragstack-backup/rb-backup-data/repos")
    assert repos_dir.user == "rb-backup-data" and repos_dir.mode == 0o700
    # Its key, and no other, opens the account.
    key = DATA.file("/var/lib/ragstack-backup/id_ed25519.pub").content_string.split()[:2]
    keys = REMOTE.file("/etc/ssh/authorized_keys/rb-backup-data").content_string.splitlines()
    assert [line.split()[:3] for line in keys] == [["restrict", *key]]
    # The data host's restic reads its repository through it.
    snapshot_list()


def test_the_shared_account_of_older_releases_is_closed():
    # prepare.yml left the remote as older releases did: one account for every data host.
    assert REMOTE.user("ragstack-backup").exists
    rc, _, _ = sftp(DATA, "ragstack-backup", "ls -1 /")
    assert rc != 0
    assert restic(DATA, "ragstack-backup", "backup-data", "cat", "config").rc != 0
    assert not REMOTE.file("/etc/ssh/authorized_keys/ragstack-backup").exists


def test_the_shared_accounts_repository_was_moved_not_replaced():
    """backup-data's repository from the shared account (created by prepare.yml with the password
    every host shared then) is the one its own account serves now: same restic repository id,
    nothing left in the old place, and it opens with the host's own password (the role added it
    as a key)."""
    old = json.loads(REMOTE.file("/root/legacy-repository-config.json").content_string)
    config = restic(DATA, "rb-backup-data", "backup-data", "cat", "config")
    assert config.rc == 0, config.stderr
    assert json.loads(config.stdout)["id"] == old["id"]
    assert not REMOTE.file("/srv/ragstack-backup/repos/backup-data").exists


def test_the_remote_retention_unit_is_sandboxed():
    exposure = unit_exposure(REMOTE, "ragstack-backup-prune@rb-backup-data.service")
    print(f"\nEXPOSURE ragstack-backup-prune@rb-backup-data.service {exposure}")
    assert exposure <= 2.0
    timer = REMOTE.service("ragstack-backup-prune@rb-backup-data.timer")
    assert timer.is_enabled and timer.is_running
    calendar = REMOTE.check_output(
        "systemctl show -p TimersCalendar --value ragstack-backup-prune@rb-backup-data.timer"
    )
    assert "04:00:00" in calendar, calendar


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

    secrets = secret_values()
    backup_seconds, backup_output, backup_ps, backup_journal = watched_playbook(
        "playbooks/backup.yml"
    )
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

    restore_seconds, restore_output, restore_ps, restore_journal = watched_playbook(
        "playbooks/restore.yml", "-e", "backup_restore_repository=remote"
    )
    after = state()
    seen = {
        "output": (backup_output + restore_output).splitlines(),
        "ps": sorted(backup_ps | restore_ps),
        "journal": backup_journal + restore_journal,
    }
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
    print(
        "SEEN",
        json.dumps({where: len(lines) for where, lines in seen.items()}),
        "process lines with restic:",
        sum("restic" in line for line in seen["ps"]),
    )
    return before, after, figures, seen, secrets


def test_backup_published_success_for_both_repositories(drill):
    for repo in ("local", "remote"):
        assert metric("ragstack_backup_last_status", f'backup="{repo}"') == 1
        last = metric("ragstack_backup_last_success_timestamp_seconds", f'backup="{repo}"')
        assert time.time() - last < 3600
        assert metric("ragstack_backup_size_bytes", f'backup="{repo}"') > 0


def test_restore_brings_back_the_same_collections_documents_and_chunks(drill):
    before, after, *_ = drill
    assert after["collections"] == before["collections"]


def test_restore_gives_identical_query_results(drill):
    before, after, *_ = drill
    assert after["queries"] == before["queries"]


def test_restore_starts_the_backup_timer_again(drill):
    # restore.yml holds the timer while it runs (a scheduled run would stop ChromaDB mid-restore).
    assert DATA.service("ragstack-backup.timer").is_running


def test_restore_meets_the_one_hour_rto(drill):
    assert drill[2]["restore_seconds (RTO)"] < 3600


@pytest.mark.parametrize("where", ["output", "ps", "journal"])
def test_no_secret_in_the_output_processes_or_journal_of_backup_and_restore(drill, where):
    """backup.yml and restore.yml ran with -vvv --diff; the arguments of every process and the
    environment of every command (processes()) were sampled on the data host and the remote while
    they ran."""
    _, _, _, seen, secrets = drill
    lines = seen[where]
    assert len(lines) > 50, lines  # the sampling and the capture saw something
    assert not leaks(secrets, lines)


def test_the_samples_caught_the_backup_at_work(drill):
    """The ps samples are worth something only if they saw the processes that hold secrets."""
    seen = drill[3]["ps"]
    assert any(line.startswith("env ragstack-backup.service") for line in seen), seen[-40:]
    assert any("restic" in line and "rclone.program" in line for line in seen), seen[-40:]
    assert any("rclone serve restic --stdio --append-only" in line for line in seen)


def forced_command_http(requests):
    """Raw requests to the remote's restic REST API through backup-data's own transport (its key,
    its account, the forced command): socat bridges a loopback port to the SSH session, curl
    speaks HTTP/2 to it. requests: [(method, path, body or None)] -> [status]."""
    program = f"ssh {SSH_OPTIONS} rb-backup-data@backup-remote serve restic --stdio backup-data"
    bridge = DATA.run(
        "setsid socat TCP-LISTEN:18188,bind=127.0.0.1,reuseaddr,fork "
        f"EXEC:{shlex.quote(program)} </dev/null >/dev/null 2>&1 & echo $!"
    )
    pid = bridge.stdout.strip()
    statuses = []
    try:
        time.sleep(1)
        for method, path, body in requests:
            data = f"--data-binary {shlex.quote(body)}" if body is not None else ""
            run = DATA.run(
                f"curl -s -o /dev/null -w %{{http_code}} --http2-prior-knowledge --path-as-is "
                f"-X {method} {data} http://127.0.0.1:18188{path}"
            )
            statuses.append(run.stdout.strip())
    finally:
        DATA.run(f"kill {pid}")
    return statuses


def test_root_on_the_data_host_cannot_delete_or_rewrite_its_remote_backups(drill):
    """The issue's attack, as root on backup-data with everything it holds (key, password):
    restic forget, prune, key remove and raw DELETE/overwrite requests (also with ../ in the
    path) through the transport. Every file of the remote repository stays as it was."""
    before = repository_files()
    dirs = repository_dirs()
    snapshots = snapshot_list()
    assert snapshots
    ids = [s["id"] for s in snapshots]

    # Data no snapshot references, for prune to delete: a backup of an endless stream, killed
    # after some packs went up (it can never finish and write a snapshot).
    DATA.run(
        "RESTIC_PASSWORD_FILE=/etc/ragstack-backup/restic-password timeout -s KILL 8 "
        f"restic -r rclone:backup-data -o rclone.program={shlex.quote(PROGRAM)} --no-cache "
        "backup --stdin --stdin-filename endless < /dev/urandom"
    )
    assert restic(DATA, "rb-backup-data", "backup-data", "unlock").rc == 0  # the killed run's lock
    unreferenced = {
        path for path in set(repository_files()) - set(before) if path.startswith("./data/")
    }
    assert unreferenced, "the killed backup uploaded no pack: nothing for prune to delete"

    forget = restic(DATA, "rb-backup-data", "backup-data", "forget", *ids)
    assert forget.rc != 0, forget.stdout
    # A policy that keeps nothing (no snapshot has this tag).
    forget_all = restic(
        DATA, "rb-backup-data", "backup-data", "forget", "--keep-tag", "none-has-it"
    )
    assert forget_all.rc != 0, forget_all.stdout
    # restic 0.14's prune only warns when the DELETE of a pack is refused (and exits 0 after
    # retrying): what counts is that the packs are still there.
    prune = restic(DATA, "rb-backup-data", "backup-data", "prune", "--max-unused", "0")
    assert "deleting unreferenced packs" in prune.stdout, prune.stdout[-1000:]
    assert unreferenced <= set(repository_files()), "prune deleted packs"
    keys = json.loads(restic(DATA, "rb-backup-data", "backup-data", "key", "list", "--json").stdout)
    assert len(keys) >= 2  # its own, the remote's (and the previous shared one, migrated from)
    for key in keys:
        if not key["current"]:
            assert restic(DATA, "rb-backup-data", "backup-data", "key", "remove", key["id"]).rc != 0
    unchanged = {path: digest for path, digest in repository_files().items() if path in before}
    assert unchanged == before, (prune.stdout[-500:], prune.stderr[-500:])

    names = {path.split("/")[1]: path.rsplit("/", 1)[-1] for path in before if "/" in path[2:]}
    snapshot, key, index = names["snapshots"], names["keys"], names["index"]
    pack = next(path.rsplit("/", 1)[-1] for path in before if path.startswith("./data/"))
    attacks = [
        ("DELETE", f"/snapshots/{snapshot}", None),
        ("DELETE", f"/data/{pack}", None),
        ("DELETE", f"/index/{index}", None),
        ("DELETE", f"/keys/{key}", None),
        ("DELETE", "/config", None),
        ("DELETE", f"/snapshots/{snapshot}/locks/..", None),
        ("DELETE", f"/locks/../snapshots/{snapshot}", None),
        ("DELETE", f"/locks/%2e%2e/snapshots/{snapshot}", None),
        ("POST", "/config", "garbage"),
        ("POST", f"/snapshots/{snapshot}", "garbage"),
        ("POST", f"/data/{pack}", "garbage"),
        ("POST", f"/keys/{key}", "garbage"),
        ("POST", f"/locks/../snapshots/{snapshot}", "garbage"),
        ("POST", "/locks/x/../../config", "garbage"),
        ("POST", "/../../rb-backup-spare/repos/x/config", "garbage"),
    ]
    statuses = forced_command_http(attacks)
    assert len(statuses) == len(attacks) and all(statuses), statuses
    existing = ("/config", f"/snapshots/{snapshot}", f"/data/{pack}", f"/keys/{key}")
    for (method, path, _), status in zip(attacks, statuses, strict=True):
        if method == "DELETE":
            assert status in ("403", "404"), (method, path, status)
        if method == "POST" and path in existing:
            assert status == "403", (method, path, status)
    after = repository_files()
    # Nothing that was there changed or went away; what the ../ requests added is junk inside the
    # repository (rclone stores ".." as the literal name U+FF0E U+FF0E), removed again as the
    # operator would. (The killed backup's packs stay for the remote's retention run to delete.)
    assert {path: after.get(path) for path in before} == before
    junk = sorted(path for path in set(after) - set(before) if DOTS in path)
    print("\nJUNK ADDED BY THE ATTACK", junk)
    assert junk and all(".." not in path for path in set(after) - set(before))
    for path in junk:
        REMOTE.check_output(f"rm -f {shlex.quote(REPOSITORY + path[1:])}")
    new_dirs = repository_dirs() - dirs
    for path in sorted((p for p in new_dirs if DOTS in p or p == "./locks/x"), reverse=True):
        REMOTE.check_output(f"rmdir {shlex.quote(REPOSITORY + path[1:])}")
    assert not REMOTE.file("/srv/ragstack-backup/rb-backup-spare/repos/x").exists
    assert [s["id"] for s in snapshot_list()] == ids
    check = restic(DATA, "rb-backup-data", "backup-data", "check")
    assert check.rc == 0, check.stdout + check.stderr


def test_the_remotes_retention_run_forgets_and_prunes_with_its_own_key(drill):
    """ragstack-backup-prune@ACCOUNT.service (what its timer starts) applies the seed's remote
    retention (90 daily + the last 6) with the remote's key: 8 small snapshots of one path from
    today leave 6 of them, the drill's snapshot stays, the packs of the killed backup (previous
    test) are deleted, the repository checks clean."""
    DATA.check_output("mkdir -p /tmp/retention && date > /tmp/retention/stamp")
    for _ in range(8):
        run = restic(
            DATA,
            "rb-backup-data",
            "backup-data",
            "backup",
            "--host",
            "retention-test",  # another group: restore.yml's "latest of backup-data" is untouched
            "/tmp/retention",
        )
        assert run.rc == 0, run.stderr

    def extra():
        listed = snapshot_list()
        return [s["id"] for s in listed if s["hostname"] == "retention-test"], listed

    made, listed = extra()
    assert len(made) == 8
    others = {s["id"] for s in listed} - set(made)
    packs = {path for path in repository_files() if path.startswith("./data/")}
    REMOTE.check_output("systemctl start ragstack-backup-prune@rb-backup-data.service")
    result = REMOTE.check_output(
        "systemctl show -p Result --value ragstack-backup-prune@rb-backup-data.service"
    )
    journal = REMOTE.check_output(
        "journalctl --no-pager -o cat -u ragstack-backup-prune@rb-backup-data.service -n 40"
    )
    assert result == "success", journal
    kept, listed = extra()
    assert kept == made[-6:], journal
    assert others <= {s["id"] for s in listed}
    assert "done" in journal
    assert {path for path in repository_files() if path.startswith("./data/")} < packs
    # It ran as the account (its files stay the account's, readable by the transport).
    assert REMOTE.check_output(f"find {REPOSITORY} ! -user rb-backup-data | wc -l") == "0"


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
    before = drill[0]
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
    assert REMOTE.file(f"{REPOSITORY}/config").exists
    # Its own account serves its own repository; backup-data's account refuses its key, and its
    # own account has no repository of that name (the name cannot leave the account's directory).
    assert restic(SPARE, "rb-backup-spare", "backup-spare", "cat", "config").rc == 0
    other = restic(SPARE, "rb-backup-data", "backup-data", "snapshots")
    assert other.rc != 0 and "backup-data" not in other.stdout
    for name in ("backup-data", "..", "../../rb-backup-data/repos/backup-data"):
        run = restic(SPARE, "rb-backup-spare", name, "snapshots")
        assert run.rc != 0 and "backup-data" not in run.stdout, name
