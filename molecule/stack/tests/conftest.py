"""Lab host fixtures shared by the stack scenario's test files."""

import pytest
import testinfra


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host("docker://stack-debian12")


@pytest.fixture(scope="module")
def address(host):
    """The address other hosts reach the stack host on."""
    return host.interface("eth0").addresses[0]
