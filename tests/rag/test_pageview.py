"""The page view: a quote located in pdfium's page text, boxes per line, the <50% rule,
and the text view for files that are not PDFs."""

from __future__ import annotations

import shutil

import pytest

from ingest.pipeline import ingest
from ingest.sessions import UPLOADS
from rag import pageview
from rag.pageview import MIN_FOUND, Box, PageCache, align, line_boxes, locate, normalise, overlaps, page_text, parse_target, quote_span, target
from rag.render import render_page_view

from ..fakes import HashEmbedder
from ..pdfgen import write_pdf

# as pdfium reads a two-column page: CRLF line ends, \x02 for a hyphen at a line end
PDFIUM_PAGE = (
    "47700 Federal Register / Vol. 85 / Proposed Rules \r\n"
    "The magnitude of the command varies \r\naccording to para\x02meters such as \r\n"
    "airspeed and the ﬂight phase. Flight \r\ncontrol laws reside in software. \r\n"
    "The FAA proposes to require a revision of the existing airplane ﬂight manual."
)


def test_normalise_drops_spaces_and_hyphens_and_unfolds_ligatures():
    text, where = normalise("a ﬂ-\r\ny")
    assert text == "afly"
    assert where == [0, 2, 2, 6]  # both letters of the ligature point at it


def test_an_exact_quote_is_found_character_for_character():
    quote = "Flight control laws reside in software."
    located = align(quote, PDFIUM_PAGE)
    assert located.fraction == 1.0 and located.enough
    at = PDFIUM_PAGE.index("Flight \r\ncontrol")
    spanned = PDFIUM_PAGE[located.indices[0] : located.indices[-1] + 1]
    assert located.indices[0] == at and spanned.replace(" \r\n", " ") == quote


def test_a_quote_with_other_whitespace_hyphens_and_ligatures_is_found():
    # pypdf's text of the same lines: plain newlines, the hyphen kept, no ligature
    quote = "varies\naccording to para-\nmeters such as\nairspeed and the flight phase."
    located = align(quote, PDFIUM_PAGE)
    assert located.fraction == 1.0
    found = "".join(PDFIUM_PAGE[i] for i in located.indices)
    assert found == "variesaccordingtoparameterssuchasairspeedandtheﬂightphase."  # no space, no \x02


def test_a_quote_not_on_the_page_is_not_highlighted():
    located = align("Descale the boiler every 90 days with citric acid.", PDFIUM_PAGE)
    assert not located.enough and located.fraction < MIN_FOUND and not located.indices


def test_a_common_phrase_alone_does_not_make_a_match():
    # "the existing airplane" is on the page; the rest of the sentence is not
    located = align("Operators must inspect the existing airplane wiring harness for chafing every 500 hours.", PDFIUM_PAGE)
    assert not located.enough, located.fraction


def test_a_quote_less_than_half_on_the_page_gets_no_highlight_and_more_than_half_gets_that_part():
    present = "The FAA proposes to require a revision of the existing airplane flight manual."
    absent_long = " Operators must then train every crew on the new procedure before the next flight."
    absent_short = " Crews are trained."
    low = align(present + absent_long + absent_long, PDFIUM_PAGE)
    assert 0 < low.fraction < MIN_FOUND and not low.enough
    high = align(present + absent_short, PDFIUM_PAGE)
    assert high.enough and MIN_FOUND < high.fraction < 1
    start = PDFIUM_PAGE.index("The FAA proposes")
    assert min(high.indices) == start and max(high.indices) == len(PDFIUM_PAGE) - 1  # only the present part


def test_matched_characters_become_one_box_per_line():
    # two lines of three characters, 10 px wide, 20 px tall; a generated break between
    boxes = [(0, 0, 10, 20), (10, 0, 20, 20), (20, 0, 30, 20), (0, 0, 0, 0), (0, 30, 10, 50), (10, 30, 20, 50), (20, 30, 30, 50)]
    assert line_boxes(boxes, [1, 2, 3, 4, 5], pad=0) == [Box(10, 0, 20, 20), Box(0, 30, 20, 20)]
    assert overlaps(Box(0, 0, 10, 10), Box(5, 5, 10, 10)) and not overlaps(Box(0, 0, 10, 10), Box(20, 0, 5, 5))


def test_targets_round_trip_and_junk_is_refused():
    assert parse_target(target("766fa64adbe4-p3-0", 7, 69)) == ("766fa64adbe4-p3-0", 7, 69)
    for junk in ("", "abc", "../etc.1.2", "x.5.2", "x.a.b", "<script>.1.2"):
        with pytest.raises(ValueError):
            parse_target(junk)


@pytest.fixture
def collection(tmp_path, docs):
    """A collection folder as the app keeps it: the index and the uploads by doc_id."""
    folder = tmp_path / "collection"
    report = ingest([docs["pdf"], docs["md"]], folder, HashEmbedder(), chunk_words=30, overlap_words=5)
    (folder / UPLOADS).mkdir()
    for added in report.added:
        src = docs["pdf"] if added["source"].endswith(".pdf") else docs["md"]
        shutil.copyfile(src, folder / UPLOADS / f"{added['doc_id']}{src.suffix}")
    from ingest import index as index_store

    return folder, index_store.load(folder, HashEmbedder().name).chunks


def _cite(chunks, source: str, phrase: str) -> str:
    chunk = next(c for c in chunks if c.source == source and phrase in c.text)
    return target(chunk.chunk_id, *quote_span(chunk, phrase))


