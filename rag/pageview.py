"""The cited page itself: the page of the original file with the verified quote
highlighted, for the web app's page view.

A citation names a chunk and the quote's characters in it (`target`). For a PDF the
page is rendered from the original upload (`<collection>/.uploads/<doc_id><suffix>`)
with pdfium, and the quote is found in pdfium's own text layer: the chunk's text came
from pypdf, whose text differs (spaces, line breaks, hyphens, ligatures), so `align`
matches the two character by character after normalising both. The matched
characters' boxes become one rectangle per line (`line_boxes`). When less than
MIN_FOUND of the quote's characters are found on the page, the page is shown without
a highlight and says so: a highlight on the wrong sentence is worse than none.

Other files (text, Markdown, and any format without an original to render) show the
passage in its page's text, stitched from the page's chunks (verbatim slices of it),
with the quote marked: no original needed, so this works for any index.

`locate`, `align` and `line_boxes` are pure; `render_pdf_page` is the one place pdfium
runs (behind a lock: pdfium is not thread-safe). Pages are kept, rendered, in a small
LRU (`PageCache`, one per browser tab) keyed by document, page and scale.
"""

from __future__ import annotations

import difflib
import re
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from ingest.sessions import UPLOADS
from ingest.types import Chunk

MIN_FOUND = 0.5  # below this share of the quote's characters found, no highlight
STRONG_BLOCK = 12  # normalised characters: a run this long anchors a match
WEAK_BLOCK = 3  # shorter runs near the anchors are chance, not the quote
PAGE_WIDTH_PX = 1000  # a page is rendered this wide: readable without zooming
MAX_SCALE = 3.0  # pixels per PDF point, whatever the page's size
CACHE_PAGES = 16  # rendered pages kept per tab
JPEG_QUALITY = 80

# characters dropped before aligning: whitespace, and hyphens, which pypdf keeps at a
# line break where pdfium writes \x02 (or joins), and either may join the word
_DROP = re.compile(r"[\s\-\u00ad\u2010\u2011\x02\ufffe]")
_FOLD = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2032": "'"})
_lock = threading.Lock()


# ---------------------------------------------------------------- targets


def target(chunk_id: str, start: int, end: int) -> str:
    """What a citation link carries: the chunk and the quote's offsets in its text."""
    return f"{chunk_id}.{start}.{end}"


def parse_target(value: str) -> tuple[str, int, int]:
    """(chunk_id, start, end) from `target`'s string; ValueError for anything else."""
    chunk_id, start, end = str(value).rsplit(".", 2)
    if not re.fullmatch(r"[0-9A-Za-z_-]{1,200}", chunk_id) or not start.isdigit() or not end.isdigit() or int(start) > int(end):
        raise ValueError("not a citation of this collection")
    return chunk_id, int(start), int(end)


def quote_span(chunk: Chunk, quote: str) -> tuple[int, int]:
    """The quote's offsets in the chunk's text (the whole chunk when it has no quote)."""
    at = chunk.text.find(quote) if quote else -1
    return (at, at + len(quote)) if at >= 0 else (0, len(chunk.text))


# ---------------------------------------------------------------- locating a quote (pure)


def normalise(text: str) -> tuple[str, list[int]]:
    """`text` folded for alignment (NFKC, so ligatures become letters; case-folded;
    curly quotes straight; whitespace and hyphens dropped), with, for each character
    kept, the index of the character of `text` it came from."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        if _DROP.match(ch):
            continue
        for c in unicodedata.normalize("NFKC", ch).casefold().translate(_FOLD):
            if not _DROP.match(c):
                out.append(c)
                where.append(i)
    return "".join(out), where


@dataclass(frozen=True)
class Located:
    """Where a quote is in a page's text: the page's character indices matched, and
    how many of the quote's (normalised) characters were found out of how many."""

    indices: list[int]
    found: int
    total: int

    @property
    def fraction(self) -> float:
        return self.found / self.total if self.total else 0.0

    @property
    def enough(self) -> bool:
        return self.total > 0 and self.fraction >= MIN_FOUND


