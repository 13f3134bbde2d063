from rag.rewrite import format_history, rewrite

from ..fakes import ScriptedGenerator

HISTORY = [
    {"role": "user", "content": "What does the Kestrel 3 warranty cover?"},
    {"role": "assistant", "content": "It covers the pump and the boiler [1]."},
]


def test_no_history_means_no_rewrite():
    gen = ScriptedGenerator(default="SHOULD NOT BE USED")
    assert rewrite("How long is it?", [], gen) == "How long is it?"
    assert gen.prompts == []


def test_follow_up_is_rewritten_from_history():
    gen = ScriptedGenerator([("how long", "How long does the Kestrel 3 warranty last?")])
    assert rewrite("and how long does it last?", HISTORY, gen) == "How long does the Kestrel 3 warranty last?"
    assert "User: What does the Kestrel 3 warranty cover?" in gen.prompts[0]


def test_empty_or_runaway_rewrite_falls_back():
    assert rewrite("and then?", HISTORY, ScriptedGenerator(default=" ")) == "and then?"
    assert rewrite("and then?", HISTORY, ScriptedGenerator(default="word " * 300)) == "and then?"


def test_failing_model_falls_back():
    class Broken(ScriptedGenerator):
        def stream(self, *a, **k):
            raise RuntimeError("model crashed")

    assert rewrite("and then?", HISTORY, Broken()) == "and then?"


def test_history_is_bounded():
    long = [{"role": "user", "content": "x " * 5000}] * 20
    text = format_history(long)
    assert text.count("User:") == 4 and len(text) < 2000
