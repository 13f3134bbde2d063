import pytest

from ingest.errors import LoadError
from ingest.loaders import MAX_HEADING_CHARS, clean_text, decode_text, heading, load, split_form_feeds, split_markdown

from ..pdfgen import write_pdf


def test_pdf_keeps_page_numbers(docs):
    pages = load(docs["pdf"])
    assert [p.page for p in pages] == [1, 2, 3]
    assert "27 days of paid annual leave" in pages[2].text
    assert all(p.source == "handbook.pdf" for p in pages)


def test_markdown_sections_carry_heading_path(docs):
    pages = load(docs["md"])
    warranty = next(p for p in pages if "4 years" in p.text)
    assert warranty.section == "Kestrel 3 Espresso Machine > Warranty"
    assert "## Warranty" not in warranty.text


def test_markdown_heading_levels_pop_correctly():
    pages = split_markdown("# A\na\n## B\nb\n### C\nc\n## D\nd\n# E\ne", "x.md")
    assert [(p.section, p.text) for p in pages if p.text] == [("A", "a"), ("A > B", "b"), ("A > B > C", "c"), ("A > D", "d"), ("E", "e")]


def test_a_form_feed_on_its_own_line_starts_a_page():
    """As in RFC 2616: each page ends with a line holding only a form feed."""
    text = decode_text(b"Page one text.\n\n\f\nPage two text.\n\f\nPage three.", "rfc.txt")
    assert [p.text for p in split_form_feeds(text, "rfc.txt")] == ["Page one text.", "Page two text.", "Page three."]


def test_text_form_feeds_are_pages(tmp_path):
    f = tmp_path / "rfc.txt"
    f.write_text("first page\fsecond page\fthird page")
    assert [(p.page, p.text) for p in load(f)] == [(1, "first page"), (2, "second page"), (3, "third page")]


def test_non_utf8_text_is_decoded(tmp_path):
    f = tmp_path / "latin.txt"
    f.write_bytes("Caf\xe9 cr\xe8me na\xefve".encode("cp1252"))
    assert load(f)[0].text == "Café crème naïve"


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.txt", b"", "empty"),
        ("fake.pdf", b"this is not a pdf at all", "not a PDF"),
        ("binary.txt", bytes(range(256)) * 10, "binary"),
        ("sheet.xlsx", b"PK\x03\x04 zipped", "the Excel workbook is damaged"),
        ("notes.odt", b"PK\x03\x04 zipped", "unsupported file type '.odt'; use PDF, Word (.docx)"),
        ("blank.md", b"   \n\n  \n", "no text"),
    ],
)
def test_bad_files_raise_a_clear_reason(tmp_path, name, content, reason):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(LoadError) as e:
        load(f)
    assert reason in e.value.reason
    assert name in str(e.value)


def test_oversized_file_is_refused(tmp_path):
    f = tmp_path / "big.txt"
    f.write_text("word " * 1000)
    with pytest.raises(LoadError, match="limit"):
        load(f, max_bytes=100)


def test_encrypted_pdf_is_refused(tmp_path):
    f = write_pdf(tmp_path / "secret.pdf", ["classified text"], password="hunter2")
    with pytest.raises(LoadError, match="encrypted"):
        load(f)


def test_truncated_pdf_is_refused(tmp_path, docs):
    f = tmp_path / "cut.pdf"
    f.write_bytes(docs["pdf"].read_bytes()[:60])
    with pytest.raises(LoadError):
        load(f)


def test_pdf_detected_by_content_despite_extension(tmp_path, docs):
    f = tmp_path / "report.bin"
    f.write_bytes(docs["pdf"].read_bytes())
    assert len(load(f)) == 3


def test_clean_text_joins_hyphenated_words_and_drops_controls():
    assert clean_text("exam-\nple\x00 text\r\nnext  line") == "example text\nnext line"


@pytest.mark.parametrize(
    "line, expected",
    [
        ("# C#", (1, "C#")),  # a '#' that ends a word is part of the title
        ("## Setup ##", (2, "Setup")),  # a closing run after a space is not
        ("### foo ### b", (3, "foo ### b")),  # only a run at the very end closes
        ("#\tTabbed #\t", (1, "Tabbed")),
        ("###### Six", (6, "Six")),
        ("####### Seven", None),  # more than six '#' is text
        ("#hashtag", None),  # no space after the opening run
        ("# ##", None),  # the closing run is the whole title: nothing to name a section by
        ("#   ", None),
        ("text # Not", None),
    ],
)
def test_atx_headings_follow_commonmark(line, expected):
    assert heading(line) == expected


def test_markdown_closing_hashes_and_seven_hashes():
    pages = split_markdown("# C#\nabout C#\n## Build ##\nrun make\n####### not a heading\nstill Build", "x.md")
    assert [(p.section, p.text) for p in pages if p.text] == [
        ("C#", "about C#"),
        ("C# > Build", "run make\n####### not a heading\nstill Build"),
    ]


def test_a_long_heading_title_is_capped():
    pages = split_markdown("# " + "word " * 100_000 + "\nbody", "x.md")
    assert pages[-1].text == "body"
    assert len(pages[-1].section) == MAX_HEADING_CHARS and pages[-1].section == ("word " * 40)[: MAX_HEADING_CHARS - 1] + "…"


def test_markdown_headings_keep_form_feed_page_numbers():
    pages = split_markdown("# A\none\f two\n## B\nthree", "x.md")
    assert [(p.page, p.section, p.text) for p in pages if p.text] == [(1, "A", "one"), (2, "A", " two"), (2, "A > B", "three")]
