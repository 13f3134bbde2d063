"""Word, PowerPoint, Excel, CSV and HTML: files made here, read back into pages with the
right page numbers, sections and text (ingest/formats.py, documents.py, sheets.py)."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from ingest import formats
from ingest.chunking import chunk_text
from ingest.documents import Block, load_docx, outline_pages
from ingest.errors import LoadError
from ingest.loaders import SUPPORTED_NAMES, SUPPORTED_SUFFIXES, load
from ingest.sheets import cell_text, column_name, row_lines

from .. import hostile_formats as hf
from ..officegen import repack, write_docx, write_html, write_pptx, write_xlsx


def _pages(path):
    return [(p.page, p.section, p.text) for p in load(path)]


# ---------------------------------------------------------------- the list of formats


def test_one_list_names_every_suffix_and_the_message_lists_the_formats():
    assert {".pdf", ".docx", ".pptx", ".xlsx", ".csv", ".html", ".htm", ".txt", ".md", ".docm", ".xlsm"} <= SUPPORTED_SUFFIXES
    assert SUPPORTED_SUFFIXES == {s for f in formats.FORMATS for s in f.suffixes}
    assert SUPPORTED_NAMES == "PDF, Word (.docx), PowerPoint (.pptx), Excel (.xlsx), CSV, HTML, .txt or .md"


def test_an_unsupported_type_is_refused_naming_the_types_that_are(tmp_path):
    f = tmp_path / "notes.odt"
    f.write_bytes(b"PK\x03\x04 zipped")
    with pytest.raises(LoadError, match=r"unsupported file type '.odt'; use PDF, Word \(.docx\), PowerPoint"):
        load(f)


def test_a_package_without_a_suffix_is_read_as_what_it_is(tmp_path):
    write_docx(tmp_path / "memo.docx", [(0, "The budget is 3 million.")]).rename(tmp_path / "memo")
    assert _pages(tmp_path / "memo") == [(1, "", "The budget is 3 million.")]


def test_sniff_tells_packages_apart(tmp_path):
    assert formats.sniff(write_docx(tmp_path / "a.docx", [(0, "x")]).read_bytes()) == "docx"
    assert formats.sniff(write_pptx(tmp_path / "a.pptx", [("T", "x", "")]).read_bytes()) == "pptx"
    assert formats.sniff(write_xlsx(tmp_path / "a.xlsx", {"S": [["x"]]}).read_bytes()) == "xlsx"
    assert formats.sniff(hf.plain_zip(tmp_path / "z.zip").read_bytes()) == "zip"
    assert formats.sniff(b"PK\x03\x04" + bytes(50)) == "badzip"
    assert formats.sniff(hf.OLE_HEADER) == "ole"
    assert formats.sniff(b"%PDF-1.4 ...") == "pdf"
    assert formats.sniff(b"<html><body>hi</body></html>") == ""


def test_zip_limits_are_checked_from_the_directory_alone(tmp_path):
    bomb = hf.zip_bomb(tmp_path / "b.docx", 4000).read_bytes()
    assert len(bomb) < 5_000_000
    with pytest.raises(LoadError, match="unpacks to 4,000 MB"):
        formats.check_zip(bomb, formats.for_kind("docx"), "b.docx")
    small = hf.zip_bomb(tmp_path / "s.docx", 8).read_bytes()  # 8 MB at 1,000x: under the size the ratio is held from
    formats.check_zip(small, formats.for_kind("docx"), "s.docx")


# ---------------------------------------------------------------- Word


def test_docx_pages_follow_top_level_headings_and_sections_are_heading_paths(tmp_path):
    f = write_docx(tmp_path / "handbook.docx", [
        (0, "Welcome to the handbook."),
        (1, "Leave"),
        (0, "Every employee receives 27 days of paid annual leave."),
        (2, "Parental leave"),
        (0, "Parental leave lasts 16 weeks."),
        [["Plan", "Days"], ["Gold", "30"]],
        (1, "Expenses"),
        (0, "Claims are paid within 14 days."),
    ])
    assert _pages(f) == [
        (1, "", "Welcome to the handbook."),
        (2, "Leave", "Every employee receives 27 days of paid annual leave."),
        (2, "Leave > Parental leave", "Parental leave lasts 16 weeks.\n\nPlan | Days\nGold | 30"),
        (3, "Expenses", "Claims are paid within 14 days."),
    ]


def test_docx_top_level_is_the_highest_heading_level_used(tmp_path):
    f = write_docx(tmp_path / "memo.docx", [(2, "One"), (0, "first"), (3, "Sub"), (0, "second"), (2, "Two"), (0, "third")])
    assert _pages(f) == [(1, "One", "first"), (1, "One > Sub", "second"), (2, "Two", "third")]


def test_docx_heading_by_outline_level_and_merged_cells_once(tmp_path):
    import docx
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    d = docx.Document()
    p = d.add_paragraph("Custom heading")
    lvl = OxmlElement("w:outlineLvl")
    lvl.set(qn("w:val"), "0")
    p._p.get_or_add_pPr().append(lvl)
    d.add_paragraph("Body under it.")
    t = d.add_table(rows=2, cols=3)
    t.cell(0, 0).merge(t.cell(0, 2)).text = "Wide header"
    for i, v in enumerate(["a", "b", "c"]):
        t.cell(1, i).text = v
    d.save(tmp_path / "x.docx")
    assert _pages(tmp_path / "x.docx") == [(1, "Custom heading", "Body under it.\n\nWide header\na | b | c")]


def test_docm_is_read_and_its_macros_are_not(tmp_path):
    f = hf.with_macros(tmp_path / "memo.docm", "docm", "Text beside a macro.")
    assert _pages(f) == [(1, "Macro memo", "Text beside a macro.")]


def test_the_word_parser_itself_expands_no_entity(tmp_path):
    """Behind the DTD refusal (formats.check_zip), python-docx's parser is safe on its own."""
    xxe = hf.docx_with_body(tmp_path / "xxe.docx", hf.para("Secret: &xxe;") + hf.para("Visible."), doctype=hf.XXE)
    assert "root:" not in " ".join(p.text for p in load_docx(xxe.read_bytes(), "xxe.docx"))
    laughs = hf.docx_with_body(tmp_path / "l.docx", hf.para("&l9;"), doctype=hf.LAUGHS)
    with pytest.raises(LoadError, match="expands entities past the parser's limit"):
        load_docx(laughs.read_bytes(), "l.docx")


