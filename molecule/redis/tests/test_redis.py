"""Behaviour of the redis role on redis-debian12 (asserts on the host, not on tasks)."""

import shlex
import sys
import time
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from checks import unit_exposure

BACKEND = ("ragstack", "molecule-redis-backend-pw")
ADMIN = ("ragstack-admin", "molecule-redis-admin-pw")
CA = "/etc/ragstack/tls/ca.pem"
DANGEROUS = ["FLUSHALL", "FLUSHDB", "CONFIG GET maxmemory", "DEBUG SLEEP 0", "KEYS 'ragstack:*'",
             "SHUTDOWN NOSAVE", "MONITOR", "ACL LIST", "INFO", "BGSAVE"]  # fmt: skip


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host("docker://redis-debian12")


TLS = f"--tls --cacert {CA}"


def cli(host, command: str, user: tuple[str, str] | None = None) -> str:
    """Run one redis-cli command on the redis host over loopback; its reply (errors included)."""
    auth = ""
    if user:
        auth = f"REDISCLI_AUTH={shlex.quote(user[1])} "
        auth_user = f"--user {shlex.quote(user[0])} "
    else:
        auth_user = ""
    result = host.run(f"{auth}redis-cli {TLS} -h 127.0.0.1 -p 6379 {auth_user}{command} 2>&1")
    return result.stdout.strip()


def resp_exchange(client, server_address: str, lines: list[str], ca_pem: str | None) -> str:
    """From `client`, send inline commands to redis on `server_address` over TLS verified against
    `ca_pem` (None: in plaintext); '' if no connection, `closed` if the server dropped it."""
    payload = "".join(f"{line}\r\n" for line in lines)
    wrap = (
        f"s=ssl.create_default_context(cadata={ca_pem!r})"
        f".wrap_socket(s, server_hostname={server_address!r})\n"
        if ca_pem
        else ""
    )
    script = (
        "import socket,ssl,sys,time\n"
        "try:\n"
        f"    s=socket.create_connection(({server_address!r}, 6379), timeout=3)\n"
        "except OSError:\n"
        "    sys.exit(0)\n"
        f"{wrap}"
        f"s.sendall({payload.encode()!r}); time.sleep(0.5)\n"
        "try:\n"
        "    print(s.recv(4096).decode(errors='replace') or 'closed')\n"
        "except OSError:\n"
        "    print('closed')\n"
    )
    return client.check_output(f"python3 -c {shlex.quote(script)}")


def server_address(host) -> str:
    return host.interface("eth0").addresses[0]


def test_service_running_with_our_config(host):
    assert host.service("redis-server").is_running
    assert host.service("redis-server").is_enabled
    config = host.file("/etc/redis/redis.conf")
    assert config.user == "root" and config.group == "redis" and config.mode == 0o640
    # Passwords are stored hashed only.
    assert BACKEND[1] not in config.content_string
    assert ADMIN[1] not in config.content_string


def test_listens_on_loopback_and_host_address_only(host):
    listening = host.check_output("ss -ltnH 'sport = :6379'")
    assert "127.0.0.1:6379" in listening
    assert f"{server_address(host)}:6379" in listening
    assert "0.0.0.0:6379" not in listening and "*:6379" not in listening


def test_auth_required(host):
    assert "NOAUTH" in cli(host, "GET ragstack:x")
    # The default user is off: a client must name its ACL user.
    assert "WRONGPASS" in cli(host, "AUTH default " + BACKEND[1])
    assert "WRONGPASS" in cli(host, "AUTH ragstack wrong-password")


def test_backend_user_can_get_and_set(host):
    assert cli(host, "SET ragstack:molecule:greeting hello", BACKEND) == "OK"
    assert cli(host, "GET ragstack:molecule:greeting", BACKEND) == "hello"
    assert cli(host, "EVAL \"return redis.call('TIME')[1] ~= nil\" 0", BACKEND) == "1"


def test_backend_user_confined_to_its_prefix(host):
    assert "NOPERM" in cli(host, "SET other:key value", BACKEND)
    assert "NOPERM" in cli(host, "GET other:key", BACKEND)


@pytest.mark.parametrize("command", DANGEROUS)
def test_dangerous_commands_refused_to_backend(host, command):
    reply = cli(host, command, BACKEND)
    # DEBUG is refused to everyone (enable-debug-command no) before the ACL is consulted.
    assert "NOPERM" in reply or "DEBUG command not allowed" in reply, reply
    assert host.service("redis-server").is_running


def test_persistence_and_memory_settings_effective(host):
    def config_get(name: str) -> str:
        reply = cli(host, f"CONFIG GET {name}", ADMIN).splitlines()
        assert reply[0] == name, reply
        return reply[1]

    assert config_get("appendonly") == "yes"
    assert config_get("appendfsync") == "everysec"
    assert config_get("save") == "3600 1 300 100 60 10000"
    assert config_get("maxmemory") == str(512 * 1024 * 1024)
    assert config_get("maxmemory-policy") == "volatile-lru"
    assert config_get("protected-mode") == "yes"
    assert config_get("enable-debug-command") == "no"
    assert host.file("/var/lib/redis/appendonlydir").is_directory


