import pytest

from rag.rewrite import format_history, needs_context, rewrite

from ..fakes import ScriptedGenerator

HISTORY = [
    {"role": "user", "content": "What does the Kestrel 3 warranty cover?"},
    {"role": "assistant", "content": "It covers the pump and the boiler [1]."},
]


def test_no_history_or_standalone_question_means_no_rewrite():
    gen = ScriptedGenerator(default="SHOULD NOT BE USED")
    assert rewrite("How long is it?", [], gen) == "How long is it?"
    assert rewrite("How long is the Kestrel 3 warranty?", HISTORY, gen) == "How long is the Kestrel 3 warranty?"
    assert gen.prompts == []


def test_follow_up_is_rewritten_from_history():
    gen = ScriptedGenerator([("how long", "How long does the Kestrel 3 warranty last?")])
    assert rewrite("and how long does it last?", HISTORY, gen) == "How long does the Kestrel 3 warranty last?"
    assert "User: What does the Kestrel 3 warranty cover?" in gen.prompts[0]


@pytest.mark.parametrize("bad_rewrite", [" ", "word " * 300, "What does the warranty cover?", "How long does it last?"])
def test_unusable_rewrite_falls_back_to_joining_the_previous_question(bad_rewrite):
    # empty, runaway, dropping the question's words ("how long"), or still referring back
    out = rewrite("and how long does it last?", HISTORY, ScriptedGenerator(default=bad_rewrite))
    assert out == "and how long does it last? What does the Kestrel 3 warranty cover?"


def test_failing_or_missing_model_falls_back():
    class Broken(ScriptedGenerator):
        def stream(self, *a, **k):
            raise RuntimeError("model crashed")

    assert rewrite("and then?", HISTORY, Broken()).endswith("Kestrel 3 warranty cover?")
    assert rewrite("and then?", HISTORY, None).endswith("Kestrel 3 warranty cover?")


def test_which_questions_need_context():
    assert needs_context("And parental leave?") and needs_context("What should I use for that?")
    assert not needs_context("How many days of parental leave do employees get?")


def test_history_is_bounded():
    long = [{"role": "user", "content": "x " * 5000}] * 20
    text = format_history(long, budget_tokens=10_000)
    assert text.count("User:") == 4 and len(text) < 2000, "four turns, each cut short"


def test_history_drops_oldest_turns_to_fit_the_token_budget():
    turns = [{"role": "user", "content": f"turn {i} " + "word " * 60} for i in range(4)]
    text = format_history(turns, budget_tokens=150)
    assert "turn 3" in text and "turn 0" not in text
    assert len(text.split()) <= 150
