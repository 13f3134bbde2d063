"""Turn a file into pages of text: PDF (pypdf), plain text and Markdown here; Word and
PowerPoint in `ingest.documents`, HTML in `ingest.webpage`, CSV and Excel in `ingest.sheets`.

The type is decided by content, not only by the extension (`ingest.formats`): a `.pdf`
that does not start with the PDF signature is refused, so is a `.txt` that is really
binary, and so is a `.docx` that is not a Word package.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
import warnings
from collections.abc import Iterator
from pathlib import Path

from . import formats
from .errors import LoadError
from .ocr import DEFAULT_OCR, OcrOptions, OcrProgress
from .pdftext import repair
from .formats import SUPPORTED_NAMES, SUPPORTED_SUFFIXES, looks_like_pdf  # noqa: F401  (SUPPORTED_SUFFIXES: the app and pipeline import it from here)
from .types import Page

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
# A 2,000-page PDF is a large manual; past that a file is more likely an archive or an
# attack than a document someone will ask about, and parsing it would take minutes.
# Such files are refused, not cut: an index holding only the first N pages would
# answer "the documents do not say" for everything after page N.
DEFAULT_MAX_PAGES = 2000

# A heading title longer than this is cut: the heading path is prepended to every
# chunk of its section, so a 1 MB "heading" would otherwise ride along with each one.
MAX_HEADING_CHARS = 200
# Control characters other than tab and newline never carry meaning in prose; form
# feed is handled before this (it separates pages).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_HYPHEN_BREAK = re.compile(r"(\w)-\n(\w)")
_SPACES = re.compile(r"[ \t\u00a0]+")


def load(
    path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, name: str | None = None, max_pages: int = DEFAULT_MAX_PAGES,
    ocr: OcrOptions = DEFAULT_OCR, progress: OcrProgress | None = None,
) -> list[Page]:
    """Read one file into pages. `name` is the source name shown in citations;
    `ocr` and `progress` are for scanned PDF pages (see load_pdf).

    This parses in the calling process; `ingest.sandbox.load` runs the same code
    under time and memory limits, which is what untrusted PDFs need.

    Raises:
        LoadError: empty, too large, unsupported, not what its extension claims,
            encrypted, over `max_pages`, or without any extractable text.
    """
    path = Path(path)
    name = name or path.name
    check_size(path, name, max_bytes)
    data = path.read_bytes()
    suffix = path.suffix.lower() if name == path.name else Path(name).suffix.lower()
    found = formats.sniff(data)
    fmt = formats.for_suffix(suffix) or formats.for_kind(found)  # an unknown suffix on a known container: read it as what it is
    if fmt is None:
        what = f"unsupported file type '{suffix}'" if suffix else f"'{name}' has no file extension, so its type is unknown"
        raise LoadError(name, f"{what}; use {SUPPORTED_NAMES}")
    formats.check(data, fmt, found, name)
    if fmt.kind == "pdf":
        if not looks_like_pdf(data):
            raise LoadError(name, "not a PDF: the content does not start with the %PDF signature")
        pages = load_pdf(data, name, max_pages=max_pages, ocr=ocr, progress=progress)
    elif fmt.kind in ("text", "markdown"):
        text = decode_text(data, name)
        pages = split_markdown(text, name) if fmt.kind == "markdown" else split_form_feeds(text, name)
    else:
        pages = _loader(fmt.kind)(data, name, max_pages=max_pages)
    pages = [p for p in pages if p.text.strip()]
    if not pages:
        raise LoadError(name, "no text found in the file")
    return pages


def _loader(kind: str):
    """The loader of an Office, HTML or table format (imported here: they use this module's text helpers)."""
    from . import documents, sheets, webpage

    return {"docx": documents.load_docx, "pptx": documents.load_pptx, "html": webpage.load_html,
            "csv": sheets.load_csv, "xlsx": sheets.load_xlsx}[kind]


def check_size(path: Path, name: str, max_bytes: int) -> int:
    """The file's size in bytes, or LoadError when it is missing, empty or over `max_bytes`."""
    try:
        if not path.is_file():
            raise LoadError(name, f"not a regular file (a folder or a device); pass a file: {SUPPORTED_NAMES}")
        size = path.stat().st_size
    except OSError as e:
        raise LoadError(name, f"cannot read file ({e.strerror or e})") from e
    if size == 0:
        raise LoadError(name, "the file is empty (0 bytes)")
    if size > max_bytes:
        raise LoadError(name, f"the file is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB")
    return size


def decode_text(data: bytes, name: str) -> str:
    """`decode`, then `clean_text`: prose ready to chunk."""
    return clean_text(decode(data, name))


def decode(data: bytes, name: str) -> str:
    """Decode text as UTF-8 (or UTF-16 with a BOM), falling back to Windows-1252.

    The text comes back as it is (a CSV's line ends and hyphens mean something).
    Raises LoadError for data that is evidently binary (see `looks_binary`).
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise LoadError(name, "invalid UTF-16 text") from e
    if looks_binary(data[:65536]):
        raise LoadError(name, f"this looks like a binary file, not text; use {SUPPORTED_NAMES}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        log.info("%s is not UTF-8; decoding as Windows-1252", name)
        return data.decode("cp1252", errors="replace")


def looks_binary(sample: bytes) -> bool:
    """A stray NUL in otherwise readable text (a copy-paste accident) is not binary;
    NULs in more than 1% of the bytes, or control bytes in more than 10%, are."""
    return sample.count(b"\x00") > max(2, len(sample) // 100) or _binary_fraction(sample) > 0.10


def _binary_fraction(sample: bytes) -> float:
    if not sample:
        return 0.0
    bad = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return bad / len(sample)


def clean_text(text: str) -> str:
    """Normalise extracted text: NFC, unified newlines, no control characters,
    words re-joined across end-of-line hyphens, runs of spaces collapsed."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    pages = [_CONTROL.sub(" ", part) for part in text.split("\f")]
    text = "\f".join(pages)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    # strip spaces only: str.strip() would also take a form feed alone on its line (RFCs)
    text = "\n".join(_SPACES.sub(" ", line).strip(" ") for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text)


def split_form_feeds(text: str, name: str) -> list[Page]:
    """Plain text: a form feed starts a new page (as in RFCs and printer output)."""
    return [Page(name, i, part.strip("\n")) for i, part in enumerate(text.split("\f"), start=1)]


def split_markdown(text: str, name: str) -> list[Page]:
    """Markdown: one Page per section, carrying its heading path as `section`.

    The heading path ("Setup > Install") is prepended to what the indexes see, so a
    chunk deep in a section is still found by the words of its headings.
    """
    pages: list[Page] = []
    stack: list[tuple[int, str]] = []
    for page_no, part in enumerate(text.split("\f"), start=1):
        pos = 0
        section = " > ".join(t for _, t in stack)
        for start, end, level, title in _headings(part):
            pages.append(Page(name, page_no, part[pos:start].strip("\n"), section))
            stack = [(lv, t) for lv, t in stack if lv < level] + [(level, title)]
            section = " > ".join(t for _, t in stack)
            pos = end
        pages.append(Page(name, page_no, part[pos:].strip("\n"), section))
    return pages


def _headings(text: str) -> Iterator[tuple[int, int, int, str]]:
    """(start, end, level, title) of every ATX heading line of `text`, in order.

    Only lines that start with '#' are looked at, found with `str.find`: linear in
    the text, where a regex over each line backtracked quadratically on "# # # …".
    """
    start = 0 if text.startswith("#") else _next_hash_line(text, 0)
    while start >= 0:
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        found = heading(text[start:end])
        if found:
            yield start, end, *found
        start = _next_hash_line(text, end)


def _next_hash_line(text: str, pos: int) -> int:
    """Offset of the next line at or after `pos` that starts with '#', or -1."""
    i = text.find("\n#", pos)
    return i + 1 if i >= 0 else -1


def heading(line: str) -> tuple[int, str] | None:
    """(level, title) when `line` is an ATX heading, else None.

    As in CommonMark: 1-6 '#', then a space or tab, then the title. A closing run of
    '#' is dropped only when a space or tab precedes it or it is the whole title, so
    "# C#" is titled "C#" and "## Setup ##" is "Setup". A heading with no title is
    read as text: it names no section. Titles over MAX_HEADING_CHARS are cut with "…".
    """
    head = line[:7]
    level = len(head) - len(head.lstrip("#"))
    if not 1 <= level <= 6 or line[level : level + 1] not in (" ", "\t"):
        return None
    title = line[level:].strip()
    body = title.rstrip("#")
    if not body or body[-1] in " \t":
        title = body.strip()
    if not title:
        return None
    if len(title) > MAX_HEADING_CHARS:
        title = title[: MAX_HEADING_CHARS - 1] + "…"
    return level, title


def load_pdf(data: bytes, name: str, *, max_pages: int = DEFAULT_MAX_PAGES, ocr: OcrOptions = DEFAULT_OCR, progress: OcrProgress | None = None) -> list[Page]:
    """Extract text page by page with pypdf; page numbers are 1-based and kept.

    Pages without a text layer that draw an image are read by OCR (ingest.ocr) when
    `ocr` allows, and marked `ocr=True`; `progress(done, total)` follows them. Then
    running headers, line-number gutters and split words are repaired
    (ingest.pdftext). A PDF over `max_pages`, or with more pages to OCR than
    `ocr.max_pages`, is refused before the work (see DEFAULT_MAX_PAGES for why
    refused and not cut).
    """
    # pypdf reports recoverable problems (and a long fontTools notice) as warnings
    # and log records: useful when debugging a file, noise for a user.
    logging.getLogger("pypdf").setLevel(logging.ERROR if log.getEffectiveLevel() > logging.DEBUG else logging.DEBUG)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = open_pdf(data, name, max_pages)
        texts = extract_texts(reader, name)
        scanned = _ocr(data, name, texts, ocr, progress) if not all(t and t.strip() for t in texts) else {}
        if not any((t or "").strip() for t in texts) and not scanned:
            if _inflates_past_limit(reader):
                raise LoadError(name, "a stream in the PDF is, or decompresses to, more than the parser's safety limit (a decompression bomb?); the file was not read")
            if texts and all(t is None for t in texts):
                raise LoadError(name, "no page of the PDF could be read")
            raise LoadError(name, "the PDF has no text layer (scanned or image-only); " + _why_no_ocr(ocr))
    numbers = [i + 1 for i, t in enumerate(texts) if t is not None or i + 1 in scanned]
    repaired, removed = repair([scanned.get(n) or texts[n - 1] or "" for n in numbers])
    for r in removed:
        log.debug("%s page %d: removed %s: %r", name, numbers[r.page - 1], r.why, r.line)
    return [Page(name, n, text, ocr=n in scanned) for n, text in zip(numbers, repaired)]


def open_pdf(data: bytes, name: str, max_pages: int = DEFAULT_MAX_PAGES):
    """A pypdf reader over `data`, decrypted when an empty password opens it.

    Raises:
        LoadError: encrypted, damaged, or over `max_pages` pages.
    """
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not _decrypt_empty(reader):
            raise LoadError(name, "the PDF is encrypted with a password; remove the password and upload it again")
        n_pages = len(reader.pages)
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError, OSError) as e:
        raise LoadError(name, f"the PDF is damaged or unreadable ({type(e).__name__}: {e})") from e
    if n_pages > max_pages:
        raise LoadError(name, f"the PDF has {n_pages} pages; the limit is {max_pages} (SOURCED_MAX_PAGES): split it into parts and upload those")
    return reader


