"""The edge with certbot_mode internal_ca: nginx serves a certificate our lab CA signed."""

import os
import socket
import ssl
import sys
from pathlib import Path

import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from checks import unit_exposure

DOMAIN = "edge-localca-lb.lab.test"
lb = testinfra.get_host("docker://edge-localca-lb")


def test_served_certificate_is_signed_by_the_lab_ca():
    ca = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "lab-ca.pem"
    context = ssl.create_default_context(cafile=str(ca))  # verifies chain and name
    address = lb.interface("eth0").addresses[0]
    with (
        socket.create_connection((address, 443), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=DOMAIN) as tls,
    ):
        issuer = dict(item[0] for item in tls.getpeercert()["issuer"])
    assert issuer["commonName"] == "edge-localca lab CA"


def test_the_ca_key_stayed_on_the_controller():
    assert lb.run("grep -rl 'PRIVATE KEY' /etc/ssl/ragstack").stdout.split() == [
        "/etc/ssl/ragstack/privkey.pem"
    ]
    assert lb.file("/etc/ssl/ragstack/privkey.pem").mode == 0o600


def test_nginx_on_debian13_is_sandboxed():
    assert lb.run("nginx -t").rc == 0
    exposure = unit_exposure(lb, "nginx.service")
    print(f"\nsystemd-analyze security nginx.service (Debian 13): {exposure}")
    assert exposure <= 5.0
