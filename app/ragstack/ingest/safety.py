"""Checks that run before any parsing: names, types, sizes, archive bombs, metadata."""

from __future__ import annotations

import codecs
import json
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ragstack.errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaError


@dataclass(frozen=True)
class Format:
    name: str
    content_type: str
    # Declared (multipart) content types accepted for this format, besides generic ones.
    declared: tuple[str, ...]
    # The extension of the stored original.
    suffix: str


TEXT = Format("text", "text/plain", ("text/",), ".txt")
MARKDOWN = Format("markdown", "text/markdown", ("text/",), ".md")
HTML = Format("html", "text/html", ("text/html", "application/xhtml+xml", "text/plain"), ".html")
PDF = Format("pdf", "application/pdf", ("application/pdf", "application/x-pdf"), ".pdf")
DOCX = Format(
    "docx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/zip"),
    ".docx",
)
FORMATS_BY_SUFFIX = {
    ".txt": TEXT,
    ".text": TEXT,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".html": HTML,
    ".htm": HTML,
    ".pdf": PDF,
    ".docx": DOCX,
}
FORMATS_BY_CONTENT_TYPE = {f.content_type: f for f in (TEXT, MARKDOWN, HTML, PDF, DOCX)}
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
MAX_FILENAME_CHARS = 255
MAX_ZIP_ENTRIES = 5000
MAX_METADATA_KEYS = 32
MAX_METADATA_VALUE_CHARS = 512
METADATA_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_filename(filename: str | None) -> str:
    if not filename or not filename.strip():
        raise InvalidInputError("the uploaded file has no filename")
    # The name is only a label (originals are stored under the document id): what is refused
    # here is what would mislead a reader or a tool that trusts it as a path.
    if "/" in filename or "\\" in filename:
        raise InvalidInputError("filename must not contain path separators")
    if filename in {".", ".."}:
        raise InvalidInputError("filename must not be '.' or '..'")
    if _CONTROL.search(filename):
        raise InvalidInputError("filename must not contain control characters")
    if not _encodable(filename):
        raise InvalidInputError("filename is not valid Unicode (lone surrogate)")
    if len(filename) > MAX_FILENAME_CHARS:
        raise InvalidInputError(f"filename longer than {MAX_FILENAME_CHARS} characters")
    return filename


def format_for(filename: str, declared_type: str | None) -> Format:
    suffix = PurePosixPath(filename).suffix.lower()
    fmt = FORMATS_BY_SUFFIX.get(suffix)
    if fmt is None:
        supported = ", ".join(sorted(FORMATS_BY_SUFFIX))
        raise UnsupportedMediaError(
            f"unsupported file type {suffix or '(no extension)'!r}; supported: {supported}"
        )
    declared = (declared_type or "").split(";")[0].strip().lower()
    if declared not in GENERIC_TYPES and not any(declared.startswith(d) for d in fmt.declared):
        raise UnsupportedMediaError(
            f"declared content type {declared!r} does not match a {suffix} file"
        )
    return fmt


def check_content(fmt: Format, path: Path, max_decompressed_bytes: int, max_ratio: float) -> None:
    """Reject content that is not what its name says, before a parser sees it."""
    with path.open("rb") as stream:
        head = stream.read(8192)
    looks_pdf = b"%PDF-" in head[:1024]
    looks_zip = head.startswith(b"PK\x03\x04")
    if fmt is PDF:
        if not looks_pdf:
            raise UnsupportedMediaError("content is not a PDF (no %PDF- header)")
        return
    if fmt is DOCX:
        if not looks_zip:
            raise UnsupportedMediaError("content is not a DOCX (not a ZIP container)")
        check_zip(path, max_decompressed_bytes, max_ratio)
        return
    if looks_pdf or looks_zip or (b"\x00" in head and _bom_codec(head) is None):
        raise UnsupportedMediaError(f"binary content in a {fmt.name} file")


def check_zip(path: Path, max_decompressed_bytes: int, max_ratio: float) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, ValueError) as error:
        raise InvalidInputError(f"corrupt DOCX: {error}") from None
    with archive:
        entries = archive.infolist()
        names = archive.namelist()
    if len(entries) > MAX_ZIP_ENTRIES:
        raise PayloadTooLargeError(f"DOCX has more than {MAX_ZIP_ENTRIES} entries")
    total = sum(e.file_size for e in entries)
    if total > max_decompressed_bytes:
        raise PayloadTooLargeError(
            f"DOCX expands to {total} bytes, more than the limit of {max_decompressed_bytes}"
        )
    for entry in entries:
        if entry.file_size > 1_000_000 and entry.file_size > max_ratio * max(
            entry.compress_size, 1
        ):
            raise PayloadTooLargeError(
                f"DOCX entry {entry.filename!r} has a suspicious compression ratio (zip bomb?)"
            )
    if "word/document.xml" not in names:
        raise UnsupportedMediaError("ZIP file is not a DOCX document (no word/document.xml)")


# Longest first: the UTF-32 little-endian mark begins with the UTF-16 one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _bom_codec(head: bytes) -> str | None:
    return next((codec for bom, codec in _BOMS if head.startswith(bom)), None)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode_text(data: bytes) -> str:
    """UTF-8, or UTF-8/16/32 with a byte order mark."""
    codec = _bom_codec(data[:4]) or "utf-8"
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as error:
        raise InvalidInputError(
            f"file is not valid {codec.removesuffix('-sig').upper()} text "
            f"(invalid byte at offset {error.start})"
        ) from None
    if "\x00" in text:
        raise UnsupportedMediaError("binary content (NUL characters) in a text file")
    return text


def parse_metadata(raw: str | None) -> dict[str, str | int | float | bool]:
    if raw is None or not raw.strip():
        return {}
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"metadata is not valid JSON: {error.msg}") from None
    except RecursionError:
        raise InvalidInputError("metadata is nested too deeply") from None
    if not isinstance(value, dict):
        raise InvalidInputError("metadata must be a JSON object")
    if len(value) > MAX_METADATA_KEYS:
        raise InvalidInputError(f"metadata has more than {MAX_METADATA_KEYS} keys")
    clean: dict[str, str | int | float | bool] = {}
    for key, item in value.items():
        if not METADATA_KEY.match(key):
            raise InvalidInputError(f"metadata key {key!r} must match {METADATA_KEY.pattern}")
        if isinstance(item, str) and len(item) > MAX_METADATA_VALUE_CHARS:
            raise InvalidInputError(f"metadata value for {key!r} is too long")
        if isinstance(item, str) and not _encodable(item):
            raise InvalidInputError(f"metadata value for {key!r} is not valid Unicode")
        if (
            not isinstance(item, str | int | float | bool)
            or (isinstance(item, float) and not math.isfinite(item))
            or (isinstance(item, int) and not -(2**63) <= item < 2**63)
        ):
            raise InvalidInputError(f"metadata value for {key!r} must be a string, number or bool")
        clean[key] = item
    return clean
