"""ingest.pdftext: running headers, page numbers, line-number gutters and split words."""

from __future__ import annotations

from ingest import loaders
from ingest.ocr import OcrOptions
from ingest.pdftext import join_split_words, key, mask, repair, word_counts

from ..pdfgen import write_pdf

OFF = OcrOptions(engine="off")
HEADER = "Official - Subject to Final Review"
WORDS = ("agency statute notice address counsel period honor record filing deadline court petition "
         "review hearing witness evidence motion appeal order judgment").split()


def sentences(n: int, seed: int = 0) -> list[str]:
    """n different lines of body text."""
    return [f"{WORDS[(i * 7 + seed) % 20].title()} {WORDS[(i * 3 + seed) % 20]} and the {WORDS[(i * 11 + seed + 5) % 20]} of line {i}, page {seed}."
            for i in range(n)]


BODY = [sentences(12, seed) for seed in range(1, 4)]


def transcript(n_pages: int = 3, lines: int = 12) -> list[str]:
    """Court-transcript-like pages: a running header, numbered lines, a footer with the page number."""
    pages = []
    for p in range(1, n_pages + 1):
        body = [f"{i} {text}" for i, text in enumerate(BODY[p - 1], start=1)]
        pages.append("\n".join([HEADER, *body, f"Alderson Reporting Company {p}"]))
    return pages


def test_a_three_page_transcript_loses_its_header_footer_and_gutter_but_no_body_text(tmp_path):
    pdf = write_pdf(tmp_path / "t.pdf", transcript())
    pages = loaders.load(pdf, ocr=OFF)
    assert len(pages) == 3
    for page, body in zip(pages, BODY):
        assert HEADER not in page.text and "Alderson Reporting Company" not in page.text
        assert page.text.strip("\n").split("\n") == body, "every body line kept, without its line number"


def test_a_body_line_that_resembles_a_header_but_appears_once_stays(tmp_path):
    pages = transcript()
    pages[1] = pages[1].replace(BODY[1][0], "Official - Subject to Final Review of the agency is what we ask.", 1)
    pages.insert(2, "Official - Subject to a later vote\nThe committee met on Tuesday to discuss the budget in detail.")
    out = [p.text for p in loaders.load(write_pdf(tmp_path / "t.pdf", pages), ocr=OFF)]
    assert "Official - Subject to Final Review of the agency is what we ask." in out[1]
    assert out[2].startswith("Official - Subject to a later vote"), "a once-only line at the top of a page is not a header"


def test_repair_takes_header_footer_and_line_numbers_off_transcript_pages():
    out, removed = repair(transcript())
    assert [t.split("\n") for t in out] == BODY
    assert {r.why for r in removed} == {"running header/footer", "line number"}


def test_numbers_in_running_lines_are_masked_so_they_still_repeat():
    assert mask("47699 Federal Register / Vol. 85, No. 152") == "# Federal Register / Vol. #, No. #"
    assert mask("Internal Revenue Manual 2.3.59.1.5 (12-12-2022)") == "Internal Revenue Manual # (#)"
    assert key("VerDate Sep<11>2014 16:21 Aug 05, 2020 Jkt 250001") == key("VerDate Sep<11>2014 16:22 Aug 05, 2020 Jkt 250001 PO 00000jbell on")


def test_alternating_headers_of_odd_and_even_pages_are_found():
    body = sentences(8)
    texts = [("Left header of the book" if i % 2 else "Right header, chapter one") + "\n" + body[i] for i in range(8)]
    out, removed = repair(texts)
    assert out == body
    assert {r.why for r in removed} == {"running header/footer"}


def test_bare_page_numbers_that_follow_the_pages_go_but_other_lone_numbers_stay():
    body = sentences(5)
    texts = [f"{body[i]}\n{i + 5}" for i in range(5)]  # printed numbers 5..9
    out, removed = repair(texts)
    assert out == body
    assert [r.why for r in removed] == ["page number"] * 5
    texts = [f"{line}\n{n}" for line, n in zip(sentences(4, seed=9), (17, 4, 230, 9))]  # numbers that do not count the pages
    assert repair(texts)[0] == texts


def test_a_gutter_read_as_a_column_of_numbers_is_removed():
    text = "\n".join(str(i) for i in range(1, 26)) + "\nThe witness was sworn in at nine.\nQ. State your name."
    out, removed = repair([text])
    assert out == ["The witness was sworn in at nine.\nQ. State your name."]
    assert len(removed) == 25


def test_short_numbered_lists_and_one_table_of_contents_keep_their_numbers():
    steps = "Steps:\n1 Open the valve\n2 Wait ten minutes\n3 Close the valve"
    assert repair([steps])[0] == [steps]
    toc = "\n".join(f"{i} Chapter {i} title" for i in range(1, 13))
    prose = [f"Plain prose on page {p} of the report, about subject {p}, without numbering." for p in "abc"]
    out, _ = repair([toc, *prose])
    assert out[0] == toc, "numbers before lines on one page of four are a list, not a gutter"


def test_letter_split_words_are_joined_only_when_the_document_backs_it():
    vocabulary = word_counts(["The cat and the dog and the bird. The end. The sand; and he said, and then and"])
    assert join_split_words("T he report", vocabulary) == "The report"
    assert join_split_words("S and dunes", vocabulary) == "S and dunes", "'and' is far more common than 'sand'"
    assert join_split_words("A game of chess", vocabulary) == "A game of chess", "A is a word"
    assert join_split_words("Q uestion", vocabulary) == "Q uestion", "a joined word the document never uses stays apart"


def test_repair_keeps_page_count_and_order_and_handles_empty_input():
    assert repair([]) == ([], [])
    out, removed = repair(["", "only one page of text"])
    assert out == ["", "only one page of text"] and removed == []
