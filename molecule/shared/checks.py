"""Checks shared by the molecule scenarios' testinfra tests (import with sys.path)."""

import re


def unit_exposure(host, unit: str) -> float:
    """`systemd-analyze security` overall exposure of a unit (0 = best, 10 = worst)."""
    output = host.check_output(f"systemd-analyze security --no-pager {unit}")
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", output)
    assert match, output[-500:]
    return float(match.group(1))


def reachable(client, address: str, port: int) -> bool:
    """True when `client` opens a TCP connection to address:port within 3 s (firewall probes)."""
    probe = (
        "import socket,sys; s=socket.socket(); s.settimeout(3); "
        f"sys.exit(s.connect_ex(('{address}', {port})))"
    )
    return client.run(f'python3 -c "{probe}"').rc == 0


def unit_main_user(host, unit: str) -> str:
    """The user the unit's main process runs as (full name: plain `ps -o user=` truncates)."""
    main_pid = host.check_output(f"systemctl show -p MainPID --value {unit}")
    return host.check_output(f"ps -o user:32= -p {main_pid}").strip()
