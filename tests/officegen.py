"""Write small Word, PowerPoint, Excel, CSV and HTML files, so tests need no data files.

The Office files are written by the same libraries that read them (python-docx,
python-pptx, openpyxl); `repack` then edits a package's parts, which is how the
hostile variants (tests/hostile_formats.py) are made from a valid file.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

Table = list[list[str]]


def write_docx(path: Path, blocks: list[tuple[int, str] | Table]) -> Path:
    """`blocks`: (level, text) paragraphs (level 0 body text, 1-9 a heading) and tables (lists of rows)."""
    import docx

    d = docx.Document()
    for b in blocks:
        if isinstance(b, tuple):
            level, text = b
            d.add_heading(text, level) if level else d.add_paragraph(text)
        else:
            table = d.add_table(rows=len(b), cols=len(b[0]))
            for r, row in enumerate(b):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
    d.save(path)
    return path


def write_pptx(path: Path, slides: list[tuple[str, str, str]]) -> Path:
    """`slides`: (title, body, notes); an empty title gives a slide without one."""
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    for title, body, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1] if title else deck.slide_layouts[6])
        if title:
            slide.shapes.title.text = title
            slide.placeholders[1].text = body
        else:
            slide.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(2)).text_frame.text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.save(path)
    return path


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def repack(path: Path, out: Path, edit: Callable[[dict[str, bytes]], dict[str, bytes]]) -> Path:
    """Copy the package at `path` to `out` with its parts ({name: bytes}) passed through `edit`."""
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in edit(parts).items():
            z.writestr(name, data)
    out.write_bytes(buf.getvalue())
    return out


def write_html(path: Path, body: str, *, head: str = "<title>Test page</title>") -> Path:
    path.write_text(f"<!DOCTYPE html>\n<html><head>{head}</head><body>{body}</body></html>", encoding="utf-8")
    return path
