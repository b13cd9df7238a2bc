"""Entry points of the internal role ragstack.platform._common that can run without a lab host."""

import stat
import sys
from pathlib import Path

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


def record(tmp_path: Path, variables: dict) -> str:
    playbook = tmp_path / "play.yml"
    playbook.write_text(RECORD)
    run = local_play(
        playbook,
        {
            "ansible_python_interpreter": sys.executable,
            "_common_deployment_textfile_dir": str(tmp_path / "textfile"),
            **variables,
        },
    )
    return run.stdout + run.stderr


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
