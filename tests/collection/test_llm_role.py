"""The llm role without a host: its preflight on bad variables, and what it renders for each engine
(the Ollama engine cannot run here, no release is reachable: its unit and Modelfile are checked as
rendered; molecule/llm runs the llama_cpp engine for real)."""

import json
import sys
from pathlib import Path

import pytest
from test_collection import ROOT, local_play

FACTS = {
    "default_ipv4": {"address": "10.0.0.5"},
    "processor_vcpus": 4,
    "architecture": "x86_64",
    "service_mgr": "systemd",
}
PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars_files: [{common_defaults}]
  tasks:
    - name: Preflight (its variables public for the templates below)
      ansible.builtin.include_role:
        name: ragstack.platform.llm
        tasks_from: preflight
        public: true
    - name: Render the unit, the Modelfile and the server settings
      ansible.builtin.template:
        src: "{{{{ item.src }}}}"
        dest: "{out}/{{{{ item.dest }}}}"
        mode: "0644"
      loop:
        - {{src: {roles}/_common/templates/hardened.service.j2, dest: unit}}
        - {{src: {roles}/llm/templates/Modelfile.j2, dest: Modelfile}}
        - {{src: {roles}/llm/templates/server.json.j2, dest: server.json}}
      vars:
        _common_systemd_unit: "{{{{ llm_unit }}}}"
"""
MODEL = {"llm_model_url": "https://models.example/m.gguf", "llm_model_sha256": "ab" * 32}


def run_role(tmp_path: Path, extra: dict):
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        PLAY.format(
            common_defaults=ROOT / "roles/_common/defaults/main.yml",
            roles=ROOT / "roles",
            out=tmp_path,
        )
    )
    variables = {"ansible_facts": FACTS, "ansible_python_interpreter": sys.executable, **extra}
    return local_play(playbook, variables)


def test_ollama_engine_renders_its_unit_and_modelfile(tmp_path):
    run = run_role(tmp_path, {**MODEL, "llm_engine": "ollama", "llm_parallel": 3})
    assert run.returncode == 0, run.stdout[-3000:]
    unit = (tmp_path / "unit").read_text()
    assert "ExecStart=/opt/ragstack-llm/ollama/bin/ollama serve" in unit
    assert 'Environment="OLLAMA_HOST=10.0.0.5:11434"' in unit
    assert 'Environment="OLLAMA_NUM_PARALLEL=3"' in unit
    assert 'Environment="OLLAMA_MODELS=/var/lib/ragstack-llm/ollama"' in unit
    assert "User=ragstack-llm" in unit and "MemoryDenyWriteExecute=yes" in unit
    assert "ReadWritePaths=/var/lib/ragstack-llm" in unit
    modelfile = (tmp_path / "Modelfile").read_text()
    assert "FROM /var/lib/ragstack-llm/models/smollm2.gguf" in modelfile
    assert "PARAMETER num_ctx 4096" in modelfile and "PARAMETER num_thread 4" in modelfile


def test_llama_cpp_engine_keeps_the_key_out_of_the_unit(tmp_path):
    run = run_role(tmp_path, {**MODEL, "llm_api_key": "secret-key-0123456789abc"})
    assert run.returncode == 0, run.stdout[-3000:]
    unit = (tmp_path / "unit").read_text()
    assert "-m llama_cpp.server --config_file /etc/ragstack-llm/server.json" in unit
    assert "secret-key" not in unit
    settings = json.loads((tmp_path / "server.json").read_text())
    assert settings["api_key"] == "secret-key-0123456789abc"
    assert settings["interrupt_requests"] is False  # a new request never cuts a running one
    (model,) = settings["models"]
    assert model["model_alias"] == "smollm2" and model["n_threads"] == 4


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"llm_engine": "vllm"}, "llm_engine"),
        ({"llm_model_sha256": ""}, "llm_model_sha256"),
        ({"llm_model_src": "/tmp/m.gguf"}, "llm_model_src"),  # and a URL: one of the two
        ({"llm_parallel": 2}, "llm_parallel"),  # llama_cpp serves one generation at a time
        ({"llm_firewall_groups": [], "llm_firewall_sources": []}, "llm_firewall_groups"),
        ({"llm_api_key": "short"}, "llm_api_key"),
    ],
)
def test_bad_variable_fails_in_preflight_naming_it(tmp_path, extra, named):
    run = run_role(tmp_path, {**MODEL, **extra})
    assert run.returncode != 0
    assert named in run.stdout, run.stdout[-3000:]
    assert not (tmp_path / "unit").exists()
