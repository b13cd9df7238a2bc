"""Entry points of the internal role ragstack.platform._common that can run without a lab host."""

import re
import shutil
import stat
import sys
from pathlib import Path

import pytest
from test_collection import local_play

RECORD = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Record a deployment the way playbooks/rolling_update.yml does
      ansible.builtin.include_role:
        name: ragstack.platform._common
        tasks_from: deployment_record
"""


def play(tmp_path: Path, text: str, variables: dict, *args: str) -> str:
    """Run the playbook TEXT on localhost with this venv's Python; its whole output."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(text)
    run = local_play(playbook, {"ansible_python_interpreter": sys.executable, **variables}, *args)
    return run.stdout + run.stderr


def record(tmp_path: Path, variables: dict) -> str:
    return play(
        tmp_path,
        RECORD,
        {"_common_deployment_textfile_dir": str(tmp_path / "textfile"), **variables},
    )


def test_deployment_record_writes_one_sample_with_safe_labels(tmp_path):
    output = record(
        tmp_path,
        {
            "_common_deployment_version": '1.2.0"} evil{x="1',
            "_common_deployment_result": "rolled_back",
            "_common_deployment_deployed_by": "bob\nragstack_fake 1",
        },
    )
    assert "failed=0" in output, output[-3000:]
    metric = tmp_path / "textfile" / "ragstack_deployment.prom"
    assert stat.S_IMODE(metric.stat().st_mode) == 0o644
    samples = [line for line in metric.read_text().splitlines() if not line.startswith("#")]
    assert len(samples) == 1, samples
    labels, timestamp = samples[0].rsplit(" ", 1)
    assert labels == (
        'ragstack_deployment_timestamp_seconds{version="1.2.0___evil_x__1",'
        'result="rolled_back",deployed_by="bob_ragstack_fake_1"}'
    )
    assert int(timestamp) > 1_700_000_000


def test_deployment_record_refuses_an_unknown_result_and_a_missing_version(tmp_path):
    output = record(tmp_path, {"_common_deployment_result": "maybe"})
    assert "failed=1" in output
    assert "_common_deployment_version" in output and "maybe" in output
    assert not (tmp_path / "textfile").exists()


TLS_CERT = """
- hosts: localhost
  connection: local
  gather_facts: true
  tasks:
    - name: A server certificate from the internal CA, as roles/redis asks for one
      ansible.builtin.include_role:
        name: ragstack.platform._common
        tasks_from: tls_cert
      vars:
        _common_tls_cert: {name: svc, group: root, notify: [Certificate changed],
                           extra_names: "{{ extra_names | default([]) }}"}
  handlers:
    - name: Certificate changed
      ansible.builtin.shell: echo notified >> {{ marker }}
      changed_when: true
"""


def tls_cert(tmp_path: Path, check: bool = False, text: str = TLS_CERT, **variables) -> str:
    """Run tls_cert (or the entry point in `text`) on localhost with the CA and the host's files
    under tmp_path; its output."""
    return play(
        tmp_path,
        text,
        {
            "ragstack_tls_ca_dir": str(tmp_path / "controller-pki"),
            "_common_tls_ca_path": str(tmp_path / "host" / "ca.pem"),
            "_common_tls_packages": [],  # the venv's cryptography does it here
            "marker": str(tmp_path / "notified"),
            **variables,
        },
        *(["--check"] if check else []),
    )


def leaf(tmp_path: Path):
    from cryptography import x509

    return x509.load_pem_x509_certificate((tmp_path / "host" / "svc" / "cert.pem").read_bytes())


def changed(output: str) -> int:
    """The run's changed count; it must have failed nothing."""
    recap = re.search(r"localhost\s*:.*changed=(\d+).*failed=(\d+)", output)
    assert recap and recap.group(2) == "0", output[-3000:]
    return int(recap.group(1))


