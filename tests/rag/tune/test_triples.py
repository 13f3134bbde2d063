"""Training data from a collection: cloze and LLM questions, hard negatives, held-out split."""

import json
import random

import pytest

from ingest.types import Chunk
from rag.tune.triples import (
    Example,
    clean_question,
    cloze_examples,
    judged_from_jsonl,
    llm_examples,
    load_examples,
    near_duplicate,
    save_examples,
    split_heldout,
    with_negatives,
)

PAGE = (
    "The Kestrel 3 is a compact espresso machine for home kitchens. "
    "Descale the boiler every 90 days with citric acid to keep the heating element clean. "
    "The warranty lasts four years and covers the pump and the boiler in every country."
)


def chunk(cid: str, text: str, doc: str = "d1", page: int = 1, start: int = 0, section: str = "") -> Chunk:
    return Chunk(cid, doc, "guide.md", page, start, start + len(text), text, section)


def test_cloze_query_is_a_sentence_of_its_chunk_and_the_positive_usually_lacks_it():
    chunks = [chunk(f"c{i}", PAGE, doc=f"d{i}") for i in range(40)]
    examples = cloze_examples(chunks, random.Random(0))
    assert len(examples) == 40 and all(e.origin == "cloze" for e in examples)
    for e in examples:
        assert e.query in PAGE, "the query is one of the chunk's own sentences"
    removed = sum(e.query not in e.positive_text for e in examples)
    assert 28 <= removed < 40, "about 90% of positives lose their sentence, the rest keep it (ORQA)"
    assert cloze_examples(chunks, random.Random(0)) == examples, "seeded: the same data every run"


def test_cloze_keeps_the_heading_and_skips_chunks_without_a_usable_sentence():
    with_heading = cloze_examples([chunk("c1", PAGE, section="Kestrel 3 > Care")], random.Random(1))
    assert with_heading[0].positive_text.startswith("Kestrel 3 > Care\n")
    assert cloze_examples([chunk("c2", "Too short. Tiny.")], random.Random(0)) == []


@pytest.mark.parametrize(
    "raw, ok",
    [
        (" How often should the boiler be descaled?\nPassage: ...", "How often should the boiler be descaled?"),
        ("What does the warranty of the Kestrel 3 cover? It covers", "What does the warranty of the Kestrel 3 cover?"),
        ("The boiler is descaled every 90 days.", None),  # no question
        ("Why?", None),  # too short
        ("What is the capital of France?", None),  # nothing to do with the passage
        ("The warranty lasts four years and covers the pump and the boiler in every country?", None),  # a copied sentence
    ],
)
def test_clean_question(raw, ok):
    assert clean_question(raw, PAGE) == ok


def test_llm_examples_stop_when_time_is_up():
    chunks = [chunk(f"c{i}", PAGE, doc=f"d{i}") for i in range(5)]
    asked = []

    def ask(passage):
        asked.append(passage)
        return "How often should the boiler be descaled?"

    out = llm_examples(chunks, ask, should_stop=lambda: len(asked) >= 3)
    assert len(out) == 3 and {e.origin for e in out} == {"llm"} and [e.positive_id for e in out] == ["c0", "c1", "c2"]


def test_near_duplicates_are_not_negatives():
    a = chunk("a", PAGE, start=0)
    assert near_duplicate(a, a)
    assert near_duplicate(a, chunk("b", PAGE[60:] + " More text here.", start=60)), "overlapping chunk of the same page"
    assert not near_duplicate(a, chunk("c", "Grind the beans fine and tamp them firmly before brewing.", start=400))
    assert not near_duplicate(a, chunk("s", "Grind the beans fine and tamp them firmly before brewing.", section="Grinding")), "another Markdown section counts its own offsets"
    assert near_duplicate(a, chunk("d", PAGE + " Extra words.", doc="d2")), "same words in another document"
    other = chunk("e", "Unrelated text about trains. Descale the boiler every 90 days with citric acid to keep the heating element clean.", doc="d3")
    sentence = "Descale the boiler every 90 days with citric acid to keep the heating element clean."
    assert near_duplicate(a, other, sentence) and not near_duplicate(a, other)


def test_hard_negatives_skip_the_positive_its_duplicates_and_judged_passages():
    chunks = {c.chunk_id: c for c in [chunk("pos", PAGE), chunk("dup", PAGE, start=5), chunk("judged", "Tamp the coffee firmly.", doc="d2")] + [chunk(f"n{i}", f"Unrelated passage number {i} about bicycles and tyres.", doc=f"x{i}") for i in range(6)]}
    example = Example("How long is the warranty?", "pos", "judged")
    ranking = ["pos", "dup", "judged", "n0", "n1", "n2", "n3", "n4", "n5"]
    out = with_negatives([example], [ranking], chunks, 3, random.Random(0), {"How long is the warranty?": {"pos", "judged"}})
    negatives = out[0].negative_ids
    assert len(negatives) == 3 and set(negatives) <= {f"n{i}" for i in range(6)}
    assert with_negatives([example], [["pos", "dup"]], chunks, 3, random.Random(0))[0].negative_ids == (), "nothing left: no negatives, no error"


def test_heldout_passages_are_never_training_positives():
    examples = [Example(f"q{i}", f"c{i % 10}", "judged") for i in range(30)] + [Example(f"cloze {i}", f"c{i}", "cloze", "text") for i in range(10)]
    train, heldout = split_heldout(examples, 0.3, random.Random(0))
    held = {e.positive_id for e in heldout}
    assert len(held) == 3 and len(heldout) == 9
    assert not held & {e.positive_id for e in train}, "cloze examples of held-out passages are dropped too"
    assert all(e.origin == "judged" for e in heldout)
    assert len(train) == 21 + 7


def test_judged_pairs_from_jsonl_match_passages_to_chunks(tmp_path):
    chunks = [chunk("c1", PAGE), chunk("c2", "Grind the beans fine and tamp them firmly before brewing.", doc="d2")]
    path = tmp_path / "pairs.jsonl"
    lines = [
        {"question": "How often is the boiler descaled?", "passage": "Descale the boiler every 90 days"},
        {"question": "How fine is the grind?", "passage": "grind beans fine tamp firmly"},  # not verbatim: best word overlap
        {"question": "Which chunk?", "chunk_id": "c2"},
    ]
    path.write_text("\n".join(json.dumps(d) for d in lines) + "\n\n")
    assert [(e.query, e.positive_id) for e in judged_from_jsonl(path, chunks)] == [
        ("How often is the boiler descaled?", "c1"),
        ("How fine is the grind?", "c2"),
        ("Which chunk?", "c2"),
    ]
    path.write_text(json.dumps({"question": "x", "chunk_id": "nope"}))
    with pytest.raises(ValueError, match="line 1: chunk_id 'nope' is not in the index"):
        judged_from_jsonl(path, chunks)
    path.write_text(json.dumps({"passage": "x"}))
    with pytest.raises(ValueError, match='no "question"'):
        judged_from_jsonl(path, chunks)


def test_examples_round_trip_through_jsonl(tmp_path):
    examples = [Example("q", "c1", "cloze", "text", ("n1", "n2")), Example("q2", "c2", "judged")]
    save_examples(examples, tmp_path / "e.jsonl")
    assert load_examples(tmp_path / "e.jsonl") == examples
