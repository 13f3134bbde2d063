import pytest

from ingest.chunking import chunk_pages, chunk_text, sentence_spans
from ingest.types import Page

TEXT = " ".join(f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(120))


def test_sentence_spans_are_trimmed_and_cover_sentences():
    text = "First one. Second one!  Third? 4th starts with a digit.\n\n- a list item\n- another"
    parts = [text[s:e] for s, e in sentence_spans(text)]
    assert parts == ["First one.", "Second one!", "Third?", "4th starts with a digit.", "- a list item", "- another"]


def test_chunks_respect_size_and_overlap():
    spans = chunk_text(TEXT, size=60, overlap=20)
    words = [len(TEXT[s:e].split()) for s, e in spans]
    assert max(words) <= 60
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert s1 < s2 < e1, "consecutive chunks overlap and move forward"
        assert len(TEXT[s2:e1].split()) <= 20


def test_an_abbreviation_ends_no_sentence():
    def sentences(text):
        return [text[s:e] for s, e in sentence_spans(text)]
    assert sentences("Some were razed (e.g. Kronenberg Palace). As Smith et al. (2020) show. Then.") == ["Some were razed (e.g. Kronenberg Palace).", "As Smith et al. (2020) show.", "Then."]
    assert sentences("It ended in 1944. Most were rebuilt (approx. 90%).") == ["It ended in 1944.", "Most were rebuilt (approx. 90%)."]


def test_chunks_cover_every_word_and_start_at_sentences():
    spans = chunk_text(TEXT, size=50, overlap=10)
    covered = set()
    for s, e in spans:
        covered.update(range(s, e))
        assert TEXT[s:].startswith("Sentence")
    assert all(i in covered for i, ch in enumerate(TEXT) if not ch.isspace())


def test_sentence_longer_than_a_chunk_is_split_at_words():
    text = " ".join(["word"] * 250) + "."
    spans = chunk_text(text, size=100, overlap=0)
    assert [len(text[s:e].split()) for s, e in spans] == [84, 84, 82], "cut into even parts"


def test_no_tail_chunk_already_covered_by_overlap():
    text = "One two three four five. Six seven eight nine ten. Eleven twelve."
    spans = chunk_text(text, size=10, overlap=5)
    assert len(spans) == 2
    assert text[spans[-1][0] : spans[-1][1]].endswith("Eleven twelve.")


@pytest.mark.parametrize("size, overlap", [(5, 0), (100, 100), (100, -1), (100, 150)])
def test_invalid_parameters_name_the_values(size, overlap):
    with pytest.raises(ValueError, match=f"size={size}" if size < 10 else f"overlap={overlap}"):
        chunk_text("text", size, overlap)


def test_chunks_are_verbatim_slices_with_page_and_stable_ids():
    pages = [Page("a.pdf", 1, TEXT[:2000]), Page("a.pdf", 2, TEXT[2000:4000], "Intro")]
    chunks = chunk_pages(pages, "f" * 64, size=40, overlap=10)
    assert {c.page for c in chunks} == {1, 2}
    for c in chunks:
        page = pages[c.page - 1]
        assert page.text[c.start : c.end] == c.text
        assert c.section == page.section
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    assert [c.chunk_id for c in chunk_pages(pages, "f" * 64, size=40, overlap=10)] == [c.chunk_id for c in chunks]
    assert chunks[-1].indexed_text.startswith("Intro\n")


def test_same_offset_in_two_sections_of_one_page_gets_distinct_ids():
    pages = [Page("g.md", 1, "Alpha text.", "A"), Page("g.md", 1, "Beta text.", "B")]
    ids = [c.chunk_id for c in chunk_pages(pages, "a" * 64)]
    assert len(set(ids)) == 2


def test_token_cap_keeps_chunks_within_the_embedders_input():
    """Numbers and codes cost many word pieces: the word budget alone would overflow."""
    text = " ".join(f"Code AB-{i:04d}-X{i % 7} applies." for i in range(200))
    count = lambda t: 3 * len(t.split())  # noqa: E731  a stand-in tokenizer: 3 tokens a word
    spans = chunk_text(text, size=160, overlap=20, count=count, max_tokens=120)
    assert max(count(text[s:e]) for s, e in spans) <= 120
    assert max(len(text[s:e].split()) for s, e in chunk_text(text, size=160, overlap=20)) > 40, "without the cap, chunks run to 160 words"
    long_sentence = "word " * 300
    assert all(count(long_sentence[s:e]) <= 120 for s, e in chunk_text(long_sentence, 160, 20, count, 120))


def test_a_huge_word_is_cut_and_no_chunk_passes_the_character_cap():
    text = "Serial " + "x" * 1_000_000 + " ends here."
    spans = chunk_text(text, size=160, overlap=40, max_chars=2000)
    assert max(e - s for s, e in spans) <= 2000
    assert spans[0][0] == 0 and spans[-1][1] == len(text), "every character is still in some chunk"
    assert all(s2 <= e1 for (_, e1), (s2, _) in zip(spans, spans[1:])), "no gap between chunks"


def test_text_without_spaces_is_chunked_with_proportional_overlap():
    cjk = "东京是日本的首都也是最大的城市" * 2000  # 30,000 characters, no space, no full stop
    spans = chunk_text(cjk, size=160, overlap=40, max_chars=500)
    assert max(e - s for s, e in spans) <= 500
    assert len(spans) < 2 * len(cjk) / 500, "overlap stays a quarter of a chunk, not 40 pieces of one"


def test_the_tokenizer_never_sees_more_than_a_chunks_characters():
    seen: list[int] = []

    def count(t: str) -> int:
        seen.append(len(t))
        return len(t) // 4

    chunk_text("word " * 200_000, size=160, overlap=40, count=count, max_tokens=250, max_chars=2000)
    assert max(seen) <= 2000


def test_limit_stops_after_one_chunk_too_many():
    pages = [Page("big.txt", 1, "word " * 100_000)]
    assert len(chunk_pages(pages, "d" * 64, limit=10)) == 11
    assert len(chunk_pages(pages, "d" * 64, limit=10_000)) < 10_001
