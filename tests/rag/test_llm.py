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


def _blender_prompt(generator):
    from ingest.types import Chunk
    from rag.generate import answer_prompt
    from rag.types import Hit

    texts = ["The Model X blender has a 1200 watt motor, which crushes ice in seconds. Its jug holds 1.5 litres.", "Clean the jug with warm water after each use. Never put the base in water."]
    hits = [Hit(Chunk(f"c{p}", "d", "manual.pdf", p, 0, len(t), t), 1.0) for p, t in enumerate(texts, start=3)]
    return answer_prompt("How powerful is the motor?", hits, generator, 2048, 80)


def test_the_adapter_answers_with_one_of_its_sources_lines_verbatim(gemma_adapter):
    from rag.generate import NOT_IN_DOCUMENTS
    from rag.verbatim import choices_for

    prompt = _blender_prompt(gemma_adapter)
    choices = choices_for(prompt, NOT_IN_DOCUMENTS, threshold=1.01)  # never refuse
    text = "".join(generate(gemma_adapter, prompt, max_tokens=80, choices=choices)).strip()
    assert text in choices.lines and "1200" in text and text.endswith("[1].")
    assert 0.0 <= choices.decision.refusal_p <= 1.0 and not choices.decision.refused


def test_with_one_line_left_the_adapter_only_weighs_the_refusal(gemma_adapter):
    """The pipeline's case (one line kept: rag.evidence.best): the line is written as it
    is, after the refusal was weighed; a second prompt reuses the first's cached rule."""
    from rag.generate import NOT_IN_DOCUMENTS
    from rag.verbatim import choices_for

    prompt = _blender_prompt(gemma_adapter)
    kept = [(1, "The Model X blender has a 1200 watt motor, which crushes ice in seconds.")]
    for _ in range(2):
        choices = choices_for(prompt, NOT_IN_DOCUMENTS, 1.01, kept)
        assert "".join(generate(gemma_adapter, prompt, max_tokens=80, choices=choices)).strip() == "The Model X blender has a 1200 watt motor, which crushes ice in seconds [1]."
        assert 0.0 <= choices.decision.refusal_p <= 1.0 and not choices.decision.refused
    first_p = choices.decision.refusal_p
    other = prompt.replace("How powerful is the motor?", "How much does the jug hold?")
    choices = choices_for(other, NOT_IN_DOCUMENTS, 1.01, kept)
    "".join(generate(gemma_adapter, other, max_tokens=80, choices=choices))
    again = choices_for(prompt, NOT_IN_DOCUMENTS, 1.01, kept)
    "".join(generate(gemma_adapter, prompt, max_tokens=80, choices=again))
    assert abs(again.decision.refusal_p - first_p) < 0.01, "the cache reused across prompts gives the same probability (up to float rounding)"


def test_the_adapter_refuses_when_the_refusal_reaches_the_threshold(gemma_adapter):
    from rag.generate import NOT_IN_DOCUMENTS
    from rag.verbatim import choices_for

    prompt = _blender_prompt(gemma_adapter)
    choices = choices_for(prompt, NOT_IN_DOCUMENTS, threshold=0.0)  # always refuse
    assert "".join(generate(gemma_adapter, prompt, max_tokens=80, choices=choices)).strip() == NOT_IN_DOCUMENTS
    assert choices.decision.refused
    # the model's state is left clean: the same prompt, free, answers as before
    again = choices_for(prompt, NOT_IN_DOCUMENTS, threshold=1.01)
    assert "1200" in "".join(generate(gemma_adapter, prompt, max_tokens=80, choices=again))