def align(quote: str, page_text: str) -> Located:
    """Find `quote` in `page_text` character by character.

    Both are normalised; the matching runs of a SequenceMatcher are kept when they sit
    together with the longest run (a run of STRONG_BLOCK characters or more is an
    anchor; shorter runs count only inside the span the anchors mark out, so letters
    that match by chance elsewhere on the page do not)."""
    q, _ = normalise(quote)
    p, where = normalise(page_text)
    if not q or not p:
        return Located([], 0, len(q))
    blocks = [b for b in difflib.SequenceMatcher(None, q, p, autojunk=False).get_matching_blocks() if b.size]
    strong = min(STRONG_BLOCK, len(q))
    anchors = [b for b in blocks if b.size >= strong]
    if not anchors:
        return Located([], 0, len(q))
    best = max(anchors, key=lambda b: b.size)
    slack = max(10, len(q) // 10)
    # anchors in line with the longest run: their offset (page minus quote position) stays close
    anchors = [b for b in anchors if abs((b.b - b.a) - (best.b - best.a)) <= slack]
    lo = anchors[0].b - anchors[0].a - slack
    hi = anchors[-1].b + (len(q) - anchors[-1].a) + slack
    kept = [b for b in blocks if b in anchors or (b.size >= WEAK_BLOCK and lo <= b.b and b.b + b.size <= hi)]
    indices = sorted({where[j] for b in kept for j in range(b.b, b.b + b.size)})
    return Located(indices, sum(b.size for b in kept), len(q))


@dataclass(frozen=True)
class Box:
    """A highlight rectangle in the image's pixels (origin top left)."""

    x: int
    y: int
    w: int
    h: int

    def to_json(self) -> dict:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h}


def line_boxes(char_boxes, indices: list[int], pad: int = 2) -> list[Box]:
    """One rectangle per line over the characters `indices` (in reading order).

    `char_boxes[i]` is character i's (left, top, right, bottom) in pixels; an empty box
    (a generated space or line break) is skipped. A character starts a new line when it
    does not overlap the current line vertically by half its height, or lies left of it."""
    lines: list[list[float]] = []
    for i in indices:
        left, top, right, bottom = (float(v) for v in char_boxes[i])
        if right <= left or bottom <= top:
            continue
        if lines:
            cur = lines[-1]
            overlap = min(bottom, cur[3]) - max(top, cur[1])
            if overlap >= 0.5 * (bottom - top) and left >= cur[0] - 1:
                cur[0], cur[1], cur[2], cur[3] = min(cur[0], left), min(cur[1], top), max(cur[2], right), max(cur[3], bottom)
                continue
        lines.append([left, top, right, bottom])
    return [Box(int(l) - pad, int(t) - pad, int(r - l + 0.999) + 2 * pad, int(b - t + 0.999) + 2 * pad) for l, t, r, b in lines]


def overlaps(a: Box, b: Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


# ---------------------------------------------------------------- the text view (pure)


def page_text(chunks: list[Chunk]) -> tuple[str, int]:
    """The text of one page from its chunks (verbatim slices at known offsets, which
    overlap): (text, offset of the text's first character in the page)."""
    chunks = sorted(chunks, key=lambda c: c.start)
    first = chunks[0].start
    buffer: list[str] = []
    end = first
    for c in chunks:
        if c.start > end:  # a gap no chunk covers (whitespace between them)
            buffer.append(" ")
            end = c.start
        if c.end > end:
            buffer.append(c.text[end - c.start :])
            end = c.end
    return "".join(buffer), first


# ---------------------------------------------------------------- rendering a PDF page


@dataclass
class RenderedPage:
    """One page rendered once: the image (JPEG), its size, pdfium's text of the page
    and each character's box in the image's pixels."""

    jpeg: bytes
    width: int
    height: int
    text: str
    char_boxes: object  # numpy (n_chars, 4) float32: left, top, right, bottom
    pages: int  # pages in the document

    @property
    def nbytes(self) -> int:
        return len(self.jpeg) + int(getattr(self.char_boxes, "nbytes", 0))


def render_pdf_page(path: Path, page: int, width_px: int = PAGE_WIDTH_PX) -> tuple[RenderedPage, float]:
    """Render 1-based `page` of the PDF at `path` about `width_px` wide; (page, scale).

    Raises ValueError for a page the document does not have, or a file pdfium cannot open."""
    import io

    import numpy as np
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    with _lock:
        try:
            doc = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as e:
            raise ValueError(f"the original file cannot be opened ({e})") from e
        try:
            n_pages = len(doc)
            if not 1 <= page <= n_pages:
                raise ValueError(f"the original has {n_pages} pages, not a page {page}")
            pdf_page = doc[page - 1]
            scale = min(MAX_SCALE, width_px / max(1.0, pdf_page.get_width()))
            bitmap = pdf_page.render(scale=scale)
            image = bitmap.to_pil()
            to_px = bitmap.get_posconv(pdf_page).to_bitmap
            textpage = pdf_page.get_textpage()
            n = textpage.count_chars()
            text = "".join(chr(raw.FPDFText_GetUnicode(textpage, i)) for i in range(n))
            boxes = np.zeros((n, 4), dtype=np.float32)
            for i in range(n):
                left, bottom, right, top = textpage.get_charbox(i)
                (x0, y0), (x1, y1) = to_px(left, top), to_px(right, bottom)
                boxes[i] = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
            textpage.close()
            pdf_page.close()
        finally:
            doc.close()
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY)
    return RenderedPage(out.getvalue(), image.width, image.height, text, boxes, n_pages), scale


