"""The common role's whole baseline on stack-baseline (Debian 13, no other role): molecule/common's
host checks, imported, run against it. The firewall between two hosts and Debian 12's baseline
are checked by molecule/common itself (outside the default test run)."""

import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "common" / "tests"))
from test_common import (  # noqa: F401  (collected here, against the host below)
    test_firewall_default_deny,
    test_intrusion_detection,
    test_legacy_packages_absent,
    test_login_policy,
    test_lynis_hardening_index,
    test_no_weak_dh_moduli,
    test_security_updates_are_automatic,
    test_sshd_accepts_keys_only_and_modern_crypto,
    test_sysctl_hardening_is_written,
    test_time_and_journal,
)


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host("docker://stack-baseline")
