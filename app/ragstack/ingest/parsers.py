"""One parser per format: bytes in, titled sections (with page or heading) out."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

from ragstack.errors import InvalidInputError, PayloadTooLargeError
from ragstack.ingest.safety import DOCX, HTML, MARKDOWN, PDF, TEXT, Format, decode_text

log = logging.getLogger(__name__)

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_BLANKS = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Section:
    text: str
    page: int | None = None
    heading: str | None = None


@dataclass
class ParsedDocument:
    title: str | None
    sections: list[Section] = field(default_factory=list)

    @property
    def chars(self) -> int:
        return sum(len(s.text) for s in self.sections)


@dataclass(frozen=True)
class Limits:
    max_chars: int
    max_pdf_pages: int
    max_decompressed_bytes: int  # all members of a DOCX together
    max_part_bytes: int  # one XML part: its parse tree takes several times its size


def _clean(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def _check_chars(count: int, limits: Limits) -> None:
    if count > limits.max_chars:
        raise PayloadTooLargeError(
            f"document yields more than {limits.max_chars} characters of text"
        )


def parse_text(data: bytes, limits: Limits) -> ParsedDocument:
    text = _clean(decode_text(data))
    _check_chars(len(text), limits)
    return ParsedDocument(title=None, sections=[Section(text)] if text else [])


def split_markdown(text: str) -> ParsedDocument:
    """Sections by heading; the heading path (``Install > Redis``) names each section."""
    title: str | None = None
    path: list[tuple[int, str]] = []
    sections: list[Section] = []
    buffer: list[str] = []
    in_fence = False

    def flush() -> None:
        body = _clean("\n".join(buffer))
        if body:
            heading = " > ".join(h for _, h in path) or None
            sections.append(Section(body, heading=heading))
        buffer.clear()

    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match is None:
            buffer.append(line)
            continue
        flush()
        level, heading = len(match.group(1)), match.group(2).strip()
        if level == 1 and title is None:
            title = heading
        path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
    flush()
    return ParsedDocument(title=title, sections=sections)


def parse_markdown(data: bytes, limits: Limits) -> ParsedDocument:
    text = _clean(decode_text(data))
    _check_chars(len(text), limits)
    return split_markdown(text)


def parse_html(data: bytes, limits: Limits) -> ParsedDocument:
    from bs4 import BeautifulSoup

    text = decode_text(data)
    soup = BeautifulSoup(text, "lxml")
    for tag in soup(["script", "style", "noscript", "template", "svg"]):
        tag.decompose()
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else None
    if soup.head is not None:
        soup.head.decompose()
    # Headings become Markdown headings so sections are split the same way as Markdown's.
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            heading.replace_with(f"\n\n{'#' * level} {heading.get_text(' ', strip=True)}\n\n")
    for block in soup.find_all(["p", "li", "tr", "pre", "blockquote", "div", "br", "section"]):
        block.insert_after("\n")
    body = _clean(soup.get_text())
    _check_chars(len(body), limits)
    parsed = split_markdown(body)
    parsed.title = title or parsed.title
    return parsed


def parse_pdf(data: bytes, limits: Limits) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise InvalidInputError("PDF is encrypted; upload an unencrypted copy")
        pages = len(reader.pages)
    except InvalidInputError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError) as error:
        raise InvalidInputError(f"corrupt PDF: {error}") from None
    if pages > limits.max_pdf_pages:
        raise PayloadTooLargeError(f"PDF has {pages} pages, more than {limits.max_pdf_pages}")
    sections: list[Section] = []
    total = 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = _clean(page.extract_text() or "")
        except Exception as error:  # pypdf raises many types on damaged content streams
            raise InvalidInputError(f"corrupt PDF (page {number}): {error}") from None
        total += len(text)
        _check_chars(total, limits)
        if text:
            sections.append(Section(text, page=number))
    title = None
    try:
        if reader.metadata and reader.metadata.title:
            title = str(reader.metadata.title).strip() or None
    except Exception:  # damaged info dictionary: not worth failing the upload for
        title = None
    return ParsedDocument(title=title, sections=sections)


def check_expansion(data: bytes, limits: Limits) -> None:
    """Inflate every member of a ZIP, counting the bytes that really come out.

    The upload check trusted the sizes the archive declares; a parser reads what the streams
    hold. Streaming through each member (64 KiB at a time) stops a bomb at the limit without
    holding more than one block in memory.
    """
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for entry in archive.infolist():
                size = 0
                with archive.open(entry) as member:
                    while block := member.read(65536):
                        size += len(block)
                        total += len(block)
                        if total > limits.max_decompressed_bytes:
                            raise PayloadTooLargeError(
                                f"DOCX expands to more than {limits.max_decompressed_bytes}"
                                " bytes (zip bomb?)"
                            )
                        if size > limits.max_part_bytes:
                            raise PayloadTooLargeError(
                                f"DOCX part {entry.filename!r} expands to more than "
                                f"{limits.max_part_bytes} bytes: more than the parser's memory "
                                "limit allows"
                            )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as error:
        raise InvalidInputError(f"corrupt DOCX: {error}") from None


def parse_docx(data: bytes, limits: Limits) -> ParsedDocument:
    import docx

    check_expansion(data, limits)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as error:  # python-docx wraps zip/xml errors inconsistently
        raise InvalidInputError(f"corrupt DOCX: {error}") from None
    lines: list[str] = []
    title = (document.core_properties.title or "").strip() or None
    total = 0
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            lines.append("")
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        if style == "Title":
            title = title or text
            continue
        match = re.match(r"Heading (\d)", style)
        if match:
            lines.append(f"\n{'#' * min(int(match.group(1)), 6)} {text}\n")
        else:
            lines.append(text)
        total += len(text)
        _check_chars(total, limits)
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    parsed = split_markdown(_clean("\n".join(lines)))
    parsed.title = title or parsed.title
    return parsed


PARSERS: dict[Format, Callable[[bytes, Limits], ParsedDocument]] = {
    TEXT: parse_text,
    MARKDOWN: parse_markdown,
    HTML: parse_html,
    PDF: parse_pdf,
    DOCX: parse_docx,
}


def parse(fmt: Format, data: bytes, limits: Limits) -> ParsedDocument:
    return PARSERS[fmt](data, limits)