def test_tls_cert_issues_rotates_and_stays_idempotent(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    # Check mode on a fresh controller and host (the stack scenario's first step): it reports the
    # CA and the certificate to make, and makes nothing, not even the CA's directory.
    fresh = tls_cert(tmp_path, check=True)
    assert changed(fresh) > 0, fresh
    assert not (tmp_path / "controller-pki").exists() and not (tmp_path / "host").exists()

    first = tls_cert(tmp_path)
    ca_key = tmp_path / "controller-pki" / "ca.key"
    assert stat.S_IMODE(ca_key.stat().st_mode) == 0o600, first
    key = tmp_path / "host" / "svc" / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o640
    assert "PRIVATE KEY" not in first  # no key material in the output
    ca = x509.load_pem_x509_certificate((tmp_path / "host" / "ca.pem").read_bytes())
    issued = leaf(tmp_path)
    issued.verify_directly_issued_by(ca)
    names = issued.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert (tmp_path / "notified").read_text().count("notified") == 1

    again = tls_cert(tmp_path)
    assert changed(again) == 0, again
    assert leaf(tmp_path).serial_number == issued.serial_number

    # Within renew_before_days of its end (90-day certificates, renewal at 100 days left): a check
    # run reports it and changes nothing; a real run re-issues it and notifies the service.
    checked = tls_cert(tmp_path, check=True, ragstack_tls_renew_before_days=100)
    assert changed(checked) > 0, checked
    assert leaf(tmp_path).serial_number == issued.serial_number
    renewed = tls_cert(tmp_path, ragstack_tls_renew_before_days=100)
    assert leaf(tmp_path).serial_number != issued.serial_number, renewed
    assert (tmp_path / "notified").read_text().count("notified") == 2

    # A new name on the host: re-issued with it, same CA.
    tls_cert(tmp_path, extra_names=["db.example.internal", "10.9.8.7"])
    names = leaf(tmp_path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "db.example.internal" in names.get_values_for_type(x509.DNSName)
    assert "10.9.8.7" in [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
    leaf(tmp_path).verify_directly_issued_by(ca)

    # A lost CA: the next run makes a new one and re-issues the certificate under it.
    shutil.rmtree(tmp_path / "controller-pki")
    tls_cert(tmp_path)
    new_ca = x509.load_pem_x509_certificate((tmp_path / "host" / "ca.pem").read_bytes())
    assert new_ca.fingerprint(hashes.SHA256()) != ca.fingerprint(hashes.SHA256())
    leaf(tmp_path).verify_directly_issued_by(new_ca)


def cert_task(name: str) -> str:
    return f"""
    - name: The certificate of {name}
      ansible.builtin.include_role:
        name: ragstack.platform._common
        tasks_from: tls_cert
      vars:
        _common_tls_cert: {{name: {name}, group: root}}
"""


TWO_CERTS = (
    """
- hosts: localhost
  connection: local
  gather_facts: true
  tasks:"""
    + cert_task("svc")
    + """
    - name: Take the installed CA certificate away (what a second CA install would put back)
      ansible.builtin.file:
        path: "{{ _common_tls_ca_path }}"
        state: absent"""
    + cert_task("svc2")
)


def test_tls_ca_is_installed_once_per_host_and_run(tmp_path):
    from cryptography import x509

    # site.yml includes tls_cert a dozen times per host: the CA is made and installed by the first
    # inclusion only; the second one still signs with it.
    changed(tls_cert(tmp_path, text=TWO_CERTS))
    assert not (tmp_path / "host" / "ca.pem").exists()
    ca = x509.load_pem_x509_certificate((tmp_path / "controller-pki" / "ca.pem").read_bytes())
    for name in ("svc", "svc2"):
        cert = tmp_path / "host" / name / "cert.pem"
        x509.load_pem_x509_certificate(cert.read_bytes()).verify_directly_issued_by(ca)


TLS_WEB_CONFIG = TLS_CERT.replace("tasks_from: tls_cert", "tasks_from: tls_web_config")
BLACKBOX = (
    Path(__file__).resolve().parents[2]
    / ".cache/monitoring-tools/usr/bin/prometheus-blackbox-exporter"
)


def https_get(url: str, ca: Path, client: Path | None) -> tuple[int, str]:
    """GET over HTTPS verifying against `ca`, presenting the certificate/key of directory
    `client` if given; (status, body), status 0 when the TLS handshake or the read failed."""
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=str(ca))
    if client:
        context.load_cert_chain(client / "cert.pem", client / "key.pem")
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError:
        return 0, ""


def test_tls_web_config_serves_https_to_clients_of_the_internal_ca_only(tmp_path):
    """The entry point's web config, as Debian's exporter-toolkit servers read it: a real
    blackbox_exporter (Debian 12's, from the monitoring tools) serves its metrics over HTTPS to
    the certificate tls_cert issued and to no client without one, nor to plain HTTP."""
    import socket
    import subprocess
    import time
    import urllib.error
    import urllib.request

    assert BLACKBOX.exists(), "run scripts/bootstrap 50-monitoring"
    output = tls_cert(tmp_path, text=TLS_WEB_CONFIG)
    assert changed(output) > 0, output
    web = tmp_path / "host" / "svc" / "web.yml"
    assert "client_auth_type: RequireAndVerifyClientCert" in web.read_text()
    modules = tmp_path / "blackbox.yml"
    modules.write_text("modules:\n  tcp_connect:\n    prober: tcp\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    arguments = [f"--config.file={modules}", f"--web.listen-address=127.0.0.1:{port}"]
    server = subprocess.Popen(
        [str(BLACKBOX), *arguments, f"--web.config.file={web}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ca, url = tmp_path / "host" / "ca.pem", f"https://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 60
        while (answer := https_get(url, ca, tmp_path / "host" / "svc"))[0] != 200:
            assert time.monotonic() < deadline, answer
            time.sleep(0.2)
        assert "# HELP" in answer[1]
        assert https_get(url, ca, None) == (0, "")  # no client certificate: no metrics
        with pytest.raises(urllib.error.HTTPError) as plain:  # plain HTTP: 400, no metrics
            urllib.request.urlopen(url.replace("https:", "http:"), timeout=5)
        assert plain.value.code == 400
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert changed(tls_cert(tmp_path, text=TLS_WEB_CONFIG)) == 0