def test_a_pdf_citation_shows_its_page_with_boxes_over_the_quote(collection):
    folder, chunks = collection
    quote = "Every employee receives 27 days of paid annual leave per year."
    cache = PageCache()
    view = locate(chunks, _cite(chunks, "handbook.pdf", quote), folder, cache)
    assert view.kind == "pdf" and view.page == 3 and view.pages == 3 and not view.note
    assert view.image.startswith(b"\xff\xd8") and view.width >= 900 and not view.cached
    assert view.found == 1.0 and view.boxes
    # the boxes cover the quote's own characters in the rendered page
    rendered, cached = cache.get(None, next(c.doc_id for c in chunks if c.source == "handbook.pdf"), 3)
    assert cached
    start = rendered.text.index("Every employee")
    first_char = Box(*(int(v) for v in rendered.char_boxes[start][:2]), 1, 1)
    assert any(overlaps(b, first_char) for b in view.boxes)
    html = render_page_view(view)
    assert html.count('class="hl"') == len(view.boxes) and "data:image/jpeg;base64," in html
    assert locate(chunks, _cite(chunks, "handbook.pdf", quote), folder, cache).cached


def test_a_quote_the_page_does_not_hold_is_shown_without_a_highlight(collection, monkeypatch):
    folder, chunks = collection
    monkeypatch.setattr(pageview, "align", lambda quote, text: pageview.Located([], 3, 10))  # as if pdfium's text differed
    view = locate(chunks, _cite(chunks, "handbook.pdf", "Every employee"), folder)
    assert view.kind == "pdf" and not view.boxes and view.image
    assert "could not be located" in view.note and "30%" in view.note
    assert 'class="hl"' not in render_page_view(view) and "nothing is highlighted" in render_page_view(view)


def test_a_markdown_citation_shows_the_page_text_with_the_quote_marked(collection):
    folder, chunks = collection
    view = locate(chunks, _cite(chunks, "kestrel-guide.md", "lasts 4 years"), folder)
    assert view.kind == "text" and not view.note
    html = render_page_view(view)
    assert "<mark>lasts 4 years</mark>" in html and "covers the pump" in html


def test_a_pdf_without_its_original_shows_the_text_and_says_why(collection):
    folder, chunks = collection
    shutil.rmtree(folder / UPLOADS)  # as for an index built with python -m ingest
    view = locate(chunks, _cite(chunks, "handbook.pdf", "27 days"), folder)
    assert view.kind == "text" and "not kept with this collection" in view.note
    assert "<mark>27 days</mark>" in render_page_view(view)


def test_a_removed_passage_is_said_in_words(collection):
    folder, chunks = collection
    with pytest.raises(ValueError, match="no longer in the collection"):
        locate(chunks, target("0123456789ab-p9-0", 0, 4), folder)


def test_page_text_is_stitched_from_overlapping_chunks():
    from ingest.types import Chunk

    text = "one two three four five six"
    chunks = [Chunk("b", "d", "s", 1, 8, 23, text[8:23]), Chunk("a", "d", "s", 1, 0, 13, text[0:13])]
    assert page_text(chunks) == (text[:23], 0)


def test_the_page_view_escapes_what_the_document_says(tmp_path):
    view = pageview.PageView("text", "<b>x</b>.md", 1, "<img src=x>", text="a <img src=x> b", quote_at=(2, 13))
    html = render_page_view(view)
    assert "<img" not in html and "&lt;img src=x&gt;" in html and "<mark>" in html


def test_a_wide_pdf_page_is_rendered_readable(tmp_path):
    path = write_pdf(tmp_path / "a.pdf", ["A short page."])
    rendered, scale = pageview.render_pdf_page(path, 1)
    assert rendered.width == pytest.approx(pageview.PAGE_WIDTH_PX, abs=2) and 1 < scale <= pageview.MAX_SCALE
    with pytest.raises(ValueError, match="has 1 pages"):
        pageview.render_pdf_page(path, 2)


@pytest.mark.parametrize("rotation", [0, 90, 270])
def test_boxes_sit_on_the_quote_s_ink_on_a_rotated_page_too(tmp_path, rotation):
    import io

    from PIL import Image
    from pypdf import PdfReader, PdfWriter

    from ingest.chunking import chunk_pages
    from ingest.loaders import load

    plain = write_pdf(tmp_path / "plain.pdf", ["Intro line that is not cited.\n\n\n\n\n\nThe cited sentence sits lower on the page, away from the rest."])
    writer = PdfWriter()
    for p in PdfReader(plain).pages:
        writer.add_page(p.rotate(rotation) if rotation else p)
    path = tmp_path / "rotated.pdf"
    with open(path, "wb") as f:
        writer.write(f)
    (tmp_path / "c" / UPLOADS).mkdir(parents=True)
    shutil.copyfile(path, tmp_path / "c" / UPLOADS / "abcdef0123456789.pdf")
    chunks = chunk_pages(load(path), "abcdef0123456789")
    view = locate(chunks, _cite(chunks, "rotated.pdf", "The cited sentence sits lower"), tmp_path / "c")
    assert view.boxes and view.found == 1.0
    if rotation in (90, 270):
        assert view.height < view.width  # a portrait page turned on its side
    image = Image.open(io.BytesIO(view.image)).convert("L")
    for b in view.boxes:
        assert 0 <= b.x and 0 <= b.y and b.x + b.w <= view.width and b.y + b.h <= view.height, b
        under = image.crop((b.x, b.y, b.x + b.w, b.y + b.h))
        assert sum(under.point(lambda v: v < 128 and 255).histogram()[255:]) > 0.05 * b.w * b.h, "ink under the box"
    ink = image.point(lambda v: 255 if v < 100 else 0).getbbox()  # everything printed on the page
    assert ink and any(not overlaps(b, Box(ink[0], ink[1], 4, 4)) for b in view.boxes), "the box is not just over the first line"
