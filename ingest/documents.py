"""Documents with headings but no page numbers (Word; HTML in `ingest.webpage`) and slide decks (PowerPoint).

Word and HTML files store no pages: pages exist only once an application lays the
text out, and every application lays it out differently. So here a "page" is the
part under one top-level heading (the highest heading level the document uses; any
text before the first one is page 1), and `section` is the heading path, as for
Markdown. A citation's "page 3" is then the third top-level part of the document.
A PowerPoint slide is a page: its title is the section, its speaker notes follow its
text, marked "Notes:".

python-docx and python-pptx parse XML with lxml `resolve_entities=False`: no external
entity is read, and libxml2 stops entity amplification (the DTD check in
`ingest.formats` refuses such files before they get here).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import LoadError
from .loaders import MAX_HEADING_CHARS, clean_text
from .types import Page


@dataclass(frozen=True)
class Block:
    """A paragraph (`level` 0) or a heading (`level` 1-9) of a document, in reading order."""

    text: str
    level: int = 0


def outline_pages(blocks: Iterable[Block], name: str) -> list[Page]:
    """Pages of a document that has headings but no page numbers (see the module doc).

    One Page per section, carrying its heading path; a new page number at each
    top-level heading that follows some text. Headings are not repeated in the text.
    """
    blocks = [b for b in blocks if b.text.strip()]
    top = min((b.level for b in blocks if b.level), default=1)
    pages: list[Page] = []
    stack: list[tuple[int, str]] = []
    body: list[str] = []
    page_no, page_used = 1, False
    for b in [*blocks, Block("", 1)]:  # a sentinel heading flushes the last section
        if not b.level:
            body.append(b.text.strip())
            continue
        if body:
            pages.append(Page(name, page_no, "\n\n".join(body), " > ".join(t for _, t in stack)))
            body, page_used = [], True
        if b.level <= top and page_used:
            page_no, page_used = page_no + 1, False
        stack = [(lv, t) for lv, t in stack if lv < b.level] + [(b.level, _title(b.text))]
    return pages


def _title(text: str) -> str:
    title = " ".join(text.split())
    return title if len(title) <= MAX_HEADING_CHARS else title[: MAX_HEADING_CHARS - 1] + "…"


def _one_line(text: str) -> str:
    return " ".join(clean_text(text).split())


@contextmanager
def reading(name: str, label: str):
    """Whatever a parser raises on a broken file becomes one LoadError; memory errors
    stay what they are, so the sandbox reports its limit."""
    try:
        yield
    except (LoadError, MemoryError):
        raise
    except Exception as e:  # a parser of untrusted bytes can fail in any way; all mean "unreadable"
        if "amplification" in str(e):
            raise LoadError(name, f"the {label}'s XML expands entities past the parser's limit (an entity-expansion attack?); the file was not read") from e
        raise LoadError(name, f"the {label} is damaged or unreadable ({type(e).__name__}: {str(e)[:200]})") from e


# ---------------------------------------------------------------- Word

_WORD_MAIN_TYPES = (  # the main part of a .docx, a .docm (macros are never loaded) and templates
    "application/vnd.ms-word.document.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",
)
_HEADING_STYLE = re.compile(r"heading ([1-9])$", re.I)


def load_docx(data: bytes, name: str, *, max_pages: int = 0) -> list[Page]:
    """Word: paragraphs and tables in document order, pages and sections from headings.

    Headings are the paragraphs styled "Heading 1"-"Heading 9" or "Title", or given an
    outline level. A table row becomes one "cell | cell" line. Headers, footers,
    footnotes, comments and text boxes are not read. `max_pages` is not applied: a
    Word file's "pages" are its headings, and its size is bounded by the zip limits.
    """
    from docx.opc.part import PartFactory
    from docx.package import Package
    from docx.parts.document import DocumentPart
    from docx.table import Table

    for content_type in _WORD_MAIN_TYPES:
        PartFactory.part_type_for.setdefault(content_type, DocumentPart)
    with reading(name, "Word file"):
        part = Package.open(io.BytesIO(data)).main_document_part
        if not isinstance(part, DocumentPart):
            raise LoadError(name, f"not a Word document: its main part is '{part.content_type}'")
        blocks = []
        for item in part.document.iter_inner_content():
            if isinstance(item, Table):
                blocks.append(Block("\n".join(_table_rows(item))))
            else:
                blocks.append(Block(clean_text(item.text).strip(), _docx_heading_level(item)))
    return outline_pages(blocks, name)


def _docx_heading_level(paragraph) -> int:
    """1-9 for a heading, else 0: by the paragraph's outline level, its style's name
    ("Heading 1"-"Heading 9", "Title"), or an outline level its style inherits (a custom
    style based on "Heading 2" is a heading; a "Subtitle" based on "Title" is not)."""
    level = _outline_level(paragraph._p.pPr)
    if level:
        return level
    style = paragraph.style
    found = _HEADING_STYLE.match(style.name or "") if style is not None else None
    if found:
        return int(found.group(1))
    if style is not None and (style.name or "").lower() == "title":
        return 1
    for _ in range(10):  # a style's base chain is short; a cyclic one must not loop
        if style is None:
            return 0
        level = _outline_level(style.element.pPr)
        if level:
            return level
        style = style.base_style
    return 0


def _outline_level(ppr) -> int:
    """w:outlineLvl 0-8 as heading level 1-9; absent, or 9 ("body text"): 0."""
    from docx.oxml.ns import qn

    lvl = ppr.find(qn("w:outlineLvl")) if ppr is not None else None
    val = lvl.get(qn("w:val")) if lvl is not None else None
    return int(val) + 1 if val is not None and val.isdigit() and int(val) < 9 else 0


def _table_rows(table) -> Iterator[str]:
    """ "cell | cell" per row; a merged cell (one cell object over several grid columns) once."""
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(_one_line(cell.text))
        if any(cells):
            yield " | ".join(cells)


# ---------------------------------------------------------------- PowerPoint


def load_pptx(data: bytes, name: str, *, max_pages: int) -> list[Page]:
    """PowerPoint: one page per slide, its title as the section, then its text,
    tables (a "cell | cell" line per row) and speaker notes ("Notes: ...").

    A deck with more slides than `max_pages` is refused, like a long PDF.
    """
    from pptx import Presentation

    with reading(name, "PowerPoint file"):
        slides = list(Presentation(io.BytesIO(data)).slides)
        if len(slides) > max_pages:
            raise LoadError(name, f"the presentation has {len(slides)} slides; the limit is {max_pages} (SOURCED_MAX_PAGES): split it into parts and upload those")
        pages = []
        for number, slide in enumerate(slides, start=1):
            title_shape = slide.shapes.title
            title = _title(clean_text(title_shape.text_frame.text)) if title_shape is not None and title_shape.has_text_frame else ""
            title_id = title_shape.shape_id if title_shape is not None else None
            parts = [text for shape in _shapes(slide.shapes) if shape.shape_id != title_id for text in _shape_texts(shape)]
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                notes = clean_text(slide.notes_slide.notes_text_frame.text).strip()
                if notes:
                    parts.append(f"Notes: {notes}")
            pages.append(Page(name, number, "\n\n".join(parts), title))
    return pages


def _shapes(shapes) -> Iterator:
    """Every shape of a slide, the members of groups included, in the slide's order."""
    from pptx.shapes.group import GroupShape

    todo = list(shapes)[::-1]
    while todo:
        shape = todo.pop()
        if isinstance(shape, GroupShape):
            todo.extend(list(shape.shapes)[::-1])
        else:
            yield shape


def _shape_texts(shape) -> Iterator[str]:
    if shape.has_text_frame:
        text = clean_text(shape.text_frame.text).strip()
        if text:
            yield text
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [" | ".join(_one_line(c.text) for c in row.cells) for row in shape.table.rows]
        yield "\n".join(r for r in rows if r.strip(" |"))
