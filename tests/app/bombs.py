"""Documents built to exhaust a parser: each passes the upload checks and must end `failed`."""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _docx(document_xml: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", RELS)
        archive.writestr("word/document.xml", document_xml)
    return buffer.getvalue()


def big_xml_docx(megabytes: int = 80) -> bytes:
    """Inside every upload limit (size, declared expansion, ratio), yet its XML is huge."""
    rng = random.Random(7)
    words = ["harbour", "keeper", "signal", "lamp", "tide", "rock", "beam", "night"]
    # Random paragraphs in blocks longer than deflate's 32 KiB window: the archive compresses
    # like text (about 5:1), far below the ratio the upload check refuses.
    texts = (f"{' '.join(rng.choices(words, k=3))} {rng.randrange(10**9)}" for _ in range(1500))
    block = "".join(f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>" for text in texts)
    body = block * (megabytes * 1024 * 1024 // len(block))
    return _docx(f'<w:document xmlns:w="{W}"><w:body>{body}</w:body></w:document>'.encode())


def deep_xml_docx(depth: int = 80_000) -> bytes:
    """Nesting far past what XML parsers allow (just under the size where ratios are checked)."""
    body = "<w:p>" * depth + "<w:r><w:t>deep</w:t></w:r>" + "</w:p>" * depth
    return _docx(f'<w:document xmlns:w="{W}"><w:body>{body}</w:body></w:document>'.encode())


def lying_zip_docx(real_megabytes: int = 100, claimed_bytes: int = 900_000) -> bytes:
    """document.xml inflates to ``real_megabytes`` while both headers claim ``claimed_bytes``
    (under the per-entry size where the upload check looks at compression ratios)."""
    xml = (
        f'<w:document xmlns:w="{W}"><w:body>'.encode()
        + b"<w:p><w:r><w:t>lie</w:t></w:r></w:p>" * (real_megabytes * 1024 * 1024 // 36)
        + b"</w:body></w:document>"
    )
    data = bytearray(_docx(xml))
    real = len(xml)
    # Rewrite the uncompressed size in the local header and the central directory entry.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            if struct.unpack_from("<I", data, start + offset)[0] == real:
                struct.pack_into("<I", data, start + offset, claimed_bytes)
            start += 4
    return bytes(data)


def _pdf(objects: list[bytes]) -> bytes:
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def shared_stream_pdf(pages: int = 2000, operations: int = 40_000) -> bytes:
    """``pages`` pages that all draw one heavy, compressed content stream: tiny file, each
    page's text extraction runs every operation again."""
    content = b"BT /F1 12 Tf 72 720 Td " + b"(w) Tj 1 0 Td " * operations + b"ET"
    stream = zlib.compress(content, 9)
    first_page = 5
    kids = b" ".join(b"%d 0 R" % (first_page + i) for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
    page += b" /Resources << /Font << /F1 3 0 R >> >> >>"
    objects += [page] * pages
    return _pdf(objects)


def element_flood_html(megabytes: int = 40) -> bytes:
    """Millions of tiny elements: a parse tree many times the file's size."""
    return (
        b"<html><body>"
        + b"<p><b>x</b><i>y</i></p>" * (megabytes * 1024 * 1024 // 24)
        + b"</body></html>"
    )
