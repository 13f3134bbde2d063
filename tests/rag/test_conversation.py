"""Hand-written multi-turn cases, with the real models: does rewriting the follow-up
find the passage that the raw follow-up misses? (The measured rates are printed.)"""

import pytest

from ingest.pipeline import ingest
from ingest.settings import Settings
from rag.pipeline import Collection, Models
from rag.rewrite import rewrite

CASES = [  # (history question, assistant reply, follow-up, source, page and phrase that answer it)
    ("What does the Kestrel 3 warranty cover?", "The pump and the boiler [1].", "How many years?", ("kestrel-guide.md", 1, "4 years")),
    ("How do I descale the Kestrel boiler?", "With citric acid [1].", "How often?", ("kestrel-guide.md", 1, "every 90 days")),
    ("When are the core hours at Harbor Labs?", "10:00 to 15:00 [1].", "On which days?", ("handbook.pdf", 2, "weekdays")),
    ("Does the Kestrel warranty cover the glass carafe?", "No [1].", "And the pump?", ("kestrel-guide.md", 1, "the pump")),
    ("Who do leave requests at Harbor Labs go to?", "To the team lead [1].", "How far ahead?", ("handbook.pdf", 3, "two weeks ahead")),
]


@pytest.fixture(scope="module")
def collection(tmp_path_factory, docs, minilm):
    folder = tmp_path_factory.mktemp("conv") / "idx"
    ingest([docs["pdf"], docs["md"]], folder, minilm, chunk_words=20, overlap_words=5)
    return Collection(folder, Models(Settings(), embedder=minilm, reranker=None))


def found(collection, query, target) -> bool:
    source, page, phrase = target
    top = collection.search(query, 1, "hybrid")[0][0].chunk
    return (top.source, top.page) == (source, page) and phrase in top.text


def test_rewriting_follow_ups_finds_what_the_raw_question_misses(collection):
    raw = rewritten = 0
    for question, reply, follow_up, target in CASES:
        history = [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
        raw += found(collection, follow_up, target)
        rewritten += found(collection, rewrite(follow_up, history), target)  # rules only: the LLM is not asked
    print(f"\nfollow-ups answered from the right passage: raw {raw}/{len(CASES)}, rewritten {rewritten}/{len(CASES)}")
    assert rewritten >= 4 and rewritten > raw