# ---------------------------------------------------------------- PowerPoint


def test_pptx_one_page_per_slide_title_as_section_notes_marked(tmp_path):
    f = write_pptx(tmp_path / "deck.pptx", [
        ("Quarterly results", "Revenue grew 12% to 4.2 million.", "Mention the Oslo office."),
        ("Section break", "", ""),
        ("", "A slide with no title.", ""),
    ])
    assert _pages(f) == [
        (1, "Quarterly results", "Revenue grew 12% to 4.2 million.\n\nNotes: Mention the Oslo office."),
        (3, "", "A slide with no title."),
    ]


def test_pptx_tables_and_grouped_shapes_are_read(tmp_path):
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Prices"
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    for (r, c), v in {(0, 0): "Item", (0, 1): "Price", (1, 0): "Seal kit", (1, 1): "12 EUR"}.items():
        table.cell(r, c).text = v
    group = slide.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(4), Inches(3), Inches(1)).text_frame.text = "Grouped caption"
    deck.save(tmp_path / "p.pptx")
    assert _pages(tmp_path / "p.pptx") == [(1, "Prices", "Item | Price\nSeal kit | 12 EUR\n\nGrouped caption")]


def test_a_deck_over_max_pages_is_refused(tmp_path):
    f = write_pptx(tmp_path / "long.pptx", [(f"S{i}", "x", "") for i in range(4)])
    with pytest.raises(LoadError, match="has 4 slides; the limit is 3"):
        load(f, max_pages=3)


