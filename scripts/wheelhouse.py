#!/usr/bin/env python3
"""Build a release wheelhouse from one hashed lock of requirements/, strictly.

    scripts/wheelhouse.py PYTHON LOCK DEST [PIP-ARGS...]

runs `PYTHON -m pip wheel --require-hashes --no-build-isolation -r LOCK -w DEST PIP-ARGS`: every
file pip takes (from the index or a --find-links directory) must match a sha256 of the lock, every
dependency must be in the lock, and build backends come from PYTHON's own environment (the build
venv, installed from requirements/build.txt with hashes too). A pin that does not install fails the
build, naming the lock; none is dropped. Then DEST must hold exactly one wheel per pin, and
DEST/requirements.txt is written: every wheel in DEST as NAME==VERSION with the sha256 of that very
file, so hosts install with pip's hash checking (`pip install --no-index -r requirements.txt`).

A pin with no wheel on the index (llama-cpp-python) is built from its source archive, whose sha256
the lock holds; such wheels are listed by `built_from_source` for the release's manifest.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})\b")


class LockError(Exception):
    """The lock or the wheelhouse made from it is not what a release may ship."""


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: frozenset[str]


def read_lock(path: Path) -> dict[str, Pin]:
    """NAME -> Pin for every requirement of a pip requirements file with hashes."""
    text = path.read_text()
    entries = re.sub(r"\\\n", " ", text).splitlines()
    pins: dict[str, Pin] = {}
    for entry in entries:
        line = entry.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        if match is None:
            raise LockError(f"{path}: not an exact NAME==VERSION pin: {line[:80]}")
        name = canonicalize_name(match.group(1))
        hashes = frozenset(HASH.findall(line))
        if not hashes:
            raise LockError(f"{path}: {name}=={match.group(2)} has no --hash (run scripts/lock)")
        if name in pins:
            raise LockError(f"{path}: {name} is pinned twice")
        pins[name] = Pin(name, match.group(2), hashes)
    if not pins:
        raise LockError(f"{path}: no requirement")
    return pins


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def wheels(dest: Path) -> dict[str, tuple[str, Path]]:
    """NAME -> (version, file) for every wheel in DEST; two versions of one name is an error."""
    found: dict[str, tuple[str, Path]] = {}
    for wheel in sorted(dest.glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        if name in found:
            raise LockError(f"{dest}: two wheels of {name}: {found[name][1].name}, {wheel.name}")
        found[name] = (str(version), wheel)
    return found


def check_complete(pins: dict[str, Pin], dest: Path) -> None:
    have = wheels(dest)
    missing = [
        f"{p.name}=={p.version}"
        for p in pins.values()
        if p.name not in have or Version(have[p.name][0]) != Version(p.version)
    ]
    if missing:
        raise LockError(f"{dest}: no wheel for {', '.join(missing)}")


def write_requirements(dest: Path) -> Path:
    """DEST/requirements.txt: each wheel of DEST pinned to the sha256 of its file."""
    lines = [
        "# Every wheel of this wheelhouse, pinned to its file's sha256 (scripts/wheelhouse.py).",
        "# Install: pip install --no-index --find-links . --requirement requirements.txt",
    ]
    for name, (version, wheel) in sorted(wheels(dest).items()):
        lines.append(f"{name}=={version} \\\n    --hash=sha256:{sha256(wheel)}")
    target = dest / "requirements.txt"
    target.write_text("\n".join(lines) + "\n")
    return target


def built_from_source(lock: Path, dest: Path) -> list[dict[str, str]]:
    """Wheels of DEST the index does not have: built here from a source archive the lock pins."""
    pins = read_lock(lock)
    built = []
    for name, (_, wheel) in sorted(wheels(dest).items()):
        if name in pins and (digest := sha256(wheel)) not in pins[name].hashes:
            built.append(
                {
                    "file": wheel.name,
                    "sha256": digest,
                    "source_sha256": " ".join(sorted(pins[name].hashes)),
                }
            )
    return built


def build(python: str, lock: Path, dest: Path, pip_args: list[str]) -> None:
    pins = read_lock(lock)
    dest.mkdir(parents=True, exist_ok=True)
    command = [python, "-m", "pip", "wheel", "--disable-pip-version-check", "--require-hashes"]
    command += ["--no-build-isolation", "--requirement", str(lock), "--wheel-dir", str(dest)]
    if subprocess.run([*command, *pip_args], check=False).returncode != 0:
        raise LockError(
            f"{lock} does not install as locked (pip's error above): no pin is dropped. "
            "Fix the pin or its input and regenerate the locks with scripts/lock."
        )
    check_complete(pins, dest)
    write_requirements(dest)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] in ("-h", "--help"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    python, lock, dest, *pip_args = argv
    try:
        build(python, Path(lock), Path(dest), pip_args)
    except LockError as error:
        print(f"wheelhouse: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