def test_overcommit_setting_written_for_the_container_host(host):
    # The lab host is a container: the file is written, the kernel value is the container host's.
    assert (
        "vm.overcommit_memory = 1"
        in host.file("/etc/sysctl.d/60-ragstack-redis.conf").content_string
    )


def test_data_survives_restart(host):
    assert cli(host, "SET ragstack:molecule:durable kept", BACKEND) == "OK"
    # The backend writes its catalog in MULTI/EXEC transactions: redis replays those from the
    # append-only file at startup (no BGSAVE here, so the AOF is what brings them back). Two
    # writes, like the catalog's: redis 7 logs a one-command transaction without MULTI/EXEC, and
    # only a real MULTI/EXEC in the AOF meets the ACL re-check that lost the catalog.
    writes = ["HSET ragstack:molecule:txn field kept", "HINCRBY ragstack:molecule:txn count 1"]
    transaction = "\n".join(["MULTI", *writes, "EXEC"]) + "\n"
    sent = host.run(
        f"printf {shlex.quote(transaction)} | REDISCLI_AUTH={shlex.quote(BACKEND[1])} "
        f"redis-cli {TLS} -h 127.0.0.1 -p 6379 --user {BACKEND[0]}"
    )
    assert sent.rc == 0 and "ERR" not in sent.stdout, sent.stdout
    time.sleep(1.5)  # appendfsync everysec
    host.check_output("systemctl restart redis-server")
    for _ in range(30):
        if cli(host, "PING", BACKEND) == "PONG":
            break
        time.sleep(1)
    assert cli(host, "GET ragstack:molecule:durable", BACKEND) == "kept"
    assert cli(host, "HGET ragstack:molecule:txn field", BACKEND) == "kept"
    assert cli(host, "HGET ragstack:molecule:txn count", BACKEND) == "1"
    # Nothing was refused while the append-only file was loaded.
    pid = host.check_output("systemctl show -p MainPID --value redis-server")
    journal = host.check_output(f"journalctl _PID={pid} --no-pager")
    assert "AOF-loading-client" not in journal, journal


def test_config_checker_refuses_a_bad_file(host):
    host.check_output("/usr/local/sbin/redis-config-check /etc/redis/redis.conf")
    bad = host.run(
        "sed 's/^maxmemory-policy .*/maxmemory-policy sometimes/' /etc/redis/redis.conf"
        " > /tmp/bad.conf && /usr/local/sbin/redis-config-check /tmp/bad.conf"
    )
    assert bad.rc != 0 and "maxmemory-policy" in bad.stderr
    bad_acl = host.run(
        "sed 's/-@dangerous/-@dangerouz/' /etc/redis/redis.conf > /tmp/bad-acl.conf"
        " && /usr/local/sbin/redis-config-check /tmp/bad-acl.conf"
    )
    assert bad_acl.rc != 0 and "ACL" in bad_acl.stderr


def test_port_open_to_app_group_only(host):
    address = server_address(host)
    app = testinfra.get_host("docker://redis-app-debian12")
    outsider = testinfra.get_host("docker://redis-outsider-debian12")
    ca_pem = host.file(CA).content_string
    commands = ["PING", f"AUTH {BACKEND[0]} {BACKEND[1]}", "PING"]
    reply = resp_exchange(app, address, commands, ca_pem)
    assert reply.split() == ["-NOAUTH", "Authentication", "required.", "+OK", "+PONG"], reply
    assert resp_exchange(outsider, address, ["PING"], ca_pem) == ""


def test_tls_only(host):
    """No plaintext port: a plaintext PING on 6379 gets no Redis reply; the certificate names the
    host's address and is signed by the collection's internal CA; only redis reads the key."""
    app = testinfra.get_host("docker://redis-app-debian12")
    plain = resp_exchange(app, server_address(host), ["PING"], None)
    assert "PONG" not in plain and "NOAUTH" not in plain, plain
    plain_cli = host.run("redis-cli -h 127.0.0.1 -p 6379 PING 2>&1").stdout
    assert "PONG" not in plain_cli and "NOAUTH" not in plain_cli, plain_cli
    verify = host.run(f"openssl verify -CAfile {CA} /etc/ragstack/tls/redis/cert.pem")
    assert verify.rc == 0, verify.stdout + verify.stderr
    names = host.check_output(
        "openssl x509 -noout -ext subjectAltName -in /etc/ragstack/tls/redis/cert.pem"
    )
    assert f"IP Address:{server_address(host)}" in names and "IP Address:127.0.0.1" in names, names
    key = host.file("/etc/ragstack/tls/redis/key.pem")
    assert (key.user, key.group, key.mode) == ("root", "redis", 0o640)


def test_unit_sandboxed(host):
    dropin = "/etc/systemd/system/redis-server.service.d/50-ragstack-hardening.conf"
    assert host.file(dropin).exists
    writable = host.check_output("systemctl show -p ReadWritePaths --value redis-server")
    assert "/etc/redis" not in writable
    assert "/var/lib/redis" in writable
    exposure = unit_exposure(host, "redis-server.service")
    print(f"\nsystemd-analyze security redis-server.service: {exposure}")
    assert exposure <= 5.0
