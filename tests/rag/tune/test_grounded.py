"""The answering adapter's training examples (rag.tune.grounded): the target is the
answer's sentence verbatim as the prompt shows it, with that source's number; a
prompt whose excerpts hide the answer is a refusal."""

from ingest.types import Chunk
from rag.eval.answers import QA
from rag.generate import NOT_IN_DOCUMENTS
from rag.tune.grounded import answer_example, holds, target_sentence
from rag.verbatim import prompt_sources, with_citation
from rag.types import Hit

PASSAGE = "Super Bowl 50 was an American football game. The Denver Broncos defeated the Carolina Panthers 24–10 to earn their third title. It was played at Levi's Stadium."


def test_the_target_is_the_sentence_that_holds_the_answer_verbatim():
    assert target_sentence(PASSAGE, ["Denver Broncos"]) == "The Denver Broncos defeated the Carolina Panthers 24–10 to earn their third title."
    assert target_sentence(PASSAGE, ["Levi's Stadium", "Levi's"]) == "It was played at Levi's Stadium."
    assert target_sentence(PASSAGE, ["Santa Clara"]) is None


def test_answers_match_whole_words_after_squad_normalisation():
    assert holds("They spoke Latin.", ["latin"]) and not holds("Latinos arrived.", ["Latin"])
    assert not holds("anything", [""])


def test_an_excerpt_gap_is_a_sentence_boundary():
    focused = "Harvard is a large research university. … Its alumni include eight U.S. presidents"
    assert target_sentence(focused, ["eight U.S. presidents"]) == "Its alumni include eight U.S. presidents"


def test_a_long_sentence_is_cut_to_whole_clauses_around_the_answer():
    long = ("In the years after the war, when the city was rebuilt, the council, which met weekly in the old hall, "
            "chose the architect Anna Berg to design the new library, a building that opened in 1961 and still stands today.")
    assert target_sentence(long, ["Anna Berg"], max_words=16) == "chose the architect Anna Berg to design the new library"
    assert target_sentence(long, ["Anna Berg"], max_words=18) == "which met weekly in the old hall, chose the architect Anna Berg to design the new library"


def test_the_answer_line_ends_with_the_source_number():
    assert with_citation("It was played at Levi's Stadium.", 3) == "It was played at Levi's Stadium [3]."
    assert with_citation("Its alumni include eight U.S. presidents", 1) == "Its alumni include eight U.S. presidents [1]."


def _prompt(texts: list[str]) -> str:
    worked = "Source [1] (manual.pdf, page 2): An example.\nQuestion: Q?\nAnswer: A [1].\n\n"
    return "Rule.\n\n" + worked + "\n".join(f"Source [{n}] (f.pdf, page 1): {t}" for n, t in enumerate(texts, 1)) + "\nQuestion: Who won?\nAnswer:"


def test_prompt_sources_reads_the_last_block_only():
    assert prompt_sources(_prompt(["alpha", "beta"])) == {1: "alpha", 2: "beta"}


def _hits(ids: list[str]) -> list[Hit]:
    return [Hit(Chunk(i, i, "f.pdf", 1, 0, 1, "x"), 1.0) for i in ids]


def test_the_gold_source_is_cited_wherever_it_stands():
    qa = QA("q1", "Who won Super Bowl 50?", ["Denver Broncos"], "gold")
    ex = answer_example(qa, _hits(["other", "gold"]), _prompt(["The Denver Broncos were founded in 1960.", PASSAGE]))
    assert ex.kind == "answer" and ex.target == "The Denver Broncos defeated the Carolina Panthers 24–10 to earn their third title [2]."


def test_another_source_holding_the_answer_is_cited_when_the_gold_excerpt_lacks_it():
    qa = QA("q1", "Who won Super Bowl 50?", ["Denver Broncos"], "gold")
    ex = answer_example(qa, _hits(["gold", "other"]), _prompt(["Super Bowl 50 was a football game.", "The Denver Broncos won Super Bowl 50."]))
    assert ex.target == "The Denver Broncos won Super Bowl 50 [2]."


def test_a_prompt_that_hides_the_answer_teaches_the_refusal():
    qa = QA("q1", "Who won Super Bowl 50?", ["Denver Broncos"], "gold")
    ex = answer_example(qa, _hits(["gold"]), _prompt(["Super Bowl 50 was an American football game. …"]))
    assert ex.kind == "hidden" and ex.target == NOT_IN_DOCUMENTS