# ---------------------------------------------------------------- Excel and CSV


def test_xlsx_one_page_per_sheet_every_row_names_its_columns(tmp_path):
    f = write_xlsx(tmp_path / "book.xlsx", {
        "Sales": [["Region", "Q1", "Q2"], ["North", 4200, 5100.5], ["South", None, 3000], [], ["East", 1.0, "=B2*2"]],
        "Staff": [[None, None], ["Name", None, "Start"], ["Ann", "x", dt.datetime(2024, 3, 1)]],
    })
    assert _pages(f) == [
        (1, "Sales", "Region: North; Q1: 4200; Q2: 5100.5\n\nRegion: South; Q2: 3000\n\nRegion: East; Q1: 1"),
        (2, "Staff", "Name: Ann; B: x; Start: 2024-03-01"),
    ]  # the formula has no cached value (openpyxl wrote it; nothing evaluated it): it is left out, not computed


def test_csv_pages_are_row_blocks_and_every_chunk_carries_the_header(tmp_path):
    rows = "\n".join(f"R{i},{i * 10},\"Oslo, Norway\"" for i in range(1, 251))
    f = tmp_path / "orders.csv"
    f.write_text("Order,Amount,City\n" + rows + "\n")
    pages = load(f)
    assert [(p.page, p.section) for p in pages] == [(1, "rows 2–101"), (2, "rows 102–201"), (3, "rows 202–251")]
    assert pages[0].text.split("\n\n")[0] == "Order: R1; Amount: 10; City: Oslo, Norway"
    for page in pages:
        for start, end in chunk_text(page.text, 30, 5):
            assert all(line.startswith("Order: ") for line in page.text[start:end].split("\n\n"))


@pytest.mark.parametrize("name, text, first", [
    ("semi.csv", "Name;Age\nAnn;31\n", "Name: Ann; Age: 31"),
    ("tabs.tsv", "Name\tNote\nAnn\tlikes, commas\n", "Name: Ann; Note: likes, commas"),
    ("multi.csv", 'Name,Note\nAnn,"two\nlines"\n', "Name: Ann; Note: two lines"),
    ("hyphen.csv", "Word,Next\nwell-\nknown,x\n", "Word: well-"),
])
def test_csv_delimiters_quotes_and_line_ends_are_kept(tmp_path, name, text, first):
    (tmp_path / name).write_text(text)
    assert load(tmp_path / name)[0].text.split("\n\n")[0] == first


def test_row_lines_count_cells_and_name_headerless_columns():
    assert list(row_lines([["A", ""], ["1", "2", "3"]], "t")) == [(2, "A: 1; B: 2; C: 3")]
    with pytest.raises(LoadError, match="more than 5 cells"):
        list(row_lines([["a", "b", "c"], ["1", "2", "3"]], "t", max_cells=5))
    assert [column_name(i) for i in (0, 25, 26, 16383)] == ["A", "Z", "AA", "XFD"]
    assert [cell_text(v) for v in (3.0, 2.5, True, dt.date(2024, 1, 2), " a\nb ")] == ["3", "2.5", "TRUE", "2024-01-02", "a b"]


# ---------------------------------------------------------------- HTML

PAGE = """
<header><a href="/">Acme</a> <a href="/shop">Shop</a></header>
<nav><a href="/a">About us</a></nav>
<main>
  <h1>Kestrel <a name="top"></a>pump manual</h1>
  <p>The pump is rated at
     15 bar.</p>
  <h2>Installation</h2>
  <ul><li>Mount it level.</li><li>Connect the inlet.</li></ul>
  <pre>  $ kestrel --prime
  ok</pre>
  <table><tr><th>Part</th><th>Code</th></tr><tr><td>Seal kit</td><td>SK-42</td></tr></table>
  <div hidden>Hidden promo</div><div aria-hidden="true">Icon text</div>
  <h2>Warranty</h2>
  <p>Four years,<br>parts and labour.</p>
</main>
<aside>Related: other pumps</aside>
<footer>Copyright Acme. Cookie settings.</footer>
"""