def extract_texts(reader, name: str) -> list[str | None]:
    """Each page's text layer through clean_text (form feeds as newlines); None for a
    page whose extraction failed: one bad page must not lose the rest of the document."""
    texts: list[str | None] = []
    for i in range(len(reader.pages)):
        try:
            raw = reader.pages[i].extract_text() or ""
        except Exception as e:
            log.debug("%s page %d: text extraction failed: %s", name, i + 1, e)
            texts.append(None)
            continue
        texts.append(clean_text(raw).replace("\f", "\n"))
    return texts


def _ocr(data: bytes, name: str, texts: list[str | None], options: OcrOptions, progress: OcrProgress | None) -> dict[int, str]:
    """{page number: OCR text} for the pages without text that draw an image.

    Nothing is OCRed when OCR is off or cannot run here: a document with some text
    keeps it (its scanned pages are logged), one with none is refused by the caller.

    Raises:
        LoadError: more pages to OCR than `options.max_pages` (refused, not cut).
    """
    from . import ocr

    if not options.enabled:
        return {}
    blank = [i + 1 for i, t in enumerate(texts) if t is not None and not t.strip()]
    try:
        wanted = ocr.image_pages(data, blank)
    except Exception as e:  # pdfium refuses a file pypdf read: treat its pages as blank
        log.debug("%s: cannot look for scanned pages (%s: %s)", name, type(e).__name__, e)
        return {}
    if not wanted:
        return {}
    if len(wanted) > options.max_pages:
        raise LoadError(name, f"the PDF has {len(wanted)} scanned pages to OCR; the limit is {options.max_pages} (SOURCED_OCR_MAX_PAGES): split it into parts and upload those")
    try:
        texts = ocr.ocr_pages(data, wanted, lambda: ocr.engine(options), progress)
    except ocr.OcrUnavailable as e:
        log.warning("%s: %d scanned page(s) not read: %s", name, len(wanted), e)
        return {}
    return {n: clean_text(t).replace("\f", "\n") for n, t in texts.items() if t.strip()}


def _why_no_ocr(options: OcrOptions) -> str:
    """The end of the refusal of a PDF without text: what would make it readable."""
    from . import ocr

    if not options.enabled:
        return "OCR is turned off (SOURCED_OCR, SOURCED_OCR_MAX_PAGES); turn it on or run OCR on the file first"
    reason = ocr.check(options)
    if reason:
        return f"OCR cannot run here ({reason})"
    return "OCR found no text on its pages"


def _inflates_past_limit(reader) -> bool:
    """True when a page's content stream hits pypdf's decompression cap.

    pypdf's `extract_text` swallows that error and returns "", which would read as
    "no text layer"; asked only for text-less PDFs, so normal files pay nothing.
    """
    from pypdf.errors import LimitReachedError

    for page in reader.pages:
        try:
            contents = page.get_contents()
            if contents is not None:
                contents.get_data()
        except LimitReachedError:
            return True
        except MemoryError:  # over the sandbox's memory limit: let the sandbox say so
            raise
        except Exception:  # other damage is reported as "no text layer" by the caller
            continue
    return False


def _decrypt_empty(reader) -> bool:
    """Many 'encrypted' PDFs only restrict printing and open with an empty password."""
    try:
        return bool(reader.decrypt(""))
    except Exception:
        return False
