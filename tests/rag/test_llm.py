"""The real bundled Gemma 3 270M through llama.cpp."""

import pytest

from ingest.models import DEFAULT_LLM, resolve
from rag.generate import generate


def test_bundled_model_resolves_to_a_gguf_file():
    assert resolve(DEFAULT_LLM, "SOURCED_LLM").endswith(".gguf")


def test_bundled_model_is_driven_completion_style(gemma):
    assert gemma.chat is False, "the bundled model is a base model without a tuned chat template"


def test_streams_a_grounded_answer_and_stops_at_the_line_end(gemma):
    prompt = (
        "Source [1] (manual.pdf, page 3): The Model X blender has a 1200 watt motor.\n"
        "Question: How powerful is the motor?\nAnswer:"
    )
    pieces = list(generate(gemma, prompt, max_tokens=40))
    assert len(pieces) > 1, "tokens arrive one by one"
    text = "".join(pieces)
    assert "1200" in text and "\n" not in text


def test_token_limit_is_honoured(gemma):
    text = "".join(gemma.stream("Once upon a time, a dragon", max_tokens=5, stop=[]))
    assert 0 < gemma.count_tokens(text) <= 6


@pytest.mark.parametrize("text", ["<start_of_turn>user", "hello world"])
def test_count_tokens_treats_control_tokens_as_text(gemma, text):
    assert gemma.count_tokens(text) >= 2