def test_html_main_text_with_headings_as_sections(tmp_path):
    f = write_html(tmp_path / "manual.html", PAGE, head="<title>Manual</title><style>p{color:red}</style><script>var tracking=1</script>")
    assert _pages(f) == [
        (1, "Kestrel pump manual", "The pump is rated at 15 bar."),
        (1, "Kestrel pump manual > Installation", "Mount it level.\n\nConnect the inlet.\n\n$ kestrel --prime\nok\n\nPart | Code\n\nSeal kit | SK-42"),
        (1, "Kestrel pump manual > Warranty", "Four years,\nparts and labour."),
    ]


def test_html_without_main_reads_the_body_less_its_page_header_and_footer(tmp_path):
    f = write_html(tmp_path / "a.html", "<header>Site name</header><article><header><h1>Title</h1></header><p>Body text.</p></article>"
                   "<p>Outside the article.</p><footer>Legal</footer>")
    assert _pages(f) == [(1, "Title", "Body text.")]  # the single <article> is the main text
    g = write_html(tmp_path / "b.html", "<header>Site name</header><h1>One</h1><p>First.</p><h1>Two</h1><p>Second.</p><footer>Legal</footer>")
    assert _pages(g) == [(1, "One", "First."), (2, "Two", "Second.")]


def test_html_declared_charset_is_honoured(tmp_path):
    f = tmp_path / "old.html"
    f.write_bytes('<html><head><meta charset="iso-8859-15"></head><body><p>Prix: 10 €</p></body></html>'.encode("iso-8859-15"))
    assert _pages(f) == [(1, "", "Prix: 10 €")]


def test_reading_html_touches_no_network(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a loader opened a socket")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    f = write_html(tmp_path / "links.html", hf.LINKS_BODY + '<link rel="stylesheet" href="http://127.0.0.1:9/s.css"><script src="http://127.0.0.1:9/x.js"></script>')
    assert _pages(f) == [(1, "", "Click here for the warranty terms.")]


def test_outline_pages_is_pure_and_handles_empty_and_heading_only_input():
    assert outline_pages([], "x") == []
    assert outline_pages([Block("A", 1), Block("B", 2)], "x") == []
    got = outline_pages([Block("A", 1), Block("B", 1), Block("text"), Block("C", 1), Block("more")], "x")
    assert [(p.page, p.section, p.text) for p in got] == [(1, "B", "text"), (2, "C", "more")]


def test_repack_keeps_a_package_readable(tmp_path):
    f = write_docx(tmp_path / "a.docx", [(0, "Kept text.")])
    repack(f, tmp_path / "b.docx", lambda parts: parts)
    assert _pages(tmp_path / "b.docx") == [(1, "", "Kept text.")]


def test_a_style_based_on_a_heading_is_one_and_one_based_on_title_is_not(tmp_path):
    import docx
    from docx.enum.style import WD_STYLE_TYPE

    d = docx.Document()
    chapter = d.styles.add_style("Chapter", WD_STYLE_TYPE.PARAGRAPH)
    chapter.base_style = d.styles["Heading 1"]
    tagline = d.styles.add_style("Tagline", WD_STYLE_TYPE.PARAGRAPH)
    tagline.base_style = d.styles["Title"]
    d.add_paragraph("Report", style="Title")
    d.add_paragraph("A tagline under the title.", style="Tagline")
    d.add_paragraph("Findings", style="Chapter")
    d.add_paragraph("Costs fell.")
    d.save(tmp_path / "r.docx")
    assert _pages(tmp_path / "r.docx") == [(1, "Report", "A tagline under the title."), (2, "Findings", "Costs fell.")]