class PageCache:
    """Rendered pages, most recently used last, keyed by (doc_id, page, width)."""

    def __init__(self, size: int = CACHE_PAGES):
        self.size = size
        self._pages: OrderedDict[tuple, RenderedPage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, doc_id: str, page: int, width_px: int = PAGE_WIDTH_PX) -> tuple[RenderedPage, bool]:
        """(the rendered page, whether it came from the cache)."""
        key = (doc_id, page, width_px)
        with self._lock:
            found = self._pages.get(key)
            if found is not None:
                self._pages.move_to_end(key)
                return found, True
        rendered, _ = render_pdf_page(path, page, width_px)
        with self._lock:
            self._pages[key] = rendered
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)
        return rendered, False

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()


# ---------------------------------------------------------------- the page view


@dataclass
class PageView:
    """What the page view shows for one citation.

    kind: "pdf" (an image with boxes) or "text" (the page's text with the quote at
    quote_at). note: why there is no highlight, or no image, in words ("" when all is well).
    """

    kind: str
    source: str
    page: int
    quote: str
    note: str = ""
    image: bytes = b""
    width: int = 0
    height: int = 0
    boxes: list[Box] = field(default_factory=list)
    found: float = 0.0  # share of the quote's characters found on the page
    text: str = ""
    quote_at: tuple[int, int] | None = None
    pages: int = 0
    cached: bool = False
    ocr: bool = False
    section: str = ""  # the heading path the passage sits under (Markdown)


def original(folder: Path, doc_id: str) -> Path | None:
    """The kept upload of document `doc_id` in a collection folder, if there is one.

    The app keeps every indexed upload as `.uploads/<doc_id><suffix>`; an index built
    with `python -m ingest` records no file paths, so its originals are not found."""
    uploads = Path(folder) / UPLOADS
    if not re.fullmatch(r"[0-9a-f]{8,128}", doc_id or "") or not uploads.is_dir():
        return None
    for f in uploads.iterdir():
        if f.stem == doc_id and f.is_file():
            return f
    return None


def is_pdf(path: Path) -> bool:
    with open(path, "rb") as f:
        return b"%PDF-" in f.read(1024)


def locate(chunks: list[Chunk], value: str, folder: Path, cache: PageCache | None = None, width_px: int = PAGE_WIDTH_PX) -> PageView:
    """The page view for citation `value` (`target`) among a collection's `chunks`.

    Raises ValueError when the citation names no passage of the collection (the
    document was removed, or the value is not a citation)."""
    chunk_id, start, end = parse_target(value)
    chunk = next((c for c in chunks if c.chunk_id == chunk_id), None)
    if chunk is None or end > len(chunk.text):
        raise ValueError("that passage is no longer in the collection (its document was removed or replaced)")
    quote = chunk.text[start:end]
    path = original(folder, chunk.doc_id)
    if path is not None and is_pdf(path):
        rendered, cached = (cache or PageCache(1)).get(path, chunk.doc_id, chunk.page, width_px)
        view = PageView("pdf", chunk.source, chunk.page, quote, image=rendered.jpeg, width=rendered.width, height=rendered.height,
                        pages=rendered.pages, cached=cached, ocr=chunk.ocr)
        located = align(quote, rendered.text)
        view.found = located.fraction
        if located.enough:
            view.boxes = line_boxes(rendered.char_boxes, located.indices)
        else:
            why = " (its text was recognised from an image of the page)" if chunk.ocr else ""
            view.note = (f"The quote could not be located on this page{why}: only {located.fraction:.0%} of its characters "
                         "were found in the page's text layer, so nothing is highlighted.")
        return view
    page_chunks = [c for c in chunks if c.doc_id == chunk.doc_id and c.page == chunk.page and c.section == chunk.section]
    text, first = page_text(page_chunks)
    at = chunk.start - first + start
    note = ""
    if path is None and Path(chunk.source).suffix.lower() == ".pdf":
        note = "The original file is not kept with this collection (it was indexed from the command line), so the page is shown as its text."
    return PageView("text", chunk.source, chunk.page, quote, note=note, text=text, quote_at=(at, at + len(quote)), found=1.0, ocr=chunk.ocr, section=chunk.section)
