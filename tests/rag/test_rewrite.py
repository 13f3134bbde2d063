import json
from pathlib import Path

import pytest

from rag.phrases import words
from rag.rewrite import antecedent, needs_context, replace_wh, rewrite, substitute

CASES = [json.loads(line) for line in (Path(__file__).resolve().parents[2] / "rag" / "eval" / "multiturn.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
FOLLOW_UPS = [c for c in CASES if c["kind"] == "follow-up"]
STANDALONE = [c for c in CASES if c["kind"] == "standalone"]


def turn(question: str, answer: str = "...") -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


HISTORY = turn("What does the Kestrel 3 warranty cover?", "It covers the pump and the boiler [1].")


def test_no_history_or_standalone_question_means_no_rewrite():
    assert rewrite("How long is it?", []) == "How long is it?"
    assert rewrite("How long is the Kestrel 3 warranty?", HISTORY) == "How long is the Kestrel 3 warranty?"
    assert rewrite("And the pump?", [{"role": "assistant", "content": "Hello"}]) == "And the pump?", "no earlier user question"


def test_a_short_complete_question_stands_alone():
    # issue #16: "What was the docket number?" was searched with the previous question attached
    history = turn("What was the total number of background checks for Alaska?")
    assert rewrite("What was the docket number?", history) == "What was the docket number?"


def test_what_about_replaces_the_slot_instead_of_gluing():
    history = turn("What was the total number of background checks for Alaska?")
    out = rewrite("What about Arizona?", history)
    assert out == "What was the total number of background checks for Arizona?"
    assert "Alaska" not in out


def test_pronoun_becomes_the_previous_subject():
    assert rewrite("and how long does it last?", HISTORY) == "And how long does the Kestrel 3 warranty last?"


@pytest.mark.parametrize(
    ("question", "answer", "follow_up", "expected"),
    [
        ("What does the Kestrel 3 warranty cover?", "The pump and the boiler [1].", "How many years?", "How many years does the Kestrel 3 warranty cover?"),
        ("How do I descale the Kestrel boiler?", "With citric acid [1].", "How often?", "How often do I descale the Kestrel boiler?"),
        ("When are the core hours at Harbor Labs?", "10:00 to 15:00 [1].", "On which days?", "On which days are the core hours at Harbor Labs?"),
        ("Does the Kestrel warranty cover the glass carafe?", "No [1].", "And the pump?", "Does the Kestrel warranty cover the pump?"),
    ],
)
def test_fragments_and_ellipsis_take_the_previous_questions_frame(question, answer, follow_up, expected):
    assert rewrite(follow_up, turn(question, answer)) == expected


def test_chains_of_follow_ups_resolve_against_the_rewritten_question():
    history = turn("How many fatalities did the Lion Air accident cause?", "189 [1].") + turn("And the Ethiopian one?", "157 [1].")
    assert rewrite("Where did it take off from?", history) == "Where did the Ethiopian accident take off from?"


@pytest.mark.parametrize(
    "question",
    [
        "Is there a checklist for unreliable airspeed?",  # existential "there"
        "What is the name of the system that provides trim inputs?",  # relative "that"
        "How much does it cost to install the MDS software?",  # "it ... to": about the software
        "What does this paper propose?",  # the document itself
        "Does the paper use one BM25 negative per question?",  # a number
        "What is MCAS?",
        "Who wrote the paper?",
    ],
)
def test_questions_that_stand_alone(question):
    assert not needs_context(question)
    assert rewrite(question, HISTORY) == question


@pytest.mark.parametrize("question", ["And parental leave?", "What should I use for that?", "Why is the fourth one needed?", "What about BM25?", "How many years?", "Why?", "Which ones require a tax period?"])
def test_questions_that_need_context(question):
    assert needs_context(question)


def test_antecedent_agrees_in_number_and_never_picks_a_person_for_it():
    tokens = words("Which FAISS index type did the DPR authors use?")
    assert antecedent(tokens, "singular", words("How long did building it take?")) == ["the", "FAISS", "index", "type"]
    assert antecedent(tokens, "plural", words("Who are they?"), person=True) == ["the", "DPR", "authors"]


def test_substitute_prefers_the_same_preposition_then_the_same_shape():
    anchor = words("What is the top-20 accuracy of DPR on Natural Questions?")
    assert substitute(anchor, words("on TriviaQA")) == words("What is the top-20 accuracy of DPR on TriviaQA?")
    assert substitute(anchor, words("BM25")) == words("What is the top-20 accuracy of BM25 on Natural Questions?")


def test_replace_wh_keeps_the_rest_of_the_question():
    assert replace_wh(words("What batch size was DPR trained with?"), words("For how many epochs?")) == words("For how many epochs was DPR trained with?")
    assert replace_wh(words("Does it cover the pump?"), words("Why?")) == words("Why does it cover the pump?")


@pytest.mark.parametrize("case", FOLLOW_UPS, ids=[c["id"] for c in FOLLOW_UPS])
def test_written_follow_ups(case):
    """rag/eval/multiturn.jsonl: the words the rewrite must hold, and must not; bench/multiturn.py measures retrieval."""
    out = rewrite(case["question"], case["history"])
    lower = out.lower()
    assert out != case["question"]
    assert [w for w in case["expect"]["contains"] if w.lower() not in lower] == [], out
    assert [w for w in case["expect"]["excludes"] if w.lower() in lower] == [], out
    previous = [m["content"] for m in case["history"] if m["role"] == "user"][-1]
    assert previous.rstrip("?").lower() not in lower, "never the previous question glued on"


@pytest.mark.parametrize("case", STANDALONE, ids=[c["id"] for c in STANDALONE])
def test_written_standalone_questions_come_back_unchanged(case):
    assert rewrite(case["question"], case["history"]) == case["question"]


def test_the_case_file_is_what_the_docs_say():
    assert len(FOLLOW_UPS) >= 20 and len(STANDALONE) >= 10
    for c in CASES:
        assert c["kind"] in ("follow-up", "standalone") and c["split"] in ("dev", "held-out") and c["pages"] and c["history"][0]["role"] == "user"
